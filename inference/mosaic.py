"""Region mosaics: the finished tile files of a run assembled into one COG per period and layer.

The tiles hold only their own pixels (the halo is cropped), so the mosaic is a plain paste; a tile
that failed stays no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.inference.tasks import LAYERS, TileTask, read_tile_file

NODATA = {"class": 0, "confidence": 0, "n_valid": 0, "cloud_share": 255}
"""No-data value of each layer (``cloud_share`` 255 = never observed, as consensus writes it)."""


def mosaic_arrays(tasks: Sequence[TileTask], geobox: Any, period: str) -> dict[str, np.ndarray]:
    """One period's layers over the whole region, from the finished tile files."""
    shape = (int(geobox.shape[0]), int(geobox.shape[1]))
    dtypes = {"class": np.uint8, "confidence": np.uint8, "n_valid": np.uint16,
              "cloud_share": np.uint8}  # fmt: skip
    out = {k: np.full(shape, NODATA[k], dtypes[k]) for k in LAYERS}
    for task in tasks:
        path = Path(task.out_path)
        if not path.exists():
            continue  # a failed tile: no data
        layers, _ = read_tile_file(path)
        size = task.geobox.shape
        y0, x0 = _tile_origin(task, geobox)
        for k in LAYERS:
            out[k][y0 : y0 + size[0], x0 : x0 + size[1]] = layers[period][k]
    return out


def _tile_origin(task: TileTask, geobox: Any) -> tuple[int, int]:
    """Pixel offset of a tile inside the region grid (from the affine transforms)."""
    a, t = geobox.affine, task.geobox.affine
    return int(round((t.f - a.f) / a.e)), int(round((t.c - a.c) / a.a))


def write_mosaics(
    tasks: Sequence[TileTask],
    geobox: Any,
    out: Path,
    periods: Sequence[str],
    scheme: str = "v1",
) -> dict[str, dict[str, Path]]:
    """Write each period's layers as region COGs: ``out/<period>/<layer>.tif``."""
    from hlsmap.outputs import cog

    written: dict[str, dict[str, Path]] = {}
    for name in periods:
        arrays = mosaic_arrays(tasks, geobox, name)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"class": folder / "class.tif"}
        cog.write_class_cog(paths["class"], arrays["class"], geobox, scheme=scheme)
        for k in LAYERS[1:]:
            paths[k] = folder / f"{k}.tif"
            cog.write_cog(paths[k], arrays[k], geobox, nodata=NODATA[k])
        written[name] = paths
    return written
