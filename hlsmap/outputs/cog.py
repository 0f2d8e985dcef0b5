"""Cloud-optimized GeoTIFFs: deflate, internal tiles, overviews, colour table, atomic writes.

Written with GDAL's COG driver (through rasterio): class maps get overviews by *mode*
resampling (an average of class codes means nothing) and the embedded colour table of their
categories (:func:`hlsmap.outputs.pam.colour_table`); continuous layers get averaged overviews.
GDAL builds overviews down to one tile, so rasters no larger than one tile (``blocksize``) have
none.

:func:`write_cog` writes an array held in memory; :func:`cog_stream` writes a region window by
window (a tiled GeoTIFF on disk first, then GDAL's COG copy of it, which reads it block by
block), so its memory is bounded by the window, whatever the region's size. Both give the same
file for the same pixels.

Categorical layers (``categories=``: class maps, transitions, 0/1 flags) also get their names,
a colour table of the used entries and a raster attribute table with pixel counts in the PAM
sidecar GDAL reads with them (:mod:`hlsmap.outputs.pam`); ``units=`` records the band's unit
(GDAL's unit type: QGIS and ``gdalinfo`` show it; STAC ``raster:bands`` reads it back).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import NODATA
from hlsmap.errors import ConfigError, OutputError
from hlsmap.outputs import pam
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
    categories: Sequence[pam.Category] | None = None,
    units: str | None = None,
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
        categories: the values of a categorical layer (names, colours; a PAM sidecar).
        units: the unit of the values (``"%"``, ``"count"``...).
    """
    import rasterio

    a = _array(array)
    if a.ndim != 2:
        raise ConfigError(f"write_cog writes one 2-D layer; got shape {a.shape}")
    if tuple(a.shape) != tuple(geobox.shape):
        raise ConfigError(f"array shape {a.shape} does not match the GeoBox {tuple(geobox.shape)}")
    _check_blocksize(blocksize)
    profile = {
        **_profile("COG", geobox, a.dtype, nodata),
        **_cog_options(a.dtype, colormap_ is not None, blocksize, resampling),
    }
    try:
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(a.astype(profile["dtype"], copy=False), 1)
            _describe(dst, colormap_, tags, description, units)
    except rasterio.errors.RasterioIOError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
    _sidecar(path, categories, _counts(a) if categories else None)
    return Path(path)


def _counts(a: np.ndarray) -> np.ndarray:
    """Pixels per value of an integer block (256 bins: categorical layers are uint8)."""
    return np.bincount(np.asarray(a, np.uint8).ravel(), minlength=256).astype(np.int64)


def _sidecar(
    path: str | os.PathLike[str],
    categories: Sequence[pam.Category] | None,
    counts: np.ndarray | None,
) -> None:
    """Write the PAM sidecar of a categorical layer, or drop a stale one of an earlier run
    (GDAL would read its names and colours over the new file's)."""
    if categories:
        pam.write_pam(path, categories, counts)
    else:
        pam.pam_path(path).unlink(missing_ok=True)


def _check_blocksize(blocksize: int) -> None:
    if blocksize % 16 or blocksize < 128:
        raise ConfigError(f"blocksize {blocksize} must be a multiple of 16, at least 128")


def _dtype_name(dtype: Any) -> str:
    dtype = np.dtype(dtype)
    return "uint8" if dtype.kind == "b" else dtype.name


def _profile(driver: str, geobox: Any, dtype: Any, nodata: float | None) -> dict[str, Any]:
    """The rasterio profile of one layer on ``geobox`` (both writers)."""
    return {
        "driver": driver,
        "height": int(geobox.shape[0]),
        "width": int(geobox.shape[1]),
        "count": 1,
        "dtype": _dtype_name(dtype),
        "crs": geobox.crs.to_wkt(),
        "transform": geobox.affine,
        "nodata": nodata,
    }


def _describe(
    dst: Any,
    colormap_: dict[int, tuple[int, int, int, int]] | None,
    tags: dict[str, Any] | None,
    description: str | None,
    units: str | None = None,
) -> None:
    """Colour table, tags, band description and unit of an open dataset (both writers)."""
    if colormap_ is not None:
        dst.write_colormap(1, colormap_)
    if tags:
        dst.update_tags(**{k: str(v) for k, v in tags.items()})
    if description:
        dst.set_band_description(1, description)
    if units:
        dst.units = (units,)


def _cog_options(dtype: Any, paletted: bool, blocksize: int, resampling: str) -> dict[str, Any]:
    """Creation options of GDAL's COG driver (one place for both writers)."""
    integer = np.issubdtype(np.dtype(dtype), np.integer)  # bool: no predictor, as ever
    return {
        "compress": "DEFLATE",
        "predictor": "YES" if integer and not paletted else "NO",
        "blocksize": blocksize,
        "overview_resampling": resampling.upper(),
        "bigtiff": "IF_SAFER",
    }


STREAM_CACHE_MB = 64
"""GDAL's block cache while a layer streams (unless ``GDAL_CACHEMAX`` is set): by default GDAL
takes 5% of the RAM and the COG copy fills it in proportion to the raster."""


def _bounded_gdal_cache() -> contextlib.AbstractContextManager[Any]:
    import rasterio
    from rasterio.env import getenv, hasenv

    if os.environ.get("GDAL_CACHEMAX") or (hasenv() and "GDAL_CACHEMAX" in getenv()):
        return contextlib.nullcontext()  # the user's (or an outer stream's) setting
    return rasterio.Env(GDAL_CACHEMAX=STREAM_CACHE_MB)


class BlockWriter:
    """The writing end of :func:`cog_stream`: ``write(window, block)`` once per window."""

    def __init__(self, path: Path, dst: Any, count: bool = False) -> None:
        self.path = path
        self.dtype = np.dtype(dst.dtypes[0])
        self._dst = dst
        # pixels per value of a categorical layer, for its attribute table's count column
        self.counts: np.ndarray | None = np.zeros(256, np.int64) if count else None

    def write(self, window: tuple[int, int, int, int], block: np.ndarray) -> None:
        """Write ``block`` (``(height, width)``) at ``window`` = ``(row, col, height, width)``."""
        from rasterio.windows import Window

        r, c, h, w = window
        if block.shape != (h, w):
            raise ConfigError(f"block of shape {block.shape} for a {h} x {w} window")
        block = block.astype(self.dtype, copy=False)
        self._dst.write(block, 1, window=Window(c, r, w, h))
        if self.counts is not None:
            self.counts += _counts(block)


@contextlib.contextmanager
def cog_stream(
    path: str | os.PathLike[str],
    geobox: Any,
    dtype: Any,
    nodata: float | None = None,
    resampling: str = "average",
    colormap_: dict[int, tuple[int, int, int, int]] | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    blocksize: int = 512,
    categories: Sequence[pam.Category] | None = None,
    units: str | None = None,
) -> Iterator[BlockWriter]:
    """Write one layer as a COG window by window (atomically); arguments as :func:`write_cog`.

    Yields a :class:`BlockWriter`; write every window of the grid with it (windows of
    :func:`hlsmap.outputs.blocks.block_windows` at ``blocksize`` fill whole internal tiles, so
    each is compressed once). The layer goes to a tiled, compressed GeoTIFF staged beside the
    output; on leaving the block, GDAL's COG driver copies it (overviews included) block by
    block, and the COG is renamed into place. On an error nothing is left behind. GDAL's block
    cache is held to :data:`STREAM_CACHE_MB` meanwhile (reads in the block included), so
    GDAL's memory is bounded too.
    """
    import rasterio
    import rasterio.shutil

    _check_blocksize(blocksize)
    profile = {
        **_profile("GTiff", geobox, dtype, nodata),
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": "ZSTD",  # the staging copy: fast, read once
        "zstd_level": 1,
        "bigtiff": "IF_SAFER",
    }
    options = _cog_options(dtype, colormap_ is not None, blocksize, resampling)
    with atomic_path(path) as tmp, contextlib.ExitStack() as stack:
        stack.enter_context(_bounded_gdal_cache())
        stage = tmp.with_name(f"{tmp.stem}.stage.tif")
        stack.callback(stage.unlink, missing_ok=True)
        try:
            dst = stack.enter_context(rasterio.open(stage, "w", **profile))
            _describe(dst, colormap_, tags, description, units)
        except rasterio.errors.RasterioIOError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from exc
        writer = BlockWriter(Path(path), dst, count=bool(categories))
        yield writer
        try:
            dst.close()
            rasterio.shutil.copy(stage, tmp, driver="COG", **options)
        except rasterio.errors.RasterioIOError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from exc
    _sidecar(path, categories, writer.counts)


def class_cog_options(scheme: str = "v1", tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """The :func:`write_cog` / :func:`cog_stream` keywords of a class map of ``scheme``."""
    categories = pam.class_categories(scheme)  # raises on an unknown scheme
    return categorical_options(categories, NODATA, "land cover class",
                               {"class_scheme": scheme, **(tags or {})})  # fmt: skip


def categorical_options(
    categories: Sequence[pam.Category],
    nodata: int,
    description: str,
    tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The :func:`write_cog` / :func:`cog_stream` keywords of a categorical layer: its colour
    table (the used entries), names and attribute table, mode overviews."""
    return {
        "nodata": nodata,
        "resampling": "mode",
        "colormap_": pam.colour_table(categories),
        "tags": dict(tags or {}),
        "description": description,
        "categories": list(categories),
    }


def write_class_cog(
    path: str | os.PathLike[str],
    codes: Any,
    geobox: Any,
    scheme: str = "v1",
    tags: dict[str, Any] | None = None,
    blocksize: int = 512,
) -> Path:
    """Write a class map (uint8 codes, 0 no data) with its colour table and mode overviews."""
    options = class_cog_options(scheme, tags)
    a = _array(codes)
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ConfigError("class codes must fit in uint8 (0..255)")
        a = a.astype(np.uint8)
    return write_cog(path, a, geobox, blocksize=blocksize, **options)


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
