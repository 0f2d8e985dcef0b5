"""Cloud-optimized GeoTIFFs: deflate, internal tiles, overviews, colour table, atomic writes.

Written with GDAL's COG driver (through rasterio): class maps get overviews by *mode*
resampling (an average of class codes means nothing) and the embedded colour table of
:func:`hlsmap.classes.colormap`; continuous layers get averaged overviews. GDAL builds overviews
down to one tile, so rasters no larger than one tile (``blocksize``) have none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import NODATA, colormap
from hlsmap.errors import ConfigError, OutputError
from hlsmap.outputs.atomic import atomic_path


def _array(a: Any) -> np.ndarray:
    if hasattr(a, "compute") and not isinstance(a, np.ndarray):
        a = a.compute()
    if hasattr(a, "values") and not isinstance(a, np.ndarray):
        a = a.values
    return np.asarray(a)


def write_cog(
    path: str | os.PathLike[str],
    array: Any,
    geobox: Any,
    nodata: float | None = None,
    resampling: str = "average",
    colormap_: dict[int, tuple[int, int, int, int]] | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    blocksize: int = 512,
) -> Path:
    """Write one 2-D layer as a COG (atomically).

    Args:
        path: the ``.tif`` to write.
        array: ``(H, W)`` numpy/dask/xarray on ``geobox``.
        geobox: the odc-geo GeoBox of the array.
        nodata: the nodata value to record, or ``None``.
        resampling: overview resampling (``"average"``, ``"mode"``, ``"nearest"``...).
        colormap_: a GDAL colour table ``{value: (r, g, b, a)}`` (uint8 rasters only).
        tags: GDAL metadata tags to store.
        description: the band's description.
        blocksize: internal tile size (a multiple of 16, at least 128: GDAL's COG minimum).
    """
    import rasterio

    a = _array(array)
    if a.ndim != 2:
        raise ConfigError(f"write_cog writes one 2-D layer; got shape {a.shape}")
    if tuple(a.shape) != tuple(geobox.shape):
        raise ConfigError(f"array shape {a.shape} does not match the GeoBox {tuple(geobox.shape)}")
    if blocksize % 16 or blocksize < 128:
        raise ConfigError(f"blocksize {blocksize} must be a multiple of 16, at least 128")
    profile = {
        "driver": "COG",
        "height": a.shape[0],
        "width": a.shape[1],
        "count": 1,
        "dtype": a.dtype.name if a.dtype != bool else "uint8",
        "crs": geobox.crs.to_wkt(),
        "transform": geobox.affine,
        "nodata": nodata,
        "compress": "DEFLATE",
        "predictor": "YES" if np.issubdtype(a.dtype, np.integer) and colormap_ is None else "NO",
        "blocksize": blocksize,
        "overview_resampling": resampling.upper(),
        "bigtiff": "IF_SAFER",
    }
    try:
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(a.astype(profile["dtype"], copy=False), 1)
            if colormap_ is not None:
                dst.write_colormap(1, colormap_)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
            if description:
                dst.set_band_description(1, description)
    except rasterio.errors.RasterioIOError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
    return Path(path)


def write_class_cog(
    path: str | os.PathLike[str],
    codes: Any,
    geobox: Any,
    scheme: str = "v1",
    tags: dict[str, Any] | None = None,
    blocksize: int = 512,
) -> Path:
    """Write a class map (uint8 codes, 0 no data) with its colour table and mode overviews."""
    if scheme not in ("v1", "v2"):
        raise ConfigError(f"unknown class scheme {scheme!r}; use v1 or v2")
    a = _array(codes)
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ConfigError("class codes must fit in uint8 (0..255)")
        a = a.astype(np.uint8)
    return write_cog(
        path,
        a,
        geobox,
        nodata=NODATA,
        resampling="mode",
        colormap_=colormap(scheme),
        tags={"class_scheme": scheme, **(tags or {})},
        description="land cover class",
        blocksize=blocksize,
    )


def read_cog(path: str | os.PathLike[str]) -> tuple[np.ndarray, Any, dict[str, str]]:
    """Read band 1 of a GeoTIFF: ``(array, GeoBox, tags)``.

    Raises:
        CorruptRasterError: the file is missing, truncated or not a raster.
    """
    import rasterio
    from odc.geo.geobox import GeoBox

    from hlsmap.errors import CorruptRasterError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise CorruptRasterError(f"{path} has no CRS; write maps with hlsmap or GDAL")
            gb = GeoBox((src.height, src.width), src.transform, src.crs.to_wkt())
            return src.read(1), gb, dict(src.tags())
    except rasterio.errors.RasterioIOError as exc:
        raise CorruptRasterError(f"cannot read {path}: {exc}; check the path") from exc
