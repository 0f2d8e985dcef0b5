"""STAC items and catalogs describing hlsmap products (one item per product, one asset per COG).

Built with pystac's extension classes: projection (v2.0.0), raster (v1.1.0: data type, nodata,
unit, scale, read back from each COG), file (v2.1.0: sha2-256 multihash checksum, size) and
classification (the class list of :mod:`hlsmap.outputs.pam`, declared as v1.1.0: pystac
writes v2.0.0, whose schema no offline validator here has, and the fields used are the same).
A period product has ``start_datetime``/``end_datetime`` (``datetime`` null) and the exact
days it covers (:mod:`hlsmap.outputs.coverage`); every item has ``created``, a licence and the
run's :class:`~hlsmap.outputs.provenance.Provenance`. :func:`write_catalog` saves a
self-contained collection with pystac's own ``save`` (relative links, no self hrefs, no machine
path), atomically per file, with ``providers``, ``item_assets``, ``summaries`` and child
collections (a map run links its change collection).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.stac_io import DefaultStacIO

from hlsmap.errors import ConfigError
from hlsmap.outputs import pam
from hlsmap.outputs.provenance import DEFAULT_LICENSE, Provenance, software

PROJ = ProjectionExtension.get_schema_uri()
RASTER = RasterExtension.get_schema_uri()
FILE = FileExtension.get_schema_uri()
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
"""The classification version declared (see the module docstring)."""
_PYSTAC_CLASSIFICATION = ClassificationExtension.get_schema_uri()
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PAM_TYPE = "application/xml"


def file_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``file:checksum`` (sha2-256 multihash, hex) and ``file:size`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"file:checksum": "1220" + h.hexdigest(), "file:size": os.path.getsize(path)}


def _set_file_info(asset: pystac.Asset, path: str | os.PathLike[str]) -> None:
    info = file_info(path)
    ext = FileExtension.ext(asset)
    ext.checksum = info["file:checksum"]
    ext.size = info["file:size"]


def classifications(categories: Sequence[pam.Category]) -> list[Classification]:
    """``classification:classes`` of categories (no data flagged ``nodata``)."""
    return [
        Classification.create(
            value=c.value,
            description=c.title,
            name=c.name,
            color_hint="".join(f"{v:02X}" for v in c.rgba[:3]),
            nodata=True if c.nodata else None,
        )
        for c in categories
    ]


def class_list(scheme: str = "v1", surface_only: bool = True) -> list[dict[str, Any]]:
    """``classification:classes`` for a scheme (with no data as value 0), as dicts."""
    cats = pam.class_categories(scheme, surface_only)
    return [c.to_dict() for c in classifications(cats)]


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


def _href(path: Path, item_dir: str | os.PathLike[str] | None) -> str:
    return os.path.relpath(path, item_dir) if item_dir is not None else str(path.resolve())


def asset_for_cog(
    path: str | os.PathLike[str],
    geobox: Any,
    item_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
    categories: Sequence[pam.Category] | None = None,
    nodata: float | None = None,
    roles: Iterable[str] = ("data",),
) -> pystac.Asset:
    """An Asset for one COG (href relative to ``item_dir`` when given).

    Its ``raster:bands`` entry is read from the file: data type, nodata, unit and scale/offset
    as GDAL reports them (what :func:`hlsmap.outputs.cog.write_cog` recorded).
    """
    import rasterio

    p = Path(path)
    with rasterio.open(p) as src:
        dtype = src.dtypes[0]
        nodata = src.nodata if nodata is None else nodata
        unit = src.units[0] or None
        scale, offset = float(src.scales[0]), float(src.offsets[0])
        desc = src.descriptions[0]
    asset = pystac.Asset(
        href=_href(p, item_dir), media_type=COG_TYPE, title=title, roles=list(roles),
        description=desc,
    )  # fmt: skip
    band = RasterBand.create(
        data_type=DataType(dtype),
        nodata=nodata,
        spatial_resolution=abs(geobox.resolution.x),
        unit=unit,
        scale=scale,
        offset=offset,
    )
    RasterExtension.ext(asset).bands = [band]
    _set_file_info(asset, p)
    if categories:
        ClassificationExtension.ext(asset).classes = classifications(categories)
    return asset


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
    categories: Mapping[str, Sequence[pam.Category]] | None = None,
    provenance: Provenance | None = None,
) -> pystac.Item:
    """A STAC Item for one product made of one or more COGs on the same GeoBox.

    Args:
        item_id: the item's id.
        cogs: ``{asset key: path}`` (e.g. ``{"class": ".../class.tif", "confidence": ...}``).
        geobox: their GeoBox.
        start: the product's date (or first day of its period).
        end: the last day of its period (``None`` for a single date).
        item_dir: folder the item JSON will live in (hrefs become relative to it).
        classified: asset keys that hold class codes of ``scheme`` (they get the class list).
        scheme: the class scheme of those assets.
        properties: extra item properties (e.g. ``{"hlsmap:rule": "mean_prob"}``).
        extra_assets: further assets (quicklook PNG, statistics JSON, ...).
        categories: other categorical assets' categories (``{"transitions": [...]}``).
        provenance: licence, model, source granules (default: a licence only).
    """
    if not cogs:
        raise ConfigError(f"item {item_id!r} needs at least one COG")
    geom, bbox = _geometry(geobox)
    t0 = _to_datetime(start)
    prov = provenance or Provenance()
    props: dict[str, Any] = {**prov.properties(), **dict(properties or {})}
    if end is not None:
        after = _to_datetime(np.datetime64(end, "D") + np.timedelta64(1, "D"))
        item = pystac.Item(item_id, geom, bbox, None, props, start_datetime=t0,
                           end_datetime=after - dt.timedelta(seconds=1))  # fmt: skip
    else:
        item = pystac.Item(item_id, geom, bbox, t0, props)
    meta = item.common_metadata
    meta.created = prov.created
    meta.license = prov.license
    _projection(item, geobox)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    cats: dict[str, Sequence[pam.Category]] = dict(categories or {})
    for key in classified:
        cats.setdefault(key, pam.class_categories(scheme))
    for key, path in cogs.items():
        title = key.replace("_", " ")
        item.add_asset(key, asset_for_cog(path, geobox, item_dir, title, cats.get(key)))
        sidecar = pam.pam_path(path)
        if key in cats and sidecar.exists():
            item.add_asset(f"{key}_pam", file_asset(
                sidecar, PAM_TYPE, item_dir, ("metadata",),
                f"{title}: GDAL category names, colour table and attribute table",
            ))  # fmt: skip
    for key, asset in (extra_assets or {}).items():
        item.add_asset(key, asset)
    if cats.keys() & cogs.keys():
        item.stac_extensions.append(CLASSIFICATION)
    for link in prov.links():
        item.add_link(link)
    return item


def _projection(item: pystac.Item, geobox: Any) -> None:
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = geobox.crs.epsg
    proj.code = f"EPSG:{epsg}" if epsg else None
    if not epsg:
        proj.wkt2 = geobox.crs.to_wkt()
    proj.shape = [int(geobox.shape[0]), int(geobox.shape[1])]
    proj.transform = [float(v) for v in list(geobox.affine)[:6]]
    proj.bbox = [float(v) for v in geobox.extent.boundingbox]


def file_asset(
    path: str | os.PathLike[str],
    media_type: str,
    item_dir: str | os.PathLike[str] | None = None,
    roles: Iterable[str] = ("metadata",),
    title: str | None = None,
) -> pystac.Asset:
    """An Asset for a side file (PNG quicklook, JSON/CSV statistics) with file info."""
    p = Path(path)
    asset = pystac.Asset(href=_href(p, item_dir), media_type=media_type, roles=list(roles),
                         title=title)  # fmt: skip
    _set_file_info(asset, p)
    return asset


class AtomicStacIO(DefaultStacIO):
    """pystac's file IO with atomic writes (temp file + rename), as every hlsmap output."""

    def write_text_to_href(self, href: str, txt: str) -> None:
        """Write ``txt`` to the local file ``href`` atomically."""
        from hlsmap.outputs.atomic import write_text

        write_text(href, txt)


def _temporal(items: Sequence[pystac.Item]) -> pystac.TemporalExtent:
    times: list[dt.datetime] = []
    for i in items:
        meta = i.common_metadata
        times += [t for t in (meta.start_datetime, meta.end_datetime, i.datetime) if t]
    return pystac.TemporalExtent([[min(times), max(times)]])


def _spatial(items: Sequence[pystac.Item]) -> pystac.SpatialExtent:
    b = np.array([i.bbox for i in items], dtype=float)
    return pystac.SpatialExtent(
        [[float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]]
    )


def _item_assets(
    items: Sequence[pystac.Item],
) -> dict[str, pystac.ItemAssetDefinition | dict[str, Any]]:
    """What every item's asset of a key is (title, type, roles, classes): ``item_assets``."""
    out: dict[str, pystac.ItemAssetDefinition | dict[str, Any]] = {}
    for item in items:
        for key, a in item.assets.items():
            if key in out:
                continue
            extra = {}
            if "classification:classes" in a.extra_fields:
                extra["classification:classes"] = a.extra_fields["classification:classes"]
            out[key] = pystac.ItemAssetDefinition.create(
                a.title, a.description, a.media_type, a.roles, extra_fields=extra or None
            )
    return out


def _summaries(coll: pystac.Collection, items: Sequence[pystac.Item]) -> None:
    codes = sorted({c for i in items if (c := ProjectionExtension.ext(i).code)})
    if codes:
        ProjectionExtension.summaries(coll, add_if_missing=True).code = codes
    periods = sorted({str(p) for i in items if (p := i.properties.get("hlsmap:period"))})
    if periods:
        coll.summaries.add("hlsmap:period", periods)
    coll.summaries.add("processing:software", [software()])
    for key in ("hlsmap:model_name", "hlsmap:model_version"):
        values = sorted({str(v) for i in items if (v := i.properties.get(key))})
        if values:
            coll.summaries.add(key, values)


def _pin_classification(obj: pystac.STACObject) -> None:
    """Declare classification v1.1.0 (pystac migrates it to v2.0.0 when it reads a file)."""
    exts = obj.stac_extensions
    if _PYSTAC_CLASSIFICATION in exts:
        exts[exts.index(_PYSTAC_CLASSIFICATION)] = CLASSIFICATION
        if exts.count(CLASSIFICATION) > 1:
            exts.remove(CLASSIFICATION)


def write_catalog(
    out_dir: str | os.PathLike[str],
    items: Iterable[pystac.Item],
    collection_id: str = "hlsmap",
    description: str = "Land-cover products made by hlsmap from HLS time series",
    title: str | None = None,
    license: str | None = None,
    providers: Sequence[pystac.Provider] | None = None,
    children: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write a self-contained STAC Collection (``<out_dir>/collection.json``) with its items.

    Items go to ``<out_dir>/<item id>/<item id>.json`` (next to their files). Saved with
    pystac's ``save`` as a self-contained catalog: links and asset hrefs relative, no self
    links; every file written atomically.

    Args:
        out_dir: the folder of the collection.
        items: its items.
        collection_id, description, title: the collection's.
        license: the products' licence (default: the items' own, else CC-BY-4.0).
        providers: the providers (default: hlsmap as processor).
        children: ``collection.json`` files of collections to link as children (a map
            run's change collection); they are saved again with their parent link.
    """
    out = Path(out_dir).resolve()
    items = list(items)
    if not items:
        raise ConfigError("a catalog needs at least one item")
    licence = license or items[0].common_metadata.license or DEFAULT_LICENSE
    coll = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(_spatial(items), _temporal(items)),
        title=title,
        license=licence,
        providers=list(providers) if providers is not None else Provenance().all_providers(),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    coll.set_self_href(str(out / "collection.json"))
    coll.item_assets = _item_assets(items)
    for item in items:
        item_dir = out / item.id
        _absolute_assets(item, item_dir)
        coll.add_item(item)
        item.set_self_href(str(item_dir / f"{item.id}.json"))
    _summaries(coll, items)
    for child in children:
        _link_child(coll, Path(child).resolve())
    coll.make_all_asset_hrefs_relative()
    for obj in (coll, *coll.get_children(), *coll.get_items(recursive=True)):
        _pin_classification(obj)
    coll.save(pystac.CatalogType.SELF_CONTAINED, stac_io=AtomicStacIO())
    return out / "collection.json"


def _link_child(coll: pystac.Collection, path: Path) -> None:
    """Link the saved collection ``path`` (and its items) as a child of ``coll``, where it is:
    pystac's ``add_child`` would move it to its own layout."""
    child = pystac.Collection.from_file(str(path))
    items = list(child.get_items(recursive=True))  # resolve them before the root changes
    coll.add_link(pystac.Link(pystac.RelType.CHILD, child, media_type=pystac.MediaType.JSON,
                              title=child.title))  # fmt: skip
    child.set_parent(coll)
    child.set_root(coll)
    for item in items:
        item.set_root(coll)


def _absolute_assets(item: pystac.Item, item_dir: Path) -> None:
    """Asset hrefs as absolute paths, relative ones resolved from ``item_dir`` (the folder
    the caller made them relative to), so saving can make them relative to the item's file."""
    for asset in item.assets.values():
        if item.get_self_href():
            asset.href = asset.get_absolute_href() or asset.href
        elif not os.path.isabs(asset.href) and "://" not in asset.href:
            asset.href = str((item_dir / asset.href).resolve())
