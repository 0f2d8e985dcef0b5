"""PNG quicklooks of class maps (with a legend) and of continuous layers (matplotlib, Agg).

A quicklook is small: maps are decimated (nearest, ``a[::step, ::step]``) to ``max_size``
first. For a region, gather the decimated map block by block with
:class:`hlsmap.outputs.blocks.Decimator` and pass that: the same picture, without the region
in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import CLASSES, NODATA, V2_CLASSES, palette_array
from hlsmap.errors import ConfigError
from hlsmap.outputs.atomic import atomic_path
from hlsmap.outputs.blocks import decimation_step


def _decimate(a: np.ndarray, max_size: int) -> np.ndarray:
    """Nearest-neighbour decimation so the longer side is at most ``max_size`` pixels."""
    step = decimation_step(a.shape, max_size)
    return a[::step, ::step]


def class_png(
    path: str | os.PathLike[str],
    codes: Any,
    title: str | None = None,
    scheme: str = "v1",
    max_size: int = 1024,
    legend: bool = True,
) -> Path:
    """Write a class map as a PNG with its palette and a legend of the classes present.

    No data is drawn transparent-white. Large maps are decimated (nearest) to ``max_size``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    a = np.asarray(codes.values if hasattr(codes, "values") else codes)
    if a.ndim != 2:
        raise ConfigError(f"a quicklook needs a 2-D class map, not shape {a.shape}")
    a = _decimate(a.astype(np.uint8, copy=False), max_size)
    rgba = palette_array(scheme)[a]
    classes = CLASSES if scheme == "v1" else V2_CLASSES
    present = set(np.unique(a).tolist())
    h, w = a.shape
    scale = 6.0 / max(h, w)
    fig = Figure(figsize=(w * scale + (2.6 if legend else 0.2), h * scale + 0.7), dpi=150)
    ax = fig.add_axes((0.02, 0.02, (w * scale) / (w * scale + (2.6 if legend else 0.2)), 0.9))
    ax.imshow(rgba, interpolation="nearest")
    # a thin frame, not axes: it shows where the map ends when its edges are no data
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.5)
        spine.set_color("0.5")
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        handles = [
            Patch(facecolor=c.color, edgecolor="0.3", label=c.title)
            for c in classes
            if c.code in present and c.code != NODATA
        ]
        if NODATA in present:
            handles.append(Patch(facecolor="white", edgecolor="0.3", label="No data"))
        fig.legend(
            handles=handles, loc="center right", fontsize=7, frameon=False, borderaxespad=1.0
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def value_png(
    path: str | os.PathLike[str],
    values: Any,
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    nodata: float | None = None,
    label: str | None = None,
    max_size: int = 1024,
) -> Path:
    """Write a continuous layer (confidence, n_valid, ...) as a PNG with a colour bar."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    a = np.asarray(values.values if hasattr(values, "values") else values).astype(np.float64)
    a = _decimate(a, max_size)
    if nodata is not None:
        a = np.where(a == nodata, np.nan, a)
    fig = Figure(figsize=(6.5, 6.0), dpi=120)
    ax = fig.add_subplot()
    im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label or "")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
