"""STAC items and catalogs describing hlsmap products (one item per product, one asset per COG).

Items carry the projection (v2.0.0), raster (v1.1.0), classification (v1.1.0, class list from
:mod:`hlsmap.classes`) and file (v2.1.0: sha2-256 multihash checksum, size) extensions. A
period product has ``start_datetime``/``end_datetime`` (and ``datetime`` null).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pystac

from hlsmap.classes import CLASSES, NODATA, V2_CLASSES
from hlsmap.errors import ConfigError

PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def file_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``file:checksum`` (sha2-256 multihash, hex) and ``file:size`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"file:checksum": "1220" + h.hexdigest(), "file:size": os.path.getsize(path)}


def class_list(scheme: str = "v1", surface_only: bool = True) -> list[dict[str, Any]]:
    """``classification:classes`` for a scheme (with no data as value 0)."""
    classes = CLASSES if scheme == "v1" else V2_CLASSES
    out: list[dict[str, Any]] = [
        {"value": NODATA, "name": "no_data", "description": "No data", "nodata": True}
    ]
    for c in classes:
        if surface_only and c.name == "clouds":
            continue
        out.append(
            {
                "value": c.code,
                "name": c.name,
                "description": c.title,
                "color_hint": c.color.lstrip("#").upper(),
            }
        )
    return out


def dropped_granules_properties(dropped: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``hlsmap:dropped_granules``: the input granules a product lacks because they could not be
    read (one entry per granule: ``item``, ``collection``, ``reason``, the ``tiles`` it was
    skipped in), from :attr:`hlsmap.inference.runner.RunResult.dropped_granules`; ``{}`` when
    none was."""
    by_item: dict[tuple[str, str], dict[str, Any]] = {}
    for d in dropped:
        key = (str(d.get("collection", "")), str(d["item"]))
        entry = by_item.setdefault(
            key, {"item": key[1], "collection": key[0], "reason": str(d["reason"]), "tiles": []}
        )
        if "tile" in d:
            entry["tiles"].append(list(d["tile"]))
    return {"hlsmap:dropped_granules": list(by_item.values())} if by_item else {}


def _to_datetime(value: Any) -> dt.datetime:
    day = np.datetime64(value, "s").astype(dt.datetime)
    return day.replace(tzinfo=dt.UTC)


def _geometry(geobox: Any) -> tuple[dict[str, Any], list[float]]:
    poly = geobox.extent.to_crs("EPSG:4326")
    geom = poly.json
    b = poly.boundingbox
    return geom, [b.left, b.bottom, b.right, b.top]


def asset_for_cog(
    path: str | os.PathLike[str],
    geobox: Any,
    item_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
    classified: bool = False,
    scheme: str = "v1",
    nodata: float | None = None,
    roles: Iterable[str] = ("data",),
) -> pystac.Asset:
    """An Asset for one COG (href relative to ``item_dir`` when given)."""
    import rasterio

    p = Path(path)
    with rasterio.open(p) as src:
        dtype = src.dtypes[0]
        nodata = src.nodata if nodata is None else nodata
    href = os.path.relpath(p, item_dir) if item_dir is not None else str(p.resolve())
    band: dict[str, Any] = {"data_type": dtype, "spatial_resolution": abs(geobox.resolution.x)}
    if nodata is not None:
        band["nodata"] = nodata
    extra: dict[str, Any] = {"raster:bands": [band], **file_info(p)}
    if classified:
        extra["classification:classes"] = class_list(scheme)
    return pystac.Asset(
        href=href, media_type=COG_TYPE, title=title, roles=list(roles), extra_fields=extra
    )


def item_for_cog(
    item_id: str,
    cogs: Mapping[str, str | os.PathLike[str]],
    geobox: Any,
    start: Any,
    end: Any | None = None,
    item_dir: str | os.PathLike[str] | None = None,
    classified: Iterable[str] = ("class",),
    scheme: str = "v1",
    properties: Mapping[str, Any] | None = None,
    extra_assets: Mapping[str, pystac.Asset] | None = None,
) -> pystac.Item:
    """A STAC Item for one product made of one or more COGs on the same GeoBox.

    Args:
        item_id: the item's id.
        cogs: ``{asset key: path}`` (e.g. ``{"class": ".../class.tif", "confidence": ...}``).
        geobox: their GeoBox.
        start: the product's date (or first day of its period).
        end: the last day of its period (``None`` for a single date).
        item_dir: folder the item JSON will live in (hrefs become relative to it).
        classified: asset keys that hold class codes (they get the class list).
        scheme: the class scheme of those assets.
        properties: extra item properties (e.g. ``{"hlsmap:rule": "mean_prob"}``).
        extra_assets: further assets (quicklook PNG, statistics JSON, ...).
    """
    if not cogs:
        raise ConfigError(f"item {item_id!r} needs at least one COG")
    geom, bbox = _geometry(geobox)
    t0 = _to_datetime(start)
    props: dict[str, Any] = dict(properties or {})
    if end is not None:
        t1 = _to_datetime(np.datetime64(end, "D") + np.timedelta64(1, "D")) - dt.timedelta(
            seconds=1
        )
        props.update(
            start_datetime=pystac.utils.datetime_to_str(t0),
            end_datetime=pystac.utils.datetime_to_str(t1),
        )
        when: dt.datetime | None = None
    else:
        when = t0
    epsg = geobox.crs.epsg
    props.update(
        {
            "proj:code": f"EPSG:{epsg}" if epsg else None,
            "proj:shape": [int(geobox.shape[0]), int(geobox.shape[1])],
            "proj:transform": [float(v) for v in list(geobox.affine)[:6]],
            "proj:bbox": [float(v) for v in geobox.extent.boundingbox],
        }
    )
    if not epsg:
        props["proj:wkt2"] = geobox.crs.to_wkt()
    item = pystac.Item(item_id, geom, bbox, when, props, stac_extensions=[PROJ, RASTER, FILE])
    cls = set(classified)
    for key, path in cogs.items():
        item.add_asset(
            key,
            asset_for_cog(
                path,
                geobox,
                item_dir,
                title=key.replace("_", " "),
                classified=key in cls,
                scheme=scheme,
            ),
        )
    for key, asset in (extra_assets or {}).items():
        item.add_asset(key, asset)
    if cls & set(cogs):
        item.stac_extensions.append(CLASSIFICATION)
    return item


def file_asset(
    path: str | os.PathLike[str],
    media_type: str,
    item_dir: str | os.PathLike[str] | None = None,
    roles: Iterable[str] = ("metadata",),
    title: str | None = None,
) -> pystac.Asset:
    """An Asset for a side file (PNG quicklook, JSON/CSV statistics) with file info."""
    p = Path(path)
    href = os.path.relpath(p, item_dir) if item_dir is not None else str(p.resolve())
    return pystac.Asset(
        href=href, media_type=media_type, roles=list(roles), title=title, extra_fields=file_info(p)
    )


def write_catalog(
    out_dir: str | os.PathLike[str],
    items: Iterable[pystac.Item],
    collection_id: str = "hlsmap",
    description: str = "Land-cover products made by hlsmap from HLS time series",
    title: str | None = None,
) -> Path:
    """Write a self-contained STAC Collection (``collection.json``) with its items.

    Items are written to ``<out_dir>/<item id>/<item id>.json``; asset hrefs that are absolute
    paths under ``out_dir`` become relative. Writes are atomic per file.
    """
    from hlsmap.outputs.atomic import write_text

    out = Path(out_dir)
    items = list(items)
    if not items:
        raise ConfigError("a catalog needs at least one item")
    bboxes = np.array([i.bbox for i in items], dtype=float)
    spatial = pystac.SpatialExtent(
        [
            [
                float(bboxes[:, 0].min()),
                float(bboxes[:, 1].min()),
                float(bboxes[:, 2].max()),
                float(bboxes[:, 3].max()),
            ]
        ]
    )
    times = []
    for i in items:
        for key in ("start_datetime", "end_datetime"):
            if key in i.properties:
                times.append(pystac.utils.str_to_datetime(i.properties[key]))
        if i.datetime is not None:
            times.append(i.datetime)
    temporal = pystac.TemporalExtent([[min(times), max(times)]])
    coll = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(spatial, temporal),
        title=title,
        license="CC-BY-4.0",
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    coll.add_items(items)
    coll.normalize_hrefs(str(out.resolve()))
    for item in items:
        item_dir = Path(item.get_self_href() or "").parent
        for asset in item.assets.values():
            if os.path.isabs(asset.href):
                asset.href = os.path.relpath(asset.href, item_dir)
    for item in items:
        write_text(
            item.get_self_href() or "", json.dumps(item.to_dict(transform_hrefs=True), indent=2)
        )
    path = out / "collection.json"
    write_text(path, json.dumps(coll.to_dict(transform_hrefs=True), indent=2))
    return path
