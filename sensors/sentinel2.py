"""Sentinel-2 Level-2A (Sen2Cor) on Planetary Computer (``sentinel-2-l2a``).

Reflectance is stored as uint16 digital numbers, 0 = no data, reflectance = DN / 10000, except
that from processing baseline 04.00 (25 January 2022) ESA adds 1000 to every DN so that dark
surfaces can go negative: reflectance = (DN - 1000) / 10000 there (``BOA_ADD_OFFSET``). The
baseline is read per item from ``s2:processing_baseline`` (then the ``N0400``-style field of
``s2:product_uri``, then the acquisition date). QA comes from the scene classification (SCL),
translated to Fmask bits by :data:`hlsmap.sensors.qa.SCL_TO_FMASK`.

Input scaling: :meth:`Sentinel2L2A.harmonize` removes the +1000 from *every* reflectance band
(the visible, red edge, NIR and SWIR bands alike: ESA applies one offset to all), so its
output, like HLS, is surface reflectance x 10,000 - the DN scale Dynamic World takes. A
baseline 04.00+ DN fed to such a model unconverted would read 0.1 too bright.

Asset keys are Planetary Computer's: B02/B03/B04/B08 at 10 m, B05/B06/B07/B8A/B11/B12 at 20 m,
B01 at 60 m. :attr:`Sentinel2L2A.resolution` is 10 m; odc-stac resamples the coarser bands
onto the load grid (:func:`hlsmap.cube.load_cube`'s ``resampling``).

Not done here (HLS S30 does them): bandpass adjustment to Landsat OLI and BRDF (NBAR)
normalization, so S2L2A reflectance is Sen2Cor's surface reflectance, HLS-scaled.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np

from hlsmap.sensors.base import BandSpec, QASpec, Sensor, _item_id, to_hls_int16

#: ESA's BOA_ADD_OFFSET (in DN) for processing baseline >= 04.00.
BOA_ADD_OFFSET = -1000
#: The first processing baseline with the offset, and the day ESA switched to it.
OFFSET_BASELINE = (4, 0)
OFFSET_SINCE = datetime(2022, 1, 25, tzinfo=UTC)
_URI_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")


def _s2(asset: str) -> BandSpec:
    return BandSpec(asset=asset, dtype="uint16", nodata=0, scale=0.0001, offset=0.0)


def _parse_baseline(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\s*", text)
    return (int(match[1]), int(match[2])) if match else None


def boa_offset(item_properties: Mapping[str, Any]) -> int:
    """The DN offset to add for an item: -1000 from baseline 04.00 on, else 0.

    Args:
        item_properties: The STAC item's properties.

    Returns:
        :data:`BOA_ADD_OFFSET` or 0.

    Raises:
        hlsmap.errors.ConfigError: When neither the baseline nor the date can be found.
    """
    baseline = None
    value = item_properties.get("s2:processing_baseline")
    if value is not None:
        baseline = _parse_baseline(str(value))
    if baseline is None and (uri := item_properties.get("s2:product_uri")):
        if match := _URI_BASELINE.search(str(uri)):
            baseline = (int(match[1]), int(match[2]))
    if baseline is not None:
        return BOA_ADD_OFFSET if baseline >= OFFSET_BASELINE else 0
    when = item_properties.get("datetime")
    if when:
        stamp = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        warnings.warn(
            "Sentinel-2 item has no s2:processing_baseline; guessing the BOA offset from its "
            f"date ({when}). Pass the item's full properties to harmonize().",
            stacklevel=3,
        )
        return BOA_ADD_OFFSET if stamp >= OFFSET_SINCE else 0
    from hlsmap.errors import ConfigError

    raise ConfigError(
        "cannot tell the Sentinel-2 processing baseline: item properties lack "
        "s2:processing_baseline, s2:product_uri and datetime. Pass item.properties to "
        "harmonize()."
    )


class Sentinel2L2A(Sensor):
    """Sentinel-2 L2A (Sen2Cor) surface reflectance and SCL on Planetary Computer."""

    name: ClassVar[str] = "S2L2A"
    title: ClassVar[str] = "Sentinel-2 Level-2A (Sen2Cor)"
    collections: ClassVar[dict[str, str]] = {"pc": "sentinel-2-l2a"}
    bands: ClassVar[dict[str, BandSpec]] = {
        "coastal": _s2("B01"),
        "blue": _s2("B02"),
        "green": _s2("B03"),
        "red": _s2("B04"),
        "nir08": _s2("B8A"),  # narrow NIR at 20 m, the OLI-like band HLS uses; not B08
        "swir16": _s2("B11"),
        "swir22": _s2("B12"),
        # Dynamic World's extra inputs: red edge at 20 m and the broad NIR at 10 m
        "rededge071": _s2("B05"),
        "rededge075": _s2("B06"),
        "rededge078": _s2("B07"),
        "nir": _s2("B08"),
    }
    qa: ClassVar[QASpec] = QASpec(asset="SCL", dtype="uint8", nodata=0, kind="scl")
    resolution: ClassVar[float] = 10.0
    default_platform: ClassVar[str] = "Sentinel-2"

    def harmonize(self, band: str, raw: Any, item_properties: Mapping[str, Any]) -> np.ndarray:
        """DN -> HLS int16, removing the -1000 BOA offset for baseline >= 04.00.

        Args:
            band: Common band name.
            raw: uint16 DNs (0 = no data).
            item_properties: The item's properties (``s2:processing_baseline``).

        Returns:
            int16 reflectance * 10000 with -9999 fill.
        """
        spec = self._spec(band)
        return to_hls_int16(
            raw,
            nodata=spec.nodata,
            scale=spec.scale,
            offset=spec.offset,
            extra_offset=boa_offset(item_properties),
        )

    def platform(self, item: Any) -> str:
        """``"Sentinel-2A"`` etc. from the ``platform`` property or the ``S2A_...`` item id."""
        found = super().platform(item)
        if found == self.default_platform:
            if match := re.match(r"S2([A-D])_", _item_id(item)):
                return f"Sentinel-2{match[1]}"
        return found
