"""Checks that a STAC item's projection metadata agrees with its footprint, before it is read.

odc-stac places a granule on the output grid from its ``proj:epsg`` (or ``proj:code``) and
``proj:transform`` / ``proj:shape`` / ``proj:bbox``, not from its GeoJSON footprint. An item whose
``proj:epsg`` is wrong (another UTM zone, a typo) is then placed hundreds of kilometres away, misses
the tile, and its pixels are silently never read. :func:`check_projections` catches that: the
declared extent, taken to longitude/latitude, must meet the item's footprint.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hlsmap.errors import InconsistentItemError

if TYPE_CHECKING:
    import pystac

_CHECKED: dict[tuple[str, str, str], str | None] = {}  # (id, crs, extent) -> problem
_LOCK = threading.Lock()
_MAX_CACHE = 100_000


def _declared(props: dict[str, Any]) -> tuple[str | None, tuple[float, float, float, float] | None]:
    """``(crs, (x0, y0, x1, y1))`` an item or asset declares, either possibly ``None``."""
    crs = None
    if props.get("proj:code"):
        crs = str(props["proj:code"])
    elif props.get("proj:epsg"):
        crs = f"EPSG:{props['proj:epsg']}"
    box = None
    if props.get("proj:bbox") and len(props["proj:bbox"]) == 4:
        x0, y0, x1, y1 = (float(v) for v in props["proj:bbox"])
        box = (x0, y0, x1, y1)
    elif props.get("proj:transform") and props.get("proj:shape"):
        a, _, c, _, e, f = (float(v) for v in list(props["proj:transform"])[:6])
        h, w = (int(v) for v in props["proj:shape"])
        xs, ys = (c, c + a * w), (f, f + e * h)
        box = (min(xs), min(ys), max(xs), max(ys))
    return crs, box


def projection_problem(item: pystac.Item) -> str | None:
    """Why ``item``'s declared projection contradicts its footprint, or ``None`` when it does
    not (or when there is too little metadata to tell)."""
    if item.geometry is None:
        return None
    crs, box = _declared(item.properties)
    if crs is None or box is None:
        return None
    key = (item.id, crs, repr(box))
    with _LOCK:
        if key in _CHECKED:
            return _CHECKED[key]
    from odc.geo.geom import Geometry
    from odc.geo.geom import box as make_box

    try:
        where = make_box(*box, crs).to_crs("EPSG:4326")
        footprint = Geometry(item.geometry, "EPSG:4326")
        problem = None
        if not where.intersects(footprint):
            b = footprint.boundingbox
            problem = (
                f"item {item.id} declares {crs} (proj:epsg/proj:code), which puts its pixels "
                f"outside its own footprint (lon {b.left:.3f}..{b.right:.3f}, lat "
                f"{b.bottom:.3f}..{b.top:.3f}); its projection metadata is wrong: fix the catalog"
            )
    except Exception as exc:  # an unknown CRS code, a degenerate box
        problem = f"item {item.id} declares a projection that cannot be used ({crs}): {exc}"
    with _LOCK:
        if len(_CHECKED) > _MAX_CACHE:
            _CHECKED.clear()
        _CHECKED[key] = problem
    return problem


def check_projections(items: Sequence[pystac.Item]) -> None:
    """Raise :class:`InconsistentItemError` naming the first item whose declared projection
    contradicts its footprint (see :func:`projection_problem`)."""
    for item in items:
        problem = projection_problem(item)
        if problem is not None:
            raise InconsistentItemError(problem)
