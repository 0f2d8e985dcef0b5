"""HLS v2.0 L30 (Landsat 8/9 OLI) and S30 (Sentinel-2 MSI), on Planetary Computer and NASA.

Both products are already harmonized: int16 reflectance at scale 0.0001 with fill -9999 and
an HLS v2.0 Fmask, so :meth:`~hlsmap.sensors.base.Sensor.harmonize` only normalizes fill
and dtype, and the Fmask passes through. The asset keys are the same on Planetary Computer
(``hls2-l30``/``hls2-s30``) and NASA LP DAAC CMR-STAC (``HLSL30_2.0``/``HLSS30_2.0``), and
they are the band names of NASA's file names (``HLS.S30.T13RCN.2024128T173909.v2.0.B05.tif``).

Input scaling: the stored int16 value *is* surface reflectance x 10,000 (HLS's scale factor
0.0001), which is the digital-number scale Sentinel-2 models such as Dynamic World take, so
HLS values feed them unchanged. (Sentinel-2 L2A from processing baseline 04.00 on is not
like that: its DNs carry +1000, which :mod:`hlsmap.sensors.sentinel2` removes.)

The band maps are explicit on purpose: S30's ``nir08`` is the narrow B8A, which carries no
``common_name`` on Planetary Computer, while broad B08 is tagged ``nir`` and is hlsmap's
``nir``; L30's ``nir08`` is B05 (tagged ``nir``). S30 also offers the red edge bands
B05/B06/B07 as ``rededge071``/``rededge075``/``rededge078`` (STAC 1.1 common names;
Planetary Computer tags them with none). L30 has no red edge and no broad NIR: asking it for
them is a :class:`~hlsmap.errors.ConfigError` (``harmonize``) or
:class:`~hlsmap.errors.MissingAssetError` (:func:`hlsmap.cube.load_cube`) naming the bands
L30 has.
"""

from __future__ import annotations

from typing import ClassVar

from hlsmap.sensors.base import BandSpec, QASpec, Sensor

_FMASK = QASpec(asset="Fmask", dtype="uint8", nodata=255, kind="fmask")


def _hls(asset: str) -> BandSpec:
    return BandSpec(asset=asset, dtype="int16", nodata=-9999, scale=0.0001, offset=0.0)


class HLSL30(Sensor):
    """HLS v2.0 L30: Landsat 8/9 OLI harmonized to 30 m on the Sentinel-2 MGRS grid."""

    name: ClassVar[str] = "L30"
    title: ClassVar[str] = "HLS v2.0 Landsat 8/9 OLI (L30)"
    collections: ClassVar[dict[str, str]] = {"pc": "hls2-l30", "nasa": "HLSL30_2.0"}
    bands: ClassVar[dict[str, BandSpec]] = {
        "coastal": _hls("B01"),
        "blue": _hls("B02"),
        "green": _hls("B03"),
        "red": _hls("B04"),
        "nir08": _hls("B05"),
        "swir16": _hls("B06"),
        "swir22": _hls("B07"),
    }
    qa: ClassVar[QASpec] = _FMASK
    resolution: ClassVar[float] = 30.0
    default_platform: ClassVar[str] = "Landsat"


class HLSS30(Sensor):
    """HLS v2.0 S30: Sentinel-2 MSI harmonized (bandpass, BRDF) to 30 m."""

    name: ClassVar[str] = "S30"
    title: ClassVar[str] = "HLS v2.0 Sentinel-2 MSI (S30)"
    collections: ClassVar[dict[str, str]] = {"pc": "hls2-s30", "nasa": "HLSS30_2.0"}
    bands: ClassVar[dict[str, BandSpec]] = {
        "coastal": _hls("B01"),
        "blue": _hls("B02"),
        "green": _hls("B03"),
        "red": _hls("B04"),
        "nir08": _hls("B8A"),  # narrow NIR, OLI-like: the harmonized set's NIR
        "swir16": _hls("B11"),
        "swir22": _hls("B12"),
        # MSI only (Dynamic World's inputs): red edge and the broad NIR B08
        "rededge071": _hls("B05"),
        "rededge075": _hls("B06"),
        "rededge078": _hls("B07"),
        "nir": _hls("B08"),
    }
    qa: ClassVar[QASpec] = _FMASK
    resolution: ClassVar[float] = 30.0
    default_platform: ClassVar[str] = "Sentinel-2"
