"""Category names, colour tables and raster attribute tables of categorical COGs (GDAL PAM).

QGIS and GDAL name the values of a categorical raster from its band's *category names* and
*raster attribute table* (RAT). GDAL keeps both, for GeoTIFFs, in a PAM sidecar
``<file>.aux.xml`` (GDAL 3.10, the one rasterio ships, cannot put a RAT in the TIFF itself; the
TIFF's own colour map must hold 256 entries). :func:`write_pam` writes exactly what GDAL's
``SetCategoryNames`` / ``SetColorTable`` / ``SetDefaultRAT`` would: the names, a colour table of
the used entries only (0 .. the highest category; unused codes transparent, so QGIS lists the
classes, not 0..255) and a thematic RAT with one row per category (value, pixel count, name,
title, colour). Opening the COG through GDAL (QGIS, rasterio) reads them back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from hlsmap.classes import CLASSES, NODATA, V2_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.outputs.atomic import write_text

RGBA = tuple[int, int, int, int]

# GDAL's GDALRATFieldType / GDALRATFieldUsage enumerations, as PAM XML stores them.
_INTEGER, _STRING = 0, 2
_GENERIC, _PIXEL_COUNT, _NAME, _MIN_MAX, _RED, _GREEN, _BLUE, _ALPHA = 0, 1, 2, 5, 6, 7, 8, 9


@dataclass(frozen=True)
class Category:
    """One value of a categorical raster.

    Attributes:
        value: the pixel value.
        name: machine name (``snake_case``; STAC ``classification:classes`` ``name``).
        title: human label (GDAL category name, QGIS legend entry).
        rgba: display colour.
        nodata: whether the value marks no data (named, transparent, not in the RAT).
    """

    value: int
    name: str
    title: str
    rgba: RGBA
    nodata: bool = False


NO_DATA = Category(NODATA, "no_data", "No data", (0, 0, 0, 0), nodata=True)


def class_categories(scheme: str = "v1", surface_only: bool = True) -> list[Category]:
    """No data + the classes of ``scheme`` (consensus maps hold the surface classes only)."""
    if scheme not in ("v1", "v2"):
        raise ConfigError(f"unknown class scheme {scheme!r}; use v1 or v2")
    classes = CLASSES if scheme == "v1" else V2_CLASSES
    out = [NO_DATA]
    for c in classes:
        if surface_only and c.name == "clouds":
            continue
        out.append(Category(c.code, c.name, c.title, (*c.rgb, 255)))
    return out


def _muted(rgba: RGBA) -> RGBA:
    """A class colour blended 60 % toward white: unchanged pixels recede, changes stand out."""
    r, g, b, _ = rgba
    return (r + (255 - r) * 3 // 5, g + (255 - g) * 3 // 5, b + (255 - b) * 3 // 5, 255)


def transition_categories() -> list[Category]:
    """The from-to codes of ``transitions.tif`` (``from * 10 + to``; 0 no data).

    A change is drawn in the new class's colour, an unchanged pixel in its class's colour
    muted toward white.
    """
    surface = class_categories("v1")[1:]
    out = [NO_DATA]
    for a in surface:
        for b in surface:
            if a == b:
                out.append(Category(a.value * 10 + a.value, f"{a.name}_unchanged",
                                    f"{a.title} (unchanged)", _muted(a.rgba)))  # fmt: skip
            else:
                out.append(Category(a.value * 10 + b.value, f"{a.name}_to_{b.name}",
                                    f"{a.title} to {b.title}", b.rgba))  # fmt: skip
    return out


def flag_categories(name: str, yes: str, no: str, nodata: int = 255) -> list[Category]:
    """A 0/1 layer: ``1`` is ``name`` (titled ``yes``), ``0`` not (``no``); ``nodata`` none."""
    return [
        Category(0, f"no_{name}", no, (200, 200, 200, 255)),
        Category(1, name, yes, (228, 26, 28, 255)),
        Category(nodata, "no_data", "No data", (0, 0, 0, 0), nodata=True),
    ]


def colour_table(categories: Iterable[Category]) -> dict[int, RGBA]:
    """``{value: rgba}`` for 0 .. the highest value (gaps transparent): the used entries."""
    cats = {c.value: c for c in categories}
    if not cats or min(cats) < 0 or max(cats) > 255:
        raise ConfigError("categories need values in 0..255 for a colour table")
    return {v: (cats[v].rgba if v in cats else (0, 0, 0, 0)) for v in range(max(cats) + 1)}


def pam_path(path: str | os.PathLike[str]) -> Path:
    """The PAM sidecar GDAL reads for ``path`` (``<path>.aux.xml``)."""
    p = Path(path)
    return p.with_name(p.name + ".aux.xml")


def pam_xml(categories: Sequence[Category], counts: np.ndarray | None = None) -> str:
    """The PAM XML of band 1: category names, colour table and a thematic RAT."""
    cats = {c.value: c for c in categories}
    table = colour_table(categories)
    names = "".join(
        f"<Category>{escape(cats[v].title) if v in cats else ''}</Category>" for v in table
    )
    entries = "".join(
        f'<Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>' for r, g, b, a in table.values()
    )
    fields: list[tuple[str, int, int]] = [("value", _INTEGER, _MIN_MAX)]
    if counts is not None:
        fields.append(("count", _INTEGER, _PIXEL_COUNT))
    fields += [("class", _STRING, _NAME), ("title", _STRING, _GENERIC)]
    fields += [(n, _INTEGER, u) for n, u in (("red", _RED), ("green", _GREEN),
                                             ("blue", _BLUE), ("alpha", _ALPHA))]  # fmt: skip
    defs = "".join(
        f'<FieldDefn index="{i}"><Name>{n}</Name><Type>{t}</Type><Usage>{u}</Usage></FieldDefn>'
        for i, (n, t, u) in enumerate(fields)
    )
    rows = []
    for i, c in enumerate(sorted((c for c in categories if not c.nodata), key=lambda c: c.value)):
        values: list[object] = [c.value]
        if counts is not None:
            values.append(int(counts[c.value]) if c.value < len(counts) else 0)
        values += [escape(c.name), escape(c.title), *c.rgba]
        rows.append(f'<Row index="{i}">' + "".join(f"<F>{v}</F>" for v in values) + "</Row>")
    return (
        '<PAMDataset>\n  <PAMRasterBand band="1">\n'
        f"    <CategoryNames>{names}</CategoryNames>\n"
        f"    <ColorTable>{entries}</ColorTable>\n"
        f"    <GDALRasterAttributeTable tableType={quoteattr('thematic')}>"
        f"{defs}{''.join(rows)}</GDALRasterAttributeTable>\n"
        "  </PAMRasterBand>\n</PAMDataset>\n"
    )


def write_pam(
    path: str | os.PathLike[str],
    categories: Sequence[Category],
    counts: np.ndarray | None = None,
) -> Path:
    """Write the PAM sidecar of the GeoTIFF ``path`` (atomically); return the sidecar's path.

    Args:
        path: the GeoTIFF (its sidecar is ``<path>.aux.xml``).
        categories: its values (see :class:`Category`).
        counts: pixels per value (``counts[v]``), for the RAT's pixel-count column.
    """
    return write_text(pam_path(path), pam_xml(categories, counts))
