"""Items -> one aligned, masked, multi-sensor ``(time, y, x)`` cube, through odc-stac.

Each sensor's items are read with the ``stac_cfg`` its adapter produces (explicit dtype and
nodata per asset, so L30 and S30 fuse correctly whatever the granules' tags say), onto ONE GeoBox,
with same-sensor same-solar-day granules (MGRS tile overlaps) fused. The raw values are then
harmonized by the adapter (HLS int16 reflectance, -9999 fill; HLS Fmask bits, 255 fill) and the
sensors are interleaved by time with ``sensor`` and ``platform`` coordinates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hlsmap.errors import (
    ConfigError,
    CorruptRasterError,
    EmptySearchError,
    HlsmapError,
    InvalidRegionError,
    MissingAssetError,
    RemoteError,
)
from hlsmap.redact import redact

log = logging.getLogger("hlsmap.cube")

if TYPE_CHECKING:
    import pystac
    import xarray as xr
    from odc.geo.geobox import GeoBox

    from hlsmap.region import Region
    from hlsmap.sensors import SensorAdapter

FMASK = "fmask"
FMASK_FILL = 255
REFLECTANCE_FILL = -9999
_NOT_CLEAR_BITS = 0b0000_1110  # bits 1-3: cloud, adjacent to cloud/shadow, cloud shadow


def any_band_fill(bands: np.ndarray, fill: int = REFLECTANCE_FILL) -> np.ndarray:
    """``(..., C)`` integer bands -> bool ``(...)``: pixels where any band is ``fill``.

    Band by band: 4x faster than ``np.any(bands == fill, axis=-1)`` over the short band axis
    (it runs on every observation of every tile)."""
    out = np.zeros(bands.shape[:-1], bool)
    for c in range(bands.shape[-1]):
        out |= bands[..., c] == fill
    return out


_REMOTE_PREFIXES = ("http://", "https://", "/vsicurl", "s3://", "/vsis3", "gs://", "/vsigs",
                    "az://", "/vsiaz")  # fmt: skip
_URLISH = re.compile(r"\S*://\S*|/vsi\w+/\S*")
_HTTP_STATUS = re.compile(r"(?i)http (?:response |error )?code:? ?(\d{3})|\b(\d{3})\b")


def _causes(exc: BaseException | None) -> str:
    """The distinct messages of ``exc`` and its causes, innermost last, without rasterio's
    "See previous exception" filler (the real cause is in the chain)."""
    seen: list[str] = []
    while exc is not None and len(seen) < 8:
        text = str(exc).strip() or type(exc).__name__
        if "see previous exception" not in text.lower() and text not in seen:
            seen.append(text)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "; ".join(seen)


def read_failure(msg: str, where: str = "", exc: BaseException | None = None) -> Exception:
    """The hlsmap error for a failed GDAL open/read of the file ``where``, naming it and the
    real cause (``exc``'s chain when given, else ``msg``); every URL in it redacted.

    :class:`RemoteError` when the file is remote and the failure is HTTP's (a status, a dropped
    connection), else :class:`CorruptRasterError`: a truncated or garbage file is corrupt
    wherever it lives, and a local file is never a server's problem.
    """
    cause = _causes(exc) if exc is not None else msg
    cause = cause or msg or "unknown error"
    remote = where.startswith(_REMOTE_PREFIXES)
    bare = _URLISH.sub("", cause).lower()  # decide on the message, not on the paths it quotes
    place = f" {redact(where)}" if where else ""
    if remote and ("http" in bare or "curl" in bare):
        codes = {int(a or b) for a, b in _HTTP_STATUS.findall(bare) if 400 <= int(a or b) < 600}
        if codes & {401, 403}:
            hint = "you are not authorized: check Planetary Computer signing / Earthdata login"
        elif 404 in codes:
            hint = "the file is not there: the catalog points at a missing granule"
        else:
            hint = "the server kept failing or dropped the connection: try again later"
        return RemoteError(f"reading{place} failed after retries: {redact(cause)}; {hint}")
    return CorruptRasterError(
        f"{place.strip() or 'an asset'} could not be read, it is truncated or corrupt: "
        f"{redact(cause)}. Re-download it or drop its item from the search"
    )


def _default_bands() -> tuple[str, ...]:
    from hlsmap.sensors import BANDS

    return tuple(BANDS)


def solar_day(item: pystac.Item) -> dt.date:
    """The local solar day of an item (UTC time shifted by the longitude of its centre).

    Granules of one overpass in neighbouring MGRS tiles share it even when the UTC date changes
    mid-swath. odc-stac's ``groupby="solar_day"`` (and :mod:`hlsmap.cube_reads`) shift by the
    *load grid's* central longitude in whole hours instead; the two agree for daytime HLS
    overpasses, which are hours away from local midnight.
    """
    t = item.datetime
    if t is None:
        raise MissingAssetError(f"item {item.id} has no datetime; STAC items need one")
    lon = 0.0
    if item.bbox:
        lon = (item.bbox[0] + item.bbox[2]) / 2
    return (t + dt.timedelta(hours=lon / 15.0)).date()


def geobox_for_items(items: Sequence[pystac.Item], resolution: float = 30.0) -> GeoBox:
    """A GeoBox covering ``items`` in their most common CRS, on the 30 m HLS grid."""
    from odc.geo.geobox import GeoBox
    from odc.geo.geom import Geometry, unary_union

    codes = Counter(_item_crs(i) for i in items)
    crs = codes.most_common(1)[0][0] or "EPSG:4326"
    footprint = unary_union([Geometry(i.geometry, "EPSG:4326").to_crs(crs) for i in items])
    if footprint is None:
        raise InvalidRegionError("the items carry no geometry; pass a region or a GeoBox")
    return GeoBox.from_bbox(footprint.boundingbox, crs, resolution=resolution)


def _item_crs(item: pystac.Item) -> str | None:
    p = item.properties
    if "proj:code" in p and p["proj:code"]:
        return str(p["proj:code"])
    if p.get("proj:epsg"):
        return f"EPSG:{p['proj:epsg']}"
    return None


def _check_assets(
    items: Sequence[pystac.Item], adapter: SensorAdapter, bands: Sequence[str], fmask: bool = True
) -> None:
    needed = {b: adapter.bands[b].asset for b in bands if b in adapter.bands}
    missing_bands = [b for b in bands if b not in adapter.bands]
    if missing_bands:
        raise MissingAssetError(
            f"sensor {adapter.name} has no band {', '.join(missing_bands)}; it offers "
            f"{', '.join(adapter.bands)}; ask only for bands every sensor in the search has"
        )
    if fmask:
        needed[FMASK] = adapter.qa.asset
    for item in items:
        absent = [f"{a} ({b})" for b, a in needed.items() if a not in item.assets]
        if absent:
            raise MissingAssetError(
                f"item {item.id} of {item.collection_id} lacks asset {', '.join(absent)} that "
                f"the {adapter.name} adapter reads; the item is incomplete: drop it from the "
                "search or fix the catalog"
            )


class _FailedReads(logging.Handler):
    """Collects the hrefs odc-loader reports as failed (its exceptions do not name them)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.hrefs: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Failed to load "):
            href = msg.removeprefix("Failed to load ").split(" due to")[0]
            self.hrefs.append(re.sub(r":\d+$", "", href))  # (odc-loader appends ":<band>")


@contextlib.contextmanager
def read_errors() -> Iterator[None]:
    """Translate GDAL/rasterio read failures into hlsmap errors that name the file.

    Wrap any computation of a lazy cube (``cube.load()``, ``.compute()``) with it.
    """
    from rasterio.errors import RasterioError

    failed = _FailedReads()
    logger = logging.getLogger("odc.loader")
    logger.addHandler(failed)
    try:
        yield
    except HlsmapError:
        raise
    except (RasterioError, AssertionError, OSError) as exc:
        # (odc-loader can fail on a truncated file with a bare AssertionError: name the file)
        raise read_failure(str(exc), failed.hrefs[-1] if failed.hrefs else "", exc) from None
    finally:
        logger.removeHandler(failed)


def _resampling(resampling: str, geobox: GeoBox, adapter: Any) -> str:
    """``resampling``, with ``"auto"`` resolved for one sensor: bilinear onto finer pixels."""
    if resampling != "auto":
        return resampling
    finer = abs(float(geobox.resolution.x)) < float(adapter.resolution) * (1 - 1e-6)
    return "bilinear" if finer else "nearest"


def load_cube(
    items: Sequence[pystac.Item],
    *,
    geobox: GeoBox | None = None,
    region: Region | None = None,
    resolution: float = 30.0,
    crs: str | int | None = None,
    bands: Sequence[str] | None = None,
    chunks: dict[str, int] | None = None,
    groupby: str = "solar_day",
    patch_url: Callable[[str], str] | None = None,
    gdal_options: dict[str, Any] | None = None,
    progress: bool = False,
    fmask: bool = True,
    reader: str = "auto",
    resampling: str = "auto",
) -> xr.Dataset:
    """Load items of any registered sensors into one aligned HLS cube.

    Args:
        items: STAC items (from :func:`hlsmap.search.search`); their collection ids pick the
            sensor adapters.
        geobox: the output grid; otherwise ``region``'s grid at ``resolution`` / ``crs``, or
            the items' footprint in their most common CRS.
        region: the area to load (see :class:`hlsmap.region.Region`).
        resolution: pixel size in metres when the grid is derived (30, HLS's native).
        crs: the CRS when the grid is derived from ``region``.
        bands: harmonized band names (default ``blue green red nir08 swir16 swir22``).
        chunks: dask chunks such as ``{"x": 512, "y": 512}`` for a lazy cube; ``None`` reads
            now.
        groupby: how granules are fused into one observation (odc-stac's ``groupby``).
        patch_url: rewrites each href before reading (Planetary Computer hrefs are signed
            automatically, per read, so long runs outlive their tokens).
        gdal_options: extra GDAL settings (e.g. :func:`hlsmap.access.earthdata_gdal_env` for
            a NASA mirror under another host name).
        progress: show a progress bar while reading (eager loads).
        fmask: also load the ``fmask`` layer (``False``: the bands only, for a caller that
            read the Fmask already; ``bands=()`` loads the Fmask alone).
        reader: ``"auto"`` (eager loads of granules on the grid are pasted by
            :mod:`hlsmap.cube_reads`, 2.3x faster; everything else goes through odc-stac),
            ``"odc"`` (always odc-stac) or ``"direct"`` (pasting only: an error when the
            granules are not on the grid).
        resampling: how reflectance is resampled onto a grid unlike the granules' (GDAL's
            names: ``"nearest"``, ``"bilinear"``, ``"cubic"``, ...). ``"auto"`` (default):
            ``"bilinear"`` onto a grid finer than the sensor's native pixels (a 10 m grid from
            HLS's 30 m, as Dynamic World was trained), ``"nearest"`` otherwise. The Fmask is
            always read by nearest neighbour: its bits are flags, not quantities. Granules
            already on the grid are pasted whatever it says (odc-stac does the same), so it
            changes only reprojected reads, which never take the direct path.

    Returns:
        A Dataset with dims ``(time, y, x)``: int16 bands (fill -9999), ``fmask`` (uint8,
        HLS v2.0 bits, 255 fill), coordinates ``time``, ``sensor``, ``platform`` and the
        GeoBox's ``spatial_ref``.
    """
    import odc.stac
    import xarray as xr
    from rasterio.enums import Resampling

    from hlsmap.access import default_patch_url, gdal_env
    from hlsmap.cube_reads import concat_time, direct_load
    from hlsmap.item_checks import check_projections
    from hlsmap.redact import install_log_redaction
    from hlsmap.sensors import sensor_for_collection

    install_log_redaction()  # odc-loader and GDAL log the hrefs they fail on, signed

    items = list(items)
    if not items:
        raise EmptySearchError("no items to load; the search found nothing, widen it")
    bands = tuple(bands) if bands is not None else _default_bands()
    if reader not in ("auto", "odc", "direct"):
        raise ConfigError(f"reader {reader!r} unknown; use auto, odc or direct")
    if reader == "direct" and chunks is not None:
        raise ConfigError("reader='direct' reads eagerly; pass chunks=None or reader='auto'")
    if not bands and not fmask:
        raise ConfigError("load_cube with bands=() and fmask=False would load nothing")
    if resampling != "auto" and resampling not in (known := Resampling.__members__):
        raise ConfigError(  # GDAL's names, as odc-stac's
            f"resampling {resampling!r} unknown; use auto or one of {', '.join(known)}"
        )
    if geobox is None:
        geobox = (
            region.geobox(resolution=resolution, crs=crs)
            if region is not None
            else geobox_for_items(items, resolution)
        )
    items = _overlapping(items, geobox)
    check_projections(items)  # a wrong proj:epsg would be read nowhere, silently
    hrefs = [a.href for i in items for a in i.assets.values()]
    if patch_url is None:
        patch_url = default_patch_url(hrefs)
    odc_env = gdal_env(hrefs, **(gdal_options or {}))
    odc.stac.configure_rio(**odc_env)

    groups: dict[str, list[pystac.Item]] = defaultdict(list)
    adapters: dict[str, SensorAdapter] = {}
    for item in items:
        adapter = sensor_for_collection(item.collection_id or "")
        adapters[adapter.name] = adapter
        groups[adapter.name].append(item)

    parts = []
    for name, group in groups.items():
        adapter = adapters[name]
        _check_assets(group, adapter, bands, fmask)
        layers = [*bands, FMASK] if fmask else list(bands)
        raw = None
        if reader != "odc" and chunks is None:
            raw = direct_load(
                group,
                geobox,
                layers,
                adapter.odc_stac_config(),
                groupby_=groupby,
                patch_url=patch_url,
                gdal_options=odc_env,
                progress=progress,
            )
            if raw is None and reader == "direct":
                raise ConfigError(
                    f"the {name} granules are not on the output grid (CRS, 30 m pixels, "
                    "whole-pixel offset); use reader='auto' to reproject them with odc-stac"
                )
        if raw is not None:
            parts.append(_harmonize(raw, group, adapter, bands, groupby))
            continue
        with read_errors():
            raw = odc.stac.load(
                group,
                bands=layers,
                geobox=geobox,
                chunks=dict(chunks) if chunks is not None else None,  # type: ignore[arg-type]
                groupby=groupby,
                stac_cfg=adapter.odc_stac_config(),
                patch_url=patch_url,
                # per layer, by requested name: the reflectance, and the QA always nearest
                resampling={"*": _resampling(resampling, geobox, adapter), FMASK: "nearest"},
                fail_on_error=True,
                progress=_progress() if progress and chunks is None else None,
            )
        parts.append(_harmonize(raw, group, adapter, bands, groupby))
    cube = concat_time(parts) if len(parts) > 1 else parts[0]
    if cube is None:  # lazy parts
        cube = xr.concat(parts, dim="time")
    if not cube.indexes["time"].is_monotonic_increasing:
        cube = cube.sortby("time")  # (a stable sort: a copy of every layer, so only if needed)
    cube.attrs.update({"title": "hlsmap HLS cube", "reflectance_scale": 0.0001})
    return cube


def _progress() -> Any:
    from hlsmap.cube_reads import ReadBar

    return ReadBar()


def _overlapping(items: list[pystac.Item], geobox: GeoBox) -> list[pystac.Item]:
    from odc.geo.geom import Geometry

    extent = geobox.extent.to_crs("EPSG:4326")
    keep = [
        i
        for i in items
        if i.geometry is None or Geometry(i.geometry, "EPSG:4326").intersects(extent)
    ]
    if keep and len(keep) < len(items):
        gone = [i.id for i in items if i not in keep]
        log.warning(
            "%d of %d items do not overlap the area loaded and are not read: %s",
            len(gone), len(items), ", ".join(gone[:5]) + (" ..." if len(gone) > 5 else ""),
        )  # fmt: skip
    if not keep:
        w, s, e, n = extent.boundingbox
        raise InvalidRegionError(
            f"none of the {len(items)} items overlaps the requested area "
            f"({w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}); check the bbox (west south east north, "
            "degrees) or search that area"
        )
    return keep


def _harmonize(
    raw: xr.Dataset,
    group: list[pystac.Item],
    adapter: SensorAdapter,
    bands: Sequence[str],
    groupby: str,
) -> xr.Dataset:
    """Apply the adapter's conversions slice by slice (some depend on item properties)."""
    import xarray as xr

    # The first item of each fused group, in odc-stac's (time-sorted) order.
    firsts: list[pystac.Item] = []
    if groupby == "solar_day":
        seen: dict[dt.date, pystac.Item] = {}
        for item in sorted(group, key=lambda i: (i.datetime, i.id)):
            seen.setdefault(solar_day(item), item)
        firsts = list(seen.values())
    if len(firsts) != raw.sizes["time"]:
        firsts = [sorted(group, key=lambda i: (i.datetime, i.id))[0]] * raw.sizes["time"]
    stack = _stack_fn(raw)
    out = {}
    for band in bands:
        da = raw[band]
        slices = [
            adapter.harmonize(band, da.data[t], firsts[t].properties)
            for t in range(da.sizes["time"])
        ]
        out[band] = (da.dims, stack(slices))
    if FMASK in raw.data_vars:
        qa = raw[FMASK]
        out[FMASK] = (qa.dims, adapter.to_fmask(qa.data).astype(np.uint8))
    ds = xr.Dataset(out, coords=raw.coords, attrs=raw.attrs)
    for band in bands:
        # (not CF's scale_factor: readers would decode the int16 to float on the way back)
        ds[band].attrs.update({"nodata": REFLECTANCE_FILL, "reflectance_scale": 0.0001})
    if FMASK in ds.data_vars:
        ds[FMASK].attrs.update({"nodata": FMASK_FILL, "flag_meanings": "HLS v2.0 Fmask bits"})
    n = ds.sizes["time"]
    ds = ds.assign_coords(
        sensor=("time", np.array([adapter.name] * n, dtype=object)),
        platform=("time", np.array([adapter.platform(i) for i in firsts], dtype=object)),
    )
    return ds


def _stack_fn(raw: xr.Dataset) -> Callable[[list[Any]], Any]:
    first = next(iter(raw.data_vars.values())).data
    if hasattr(first, "dask"):
        import dask.array as da

        return lambda xs: da.stack(xs, axis=0)
    return lambda xs: np.stack([np.asarray(x) for x in xs], axis=0)


def clear_mask(cube: xr.Dataset, bands: Sequence[str] | None = None) -> xr.DataArray:
    """Clear-observation pixels: Fmask not fill and bits 1-3 (cloud, adjacent, shadow) unset,
    no band at fill, and a positive visible reflectance (blank/zero pixels are not observations).
    """
    bands = [b for b in (bands or _default_bands()) if b in cube]
    fm = cube[FMASK]
    ok = (fm != FMASK_FILL) & ((fm & _NOT_CLEAR_BITS) == 0)
    for b in bands:
        ok = ok & (cube[b] != REFLECTANCE_FILL)
    visible = [b for b in ("blue", "green", "red") if b in cube]
    if visible:
        ok = ok & (sum(cube[b].astype("int32") for b in visible) > 0)
    return ok.rename("clear")


def observed_mask(cube: xr.Dataset) -> xr.DataArray:
    """Pixels that hold an observation at all (inside the swath, not fill)."""
    return (cube[FMASK] != FMASK_FILL).rename("observed")


def cube_from_source(
    source: Any,
    *,
    region: Region,
    datetime: Any,
    sensors: Sequence[str] = ("L30", "S30"),
    max_cloud: float | None = None,
    resolution: float = 30.0,
    crs: str | int | None = None,
    chunks: dict[str, int] | None = None,
    bands: Sequence[str] | None = None,
) -> xr.Dataset:
    """Search ``source`` and load the items into a cube on ``region``'s grid (one call)."""
    from hlsmap.search import search

    items = search(source, region=region, datetime=datetime, sensors=sensors, max_cloud=max_cloud)
    return load_cube(
        items, region=region, resolution=resolution, crs=crs, chunks=chunks, bands=bands
    )
