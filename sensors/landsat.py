"""Landsat Collection 2 Level-2 surface reflectance on Planetary Computer (``landsat-c2-l2``).

Reflectance is stored as uint16 with 0 = no data and reflectance = DN * 0.0000275 - 0.2
(USGS Collection 2 scaling), so HLS int16 = round(DN * 0.275 - 2000). QA comes from
``qa_pixel`` (bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 shadow, 5 snow, 7 water),
translated by :func:`hlsmap.sensors.qa.qa_pixel_to_fmask`.

Not done here (HLS L30 does it): BRDF (NBAR) normalization and resampling onto the MGRS grid.
Landsat 4-7 (TM/ETM+) items have no ``coastal`` asset.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from hlsmap.sensors.base import BandSpec, QASpec, Sensor, _item_id

_IDS = {
    "LC09": "Landsat 9",
    "LC08": "Landsat 8",
    "LE07": "Landsat 7",
    "LT05": "Landsat 5",
    "LT04": "Landsat 4",
}


def _c2(asset: str) -> BandSpec:
    return BandSpec(asset=asset, dtype="uint16", nodata=0, scale=0.0000275, offset=-0.2)


class LandsatC2L2(Sensor):
    """Landsat 4-9 Collection 2 Level-2 surface reflectance and QA_PIXEL."""

    name: ClassVar[str] = "LC2L2"
    title: ClassVar[str] = "Landsat Collection 2 Level-2"
    collections: ClassVar[dict[str, str]] = {"pc": "landsat-c2-l2"}
    bands: ClassVar[dict[str, BandSpec]] = {
        "coastal": _c2("coastal"),
        "blue": _c2("blue"),
        "green": _c2("green"),
        "red": _c2("red"),
        "nir08": _c2("nir08"),
        "swir16": _c2("swir16"),
        "swir22": _c2("swir22"),
    }
    # QA_PIXEL's own fill is bit 0; odc-stac fills pixels outside the footprint with 1 too.
    qa: ClassVar[QASpec] = QASpec(asset="qa_pixel", dtype="uint16", nodata=1, kind="qa_pixel")
    resolution: ClassVar[float] = 30.0
    default_platform: ClassVar[str] = "Landsat"

    def platform(self, item: Any) -> str:
        """``"Landsat 8"`` etc. from the ``platform`` property or the ``LC08_...`` item id."""
        found = super().platform(item)
        if found == self.default_platform:
            if match := re.match(r"(L[CET]0\d)_", _item_id(item)):
                return _IDS.get(match[1], found)
        return found
