"""COG writing, shaped like NASA's HLS v2.0 files: one COG per band, int16 reflectance with
scale 0.0001 and fill -9999, uint8 Fmask with fill 255, 256 px tiles, deflate, HLS-style tags.

Writes are atomic (temporary file in the same folder, then ``os.replace``) and deterministic: no
tag carries the wall-clock time, so two runs with one seed write identical bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

from hlsmap.classes import colormap
from hlsmap.sensors.hls import HLSL30, HLSS30
from hlsmap.simulate.spectra import BAND_NAMES, MSI_BAND_NAMES

FMASK_DESCRIPTION = (
    "Bits are listed from the MSB (bit 7) to the LSB (bit 0): \n"
    "7-6    aerosol:\n       00 - climatology\n       01 - low\n       10 - average\n"
    "       11 - high\n5      water\n4      snow/ice\n3      cloud shadow\n"
    "2      adjacent to cloud\n1      cloud\n0      cirrus cloud\n"
)

# Asset key per harmonised band (the HLS v2.0 file band names), from the sensor adapters that
# read them back, so the world and the readers share one band map (S30 nir08 is B8A, nir B08).
ASSET_KEYS: dict[str, dict[str, str]] = {
    sensor.name: {band: spec.asset for band, spec in sensor.bands.items()}
    for sensor in (HLSL30, HLSS30)
}
# The band long names of NASA's HLS v2.0 files.
LONG_NAMES = {
    "coastal": "Coastal_Aerosol",
    "blue": "Blue",
    "green": "Green",
    "red": "Red",
    "nir08": "NIR_Narrow",
    "swir16": "SWIR1",
    "swir22": "SWIR2",
    "rededge071": "Red_Edge1",
    "rededge075": "Red_Edge2",
    "rededge078": "Red_Edge3",
    "nir": "NIR_Broad",
}


def granule_bands(sensor: str, *, coastal: bool, red_edge: bool) -> tuple[str, ...]:
    """The harmonised bands a world writes into a ``sensor`` granule, in file order.

    Args:
        sensor: ``"L30"`` or ``"S30"``.
        coastal: the world writes B01.
        red_edge: the world writes S30's B05, B06, B07 and B08.
    """
    names: tuple[str, ...] = BAND_NAMES if coastal else BAND_NAMES[1:]
    if red_edge and sensor == "S30":
        names = names + MSI_BAND_NAMES
    return names


def _profile(
    shape: tuple[int, int],
    transform: Affine,
    crs: str,
    dtype: str,
    nodata: float,
    compress: str,
) -> dict[str, Any]:
    h, w = shape
    return {
        "driver": "COG",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "blocksize": 256,
        "compress": compress.upper(),
        # Level 1: noise-limited data compresses no better at higher levels, only slower.
        "level": 1 if compress.upper() == "DEFLATE" else None,
        # Like HLS: nearest-neighbour overviews; small granules (<= 512 px) need none.
        "overview_resampling": "NEAREST",
        "overviews": "AUTO" if max(h, w) > 512 else "NONE",
    }


def write_cog(
    path: Path,
    array: np.ndarray,
    transform: Affine,
    crs: str,
    nodata: float,
    compress: str = "DEFLATE",
    tags: dict[str, str] | None = None,
    band_tags: dict[str, str] | None = None,
    scale: float | None = None,
    palette: bool = False,
) -> None:
    """Write one single-band COG atomically.

    Args:
        path: the destination file.
        array: (y, x) data.
        transform: the affine transform.
        crs: ``"EPSG:xxxx"``.
        nodata: the fill value.
        compress: ``"DEFLATE"``, ``"ZSTD"`` or ``"LZW"``.
        tags: dataset tags.
        band_tags: tags of band 1.
        scale: the band's scale factor (written as GDAL scale metadata).
        palette: embed the land-cover colour table (class maps).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    profile = _profile(array.shape, transform, crs, str(array.dtype), nodata, compress)
    profile = {k: v for k, v in profile.items() if v is not None}
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            if scale is not None:
                dst.scales = (scale,)
                dst.offsets = (0.0,)
            if tags:
                dst.update_tags(**tags)
            if band_tags:
                dst.update_tags(1, **band_tags)
            if palette:
                dst.write_colormap(1, colormap("v1"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_granule(
    folder: Path,
    granule_id: str,
    sensor: str,
    bands: dict[str, np.ndarray],
    fmask: np.ndarray,
    transform: Affine,
    crs: str,
    tags: dict[str, str],
    compress: str = "DEFLATE",
) -> dict[str, str]:
    """Write one HLS granule (a COG per band + Fmask) into ``folder``.

    Args:
        folder: ``granules/<granule id>``.
        granule_id: ``HLS.S30.T32TMR.2024003T101021.v2.0``.
        sensor: ``"L30"`` or ``"S30"`` (decides the band file names).
        bands: harmonised band name -> int16 (y, x) reflectance * 10000.
        fmask: uint8 (y, x).
        transform, crs: the granule's grid.
        tags: dataset tags written into every file.
        compress: the COG compression.

    Returns:
        Asset key -> file name (relative to ``folder``).
    """
    files: dict[str, str] = {}
    for name, data in bands.items():
        key = ASSET_KEYS[sensor][name]
        fname = f"{granule_id}.{key}.tif"
        write_cog(
            folder / fname,
            data,
            transform,
            crs,
            -9999,
            compress,
            tags,
            band_tags={
                "long_name": LONG_NAMES[name],
                "scale_factor": "0.0001",
                "add_offset": "0.0",
                "_FillValue": "-9999",
            },
            scale=0.0001,
        )
        files[key] = fname
    fname = f"{granule_id}.Fmask.tif"
    write_cog(
        folder / fname,
        fmask,
        transform,
        crs,
        255,
        compress,
        {**tags, "Fmask description": FMASK_DESCRIPTION},
        band_tags={"long_name": "Fmask", "_FillValue": "255"},
    )
    files["Fmask"] = fname
    return files


def read_cog(path: Path) -> np.ndarray:
    """Band 1 of a raster as a numpy array."""
    with rasterio.open(path) as src:
        return np.asarray(src.read(1))
