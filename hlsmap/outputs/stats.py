"""Area statistics: hectares per class and from-to transition matrices, as JSON and CSV.

Both add up pixel counts, so a region's statistics can be gathered block by block
(:func:`class_counts` / :func:`transition_counts` of each block, summed) and never need the
whole map in memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.change import SURFACE_CODES, hectares_per_pixel, pixel_area_ha, transition_matrix
from hlsmap.classes import BY_CODE, NODATA, SURFACE_CLASSES, V2_CLASSES
from hlsmap.outputs.atomic import write_text

__all__ = [
    "area_csv",
    "area_json",
    "area_rows",
    "area_table",
    "class_counts",
    "matrix_csv",
    "matrix_json",
    "pixel_area_ha",
    "transition_counts",
    "transition_matrix",
    "write_area_rows",
    "write_area_stats",
    "write_transition_matrix",
]


def _classes(scheme: str) -> dict[int, Any]:
    if scheme == "v2":
        return {c.code: c for c in V2_CLASSES if c.code != 10}
    return {c.code: c for c in SURFACE_CLASSES}


def area_table(codes: Any, geobox: Any, scheme: str = "v1") -> list[dict[str, Any]]:
    """Area per class.

    Args:
        codes: a class map (codes, 0 no data).
        geobox: its GeoBox, or the area of one pixel in hectares.
        scheme: ``"v1"`` or ``"v2"`` (which class list to report).

    Returns:
        One row per class of the scheme (zero rows included), each ``{"code", "name",
        "title", "pixels", "hectares", "percent"}``; percent of the mapped (non-nodata) area.
    """
    return area_rows(class_counts(codes), geobox, scheme)


def class_counts(codes: Any) -> np.ndarray:
    """Pixels per code (``int64``; 256 entries for uint8 codes) of a class map or a block."""
    a = np.asarray(codes)
    return np.bincount(a.ravel().astype(np.int64), minlength=256)


def area_rows(counts: np.ndarray, geobox: Any, scheme: str = "v1") -> list[dict[str, Any]]:
    """:func:`area_table` from pixel counts per code (summed :func:`class_counts` of blocks)."""
    px_ha = hectares_per_pixel(geobox)
    mapped = int(counts.sum() - counts[NODATA])
    rows = []
    for code, c in _classes(scheme).items():
        n = int(counts[code])
        rows.append(
            {
                "code": code,
                "name": c.name,
                "title": c.title,
                "pixels": n,
                "hectares": round(n * px_ha, 4),
                "percent": round(100.0 * n / mapped, 4) if mapped else 0.0,
            }
        )
    return rows


def transition_counts(transitions: Any) -> np.ndarray:
    """Pixels per from-to pair, ``(9, 9)`` ``int64``, of a transition raster (``from*10+to``).

    Times the pixel area in hectares, the sum over blocks is :func:`transition_matrix` of the
    maps the transitions came from.
    """
    t = np.asarray(transitions).ravel()
    t = t[t != 0].astype(np.int64)
    n = len(SURFACE_CODES)
    idx = (t // 10 - 1) * n + (t % 10 - 1)
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def area_json(rows: list[dict[str, Any]], **meta: Any) -> str:
    """The area table as JSON text (with any extra metadata)."""
    return json.dumps({**meta, "unit": "hectares", "classes": rows}, indent=2)


def area_csv(rows: list[dict[str, Any]]) -> str:
    """The area table as CSV text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["code", "name", "title", "pixels", "hectares", "percent"])
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def matrix_csv(matrix: np.ndarray) -> str:
    """The transition matrix as CSV (rows = from, columns = to, hectares)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    names = [BY_CODE[c].name for c in SURFACE_CODES]
    w.writerow(["from\\to", *names])
    for i, name in enumerate(names):
        w.writerow([name, *(f"{v:.4f}" for v in matrix[i])])
    return buf.getvalue()


def matrix_json(matrix: np.ndarray) -> str:
    """The transition matrix as JSON ``{"from": {"to": hectares}}`` (non-zero cells only)."""
    names = [BY_CODE[c].name for c in SURFACE_CODES]
    cells = {
        names[i]: {
            names[j]: round(float(matrix[i, j]), 4) for j in range(len(names)) if matrix[i, j] > 0
        }
        for i in range(len(names))
    }
    return json.dumps(
        {"unit": "hectares", "total": round(float(matrix.sum()), 4), "transitions": cells}, indent=2
    )


def write_area_stats(
    stem: str | os.PathLike[str], codes: Any, geobox: Any, scheme: str = "v1", **meta: Any
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` with the area per class; returns both paths."""
    return write_area_rows(stem, area_table(codes, geobox, scheme), **meta)


def write_area_rows(
    stem: str | os.PathLike[str], rows: list[dict[str, Any]], **meta: Any
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` of an area table (:func:`area_rows`)."""
    stem = Path(stem)
    j = write_text(stem.with_name(stem.name + ".json"), area_json(rows, **meta))
    c = write_text(stem.with_name(stem.name + ".csv"), area_csv(rows))
    return j, c


def write_transition_matrix(stem: str | os.PathLike[str], matrix: np.ndarray) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` for a transition matrix."""
    stem = Path(stem)
    j = write_text(stem.with_name(stem.name + ".json"), matrix_json(matrix))
    c = write_text(stem.with_name(stem.name + ".csv"), matrix_csv(matrix))
    return j, c
