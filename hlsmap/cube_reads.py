"""Direct windowed reads of granules that lie on the output grid: :func:`hlsmap.cube.load_cube`'s
fast path.

HLS granules are on the 30 m UTM grid of their MGRS tile, and so are the grids hlsmap maps on
(MGRS tiles, region GeoBoxes snapped to 30 m): a granule's pixels then *paste* into the output
at a whole-pixel offset, and loading a layer is one windowed read per file. odc-stac pastes too,
but around each read it spends ~3 ms planning (item parsing, tile binning, the reprojection ROI,
GDAL environment set-up): on a 320 px tile, twice the read itself, and half of a region
run's time (``bench/bench_region.py``). This module does the paste case only, with odc-stac's
rules - the same grouping (solar day at the grid's central longitude, items sorted by time and
id), the same fusing (the first non-nodata pixel wins), the same dtype and nodata handling from
the adapter's ``stac_cfg`` - so both give identical cubes (``tests/test_cube_reads.py``). Anything
else (another CRS, another resolution, a sub-pixel shift, a lazy load) is not pasteable:
:func:`direct_load` returns ``None`` and odc-stac loads it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any

import numpy as np

from hlsmap.cube import read_failure
from hlsmap.errors import CorruptRasterError

if TYPE_CHECKING:
    import pystac
    import xarray as xr
    from odc.geo.geobox import GeoBox

# how far (pixels) a granule's origin may sit from a whole-pixel offset and still paste
_SNAP = 1e-3


class NotPasteable(Exception):
    """A file is not on the output grid (raised inside a direct load; the caller falls back)."""


def _nominal(item: pystac.Item) -> dt.datetime:
    """odc-stac's ``nominal_datetime``: ``datetime``, else ``start_datetime``/``end_datetime``."""
    if item.datetime is not None:
        return item.datetime
    for key in ("start_datetime", "end_datetime"):
        if item.properties.get(key):
            from pystac.utils import str_to_datetime

            return str_to_datetime(item.properties[key])
    raise ValueError(f"item {item.id} has no datetime")


def _solar_date(when: dt.datetime, lon: float) -> dt.date:
    """odc-stac's solar day: UTC shifted by whole hours of longitude (``int(lon / 15)``)."""
    return (when + dt.timedelta(seconds=int(lon / 15) * 3600)).date()


def group_items(
    items: Sequence[pystac.Item], geobox: GeoBox, groupby_: str
) -> list[list[pystac.Item]] | None:
    """Items fused per observation, in odc-stac's order; ``None`` for groupings it alone does."""
    if groupby_ not in ("solar_day", "time", "id"):
        return None
    ((lon, _),) = geobox.extent.centroid.to_crs("epsg:4326").points

    def key(pair: tuple[int, pystac.Item]) -> Any:
        idx, item = pair
        if groupby_ == "solar_day":
            return _solar_date(_nominal(item), lon)
        if groupby_ == "time":
            return _nominal(item)
        return idx

    ordered = sorted(enumerate(items), key=lambda p: (key(p), _nominal(p[1]), p[1].id))
    return [[item for _, item in g] for _, g in groupby(ordered, key=key)]


def _item_crs(item: pystac.Item, asset: str) -> str | None:
    """The CRS a STAC item declares for an asset (projection extension), if any."""
    for src in (item.assets[asset].extra_fields, item.properties):
        if src.get("proj:code"):
            return str(src["proj:code"]).upper()
        if src.get("proj:epsg"):
            return f"EPSG:{src['proj:epsg']}"
    return None


def paste_window(
    transform: Any, shape: tuple[int, int], geobox: GeoBox
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where a raster lands on the grid: ``(dst_roi, src_roi)``, or ``None`` when it does not
    overlap. Raises :class:`NotPasteable` unless it is on the grid (same pixel size, no
    rotation, origin a whole number of pixels away)."""
    g = geobox.transform
    if not (
        math.isclose(transform.a, g.a, rel_tol=1e-9)
        and math.isclose(transform.e, g.e, rel_tol=1e-9)
        and transform.b == 0 == g.b
        and transform.d == 0 == g.d
    ):
        raise NotPasteable("pixel size or rotation differs")
    fx = (transform.c - g.c) / g.a
    fy = (transform.f - g.f) / g.e
    dx, dy = round(fx), round(fy)
    if abs(fx - dx) > _SNAP or abs(fy - dy) > _SNAP:
        raise NotPasteable("sub-pixel offset")
    h, w = int(geobox.shape[0]), int(geobox.shape[1])
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(dy + shape[0], h), min(dx + shape[1], w)
    if y0 >= y1 or x0 >= x1:
        return None
    dst = (slice(y0, y1), slice(x0, x1))
    src = (slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx))
    return dst, src


class _Grid:
    """The output grid and the file CRSs already compared with it (one comparison per CRS)."""

    def __init__(self, geobox: GeoBox) -> None:
        self.geobox = geobox
        epsg = geobox.crs.epsg if geobox.crs is not None else None
        self.code = f"EPSG:{epsg}" if epsg is not None else None
        self._same: dict[str, bool] = {}

    def same_crs(self, crs: Any) -> bool:
        if crs is None:
            return False
        wkt = crs.to_wkt()
        if wkt not in self._same:
            from odc.geo import CRS

            self._same[wkt] = CRS(wkt) == self.geobox.crs
        return self._same[wkt]


def _read_layer(
    dst: np.ndarray,
    hrefs: Sequence[str],
    grid: _Grid,
    fill: Any,
) -> None:
    """Fuse the files of one observation's layer into ``dst`` (prefilled with ``fill``)."""
    import rasterio

    for href in hrefs:
        try:
            with rasterio.open(href, "r", sharing=False) as src:
                if not grid.same_crs(src.crs):
                    raise NotPasteable(f"{href} is in another CRS")
                where = paste_window(src.transform, (src.height, src.width), grid.geobox)
                if where is None:
                    continue
                (dy, dx), (sy, sx) = where
                pix = src.read(
                    1,
                    window=((sy.start, sy.stop), (sx.start, sx.stop)),
                    out_dtype=dst.dtype,
                )
                src_nodata = src.nodata
        except (rasterio.errors.RasterioError, AssertionError, OSError) as exc:
            # (from None: the chain quotes the href unredacted; read_failure keeps its causes)
            raise read_failure(str(exc), href, exc) from None
        if src_nodata is not None and not _same_nodata(src_nodata, fill):
            pix[_missing(pix, src_nodata)] = fill  # odc-stac remaps the file's nodata
        part = dst[dy, dx]
        np.copyto(part, pix, where=_missing(part, fill))  # the first valid pixel wins


def _missing(a: np.ndarray, nodata: Any) -> np.ndarray:
    """odc-loader's ``nodata_mask``: ``== nodata``, and NaN too for floats."""
    if a.dtype.kind == "f":
        return np.isnan(a) if math.isnan(nodata) else np.isnan(a) | (a == nodata)
    return np.asarray(a == nodata)


def _same_nodata(a: float, b: float) -> bool:
    if math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def direct_load(
    items: Sequence[pystac.Item],
    geobox: GeoBox,
    bands: Sequence[str],
    stac_cfg: dict[str, Any],
    *,
    groupby_: str = "solar_day",
    patch_url: Callable[[str], str] | None = None,
    gdal_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> xr.Dataset | None:
    """Load ``bands`` of one sensor's ``items`` onto ``geobox`` by pasting, as
    ``odc.stac.load(items, bands, geobox=geobox, groupby=groupby_, stac_cfg=stac_cfg,
    resampling="nearest", patch_url=patch_url)`` would; ``None`` when some item is not on
    the grid (declared or found on opening) or the configuration is one only odc-stac handles.

    Raises:
        CorruptRasterError, RemoteError: a file could not be opened or read (naming it).
    """
    import rasterio
    import xarray as xr
    from odc.geo.xr import xr_coords

    groups = group_items(items, geobox, groupby_)
    if groups is None:
        return None
    layers: dict[str, tuple[str, np.dtype[Any], Any]] = {}
    for band in bands:
        spec = _asset_spec(stac_cfg, items, band)
        if spec is None:
            return None
        layers[band] = spec
    grid = _Grid(geobox)
    for item in items:
        for asset, _, _ in layers.values():
            declared = _item_crs(item, asset)
            if declared is not None and grid.code is not None and declared != grid.code:
                return None  # another UTM zone: reprojection, odc-stac's job
    shape = (len(groups), int(geobox.shape[0]), int(geobox.shape[1]))
    data: dict[str, np.ndarray] = {}
    jobs = [(b, t) for b in bands for t in range(len(groups))]
    bar = _bar(len(jobs)) if progress else None
    try:
        with rasterio.Env(**{**(gdal_options or {}), "VSI_CACHE": False}):
            for band, (_, dtype, fill) in layers.items():
                data[band] = np.full(shape, fill, dtype)
            for band, t in jobs:
                asset, dtype, fill = layers[band]
                hrefs = [_absolute(item.assets[asset]) for item in groups[t]]
                if patch_url is not None:
                    hrefs = [patch_url(h) for h in hrefs]
                _read_layer(data[band][t], hrefs, grid, fill)
                if bar is not None:
                    bar.update(1)
    except NotPasteable:
        return None
    finally:
        if bar is not None:
            bar.close()
    times = np.array([_nominal(g[0]).replace(tzinfo=None) for g in groups], "datetime64[us]")
    coords = xr_coords(geobox, crs_coord_name="spatial_ref")
    ds = xr.Dataset(
        {
            band: (("time", "y", "x"), arr, {"nodata": layers[band][2]})
            for band, arr in data.items()
        },
        coords={**coords, "time": times},
    )
    return ds


def _absolute(asset: pystac.Asset) -> str:
    """The asset's href made absolute against its item's location, as odc-stac reads it
    (static catalogs link their COGs relatively)."""
    href = asset.get_absolute_href()
    if href is None:
        raise CorruptRasterError(
            f"cannot make {asset.href!r} absolute: its item has no location; give items with "
            "absolute hrefs or a self link"
        )
    return href


def _asset_spec(
    stac_cfg: dict[str, Any], items: Sequence[pystac.Item], band: str
) -> tuple[str, np.dtype[Any], Any] | None:
    """``(asset key, dtype, fill)`` of a band, the same for every item's collection."""
    specs = set()
    for cid in {item.collection_id or "" for item in items}:
        entry = stac_cfg.get(cid, stac_cfg.get("*"))
        if entry is None:
            return None
        asset = entry.get("aliases", {}).get(band, band)
        info = entry.get("assets", {}).get(asset)
        if info is None or info.get("data_type") is None or info.get("nodata") is None:
            return None  # odc-stac would take these from the items' raster metadata
        dtype = np.dtype(info["data_type"])
        specs.add((asset, dtype, dtype.type(info["nodata"])))
    if len(specs) != 1 or any(spec[0] not in item.assets for item in items for spec in specs):
        return None
    return specs.pop()


class ReadBar:
    """A rich progress bar of layers read, on stderr (rich is what every other bar uses; tqdm
    is not a dependency). ``update(n)`` / ``close()`` like tqdm's, and callable on an
    iterable, the hook odc-stac's ``load(progress=...)`` takes."""

    def __init__(self, total: int | None = None, description: str = "reading layers") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress(
            description, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True),
        )  # fmt: skip
        self._task = self._bar.add_task(description, total=total)
        self._started = False  # drawn from the first update: rich draws one live bar at a time

    def update(self, n: int = 1) -> None:
        """``n`` more layers read."""
        if not self._started:
            self._bar.start()
            self._started = True
        self._bar.advance(self._task, n)

    def close(self) -> None:
        """Stop drawing (the finished bar stays on screen)."""
        if self._started:
            self._bar.stop()
            self._started = False

    def __call__(self, work: Any) -> Any:
        """Iterate ``work`` (odc-stac's sized task iterable), advancing per task."""
        self._bar.update(self._task, total=len(work))
        self.update(0)
        try:
            for task in work:
                yield task
                self.update(1)
        finally:
            self.close()


def _bar(total: int) -> ReadBar:
    return ReadBar(total)


def concat_time(parts: Sequence[xr.Dataset]) -> xr.Dataset | None:
    """``xr.concat(parts, "time").sortby("time")`` for eager cubes on one grid, with one copy
    of the data; ``None`` when the parts differ in more than their times (the caller concats).

    Why: a time batch usually holds both sensors, and the xarray route copies every layer
    three times (alignment, concatenation, the sort's fancy indexing): 11% of a tile's reads.
    """
    import xarray as xr

    first = parts[0]
    names = list(first.data_vars)
    for p in parts:
        if list(p.data_vars) != names or any(
            p[n].dims != first[n].dims or p[n].dims[0] != "time" or p[n].dtype != first[n].dtype
            or not isinstance(p[n].data, np.ndarray)
            for n in names
        ):  # fmt: skip
            return None
        if set(p.coords) != set(first.coords):
            return None
        for k, c in p.coords.items():
            if "time" not in c.dims and not c.equals(first.coords[k]):
                return None
    times = np.concatenate([p["time"].values for p in parts])
    order = np.argsort(times, kind="stable")  # sortby's lexsort is stable too
    where = np.empty_like(order)
    where[order] = np.arange(len(order))  # the sorted position of each part's time steps
    bounds = np.cumsum([0] + [p.sizes["time"] for p in parts])
    data = {}
    for n in names:
        out = np.empty((len(times), *first[n].shape[1:]), first[n].dtype)
        for p, a, b in zip(parts, bounds[:-1], bounds[1:], strict=True):
            out[where[a:b]] = p[n].data
        data[n] = (first[n].dims, out, first[n].attrs)
    coords: dict[Hashable, Any] = {}
    for k, c in first.coords.items():
        if "time" in c.dims:
            values = np.concatenate([p.coords[k].values for p in parts])[order]
            coords[k] = (c.dims, values, c.attrs)
        else:
            coords[k] = c
    return xr.Dataset(data, coords=coords, attrs=first.attrs)
