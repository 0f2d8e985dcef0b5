"""Region mosaics: the finished tile files of a run assembled into one COG per period and layer.

The tiles hold only their own pixels (the halo is cropped), so a mosaic is a plain paste; a tile
that failed stays no data. :class:`TileMosaic` pastes one window of the region at a time from
the tiles it meets, and :func:`write_mosaics` streams those windows into COGs
(:func:`hlsmap.outputs.cog.cog_stream`): memory is bounded by a window and the few tiles it
meets, never the region (``bench/bench_mosaic.py``: a 8192 x 8192 region of 512 px tiles
peaks at 13 MiB of NumPy memory and +75 MiB RSS, against 452 MiB and +644 MiB with the
region's four layers in memory).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import OutputError
from hlsmap.inference.tasks import LAYERS, TileTask, read_tile_file
from hlsmap.outputs.blocks import Window, block_windows
from hlsmap.predictions import N_SURFACE

NODATA = {"class": 0, "confidence": 0, "n_valid": 0, "cloud_share": 255}
"""No-data value of each layer (``cloud_share`` 255 = never observed, as consensus writes it)."""

DTYPES = {"class": np.dtype(np.uint8), "confidence": np.dtype(np.uint8),
          "n_valid": np.dtype(np.uint16), "cloud_share": np.dtype(np.uint8)}  # fmt: skip
"""dtype of each layer in the tile files and the mosaics."""


PROBS = "probs"
"""The optional layer of per-class mean probabilities, ``(H, W, 9)`` uint8 (0 = no data)."""


def _blank(layer: str, shape: tuple[int, int]) -> Any:
    """A no-data block of ``layer`` (``probs``: one band per surface class)."""
    if layer == PROBS:
        return np.zeros((*shape, N_SURFACE), np.uint8)
    return np.full(shape, NODATA[layer], DTYPES[layer])


def mosaic_arrays(
    tasks: Sequence[TileTask], geobox: Any, period: str, layers: Sequence[str] = LAYERS
) -> dict[str, np.ndarray]:
    """One period's layers over the whole region, in memory (small regions and tests only).

    :class:`TileMosaic` gives the same pixels one window at a time. ``layers`` may name
    ``probs`` where the run kept probabilities (``TileOptions.probabilities``).
    """
    shape = (int(geobox.shape[0]), int(geobox.shape[1]))
    out = {k: _blank(k, shape) for k in layers}
    for task in tasks:
        path = Path(task.out_path)
        if not path.exists():
            continue  # a failed tile: no data
        tile_layers, _ = read_tile_file(path)
        size = task.geobox.shape
        y0, x0 = _tile_origin(task, geobox)
        for k in layers:
            if k not in tile_layers[period]:
                raise OutputError(
                    f"tile file {path} holds no {k!r} layer: rerun with probabilities kept"
                )
            out[k][y0 : y0 + size[0], x0 : x0 + size[1]] = tile_layers[period][k]
    return out


def _tile_origin(task: TileTask, geobox: Any) -> tuple[int, int]:
    """Pixel offset of a tile inside the region grid (from the affine transforms)."""
    a, t = geobox.affine, task.geobox.affine
    return int(round((t.f - a.f) / a.e)), int(round((t.c - a.c) / a.a))


class TileMosaic:
    """One period's layers of a region run, read window by window from the tile files.

    A :class:`hlsmap.outputs.blocks.LayerSource`: ``read(window)`` pastes the window from the
    tiles it meets (each tile file read lazily, one period's layers only) and fills the rest,
    failed tiles included, with :data:`NODATA`. The last few tiles read stay cached, so
    windows visited in row-major order read each tile about once per window row it spans.

    Args:
        tasks: the run's tile tasks (their ``out_path`` and ``geobox``).
        geobox: the region's grid.
        period: the period's name in the tile files.
        cache: tiles kept in memory.
        layers: the layers read (``probs`` too where the run kept probabilities).
    """

    def __init__(
        self,
        tasks: Sequence[TileTask],
        geobox: Any,
        period: str,
        cache: int = 4,
        layers: Sequence[str] = LAYERS,
    ) -> None:
        self.shape = (int(geobox.shape[0]), int(geobox.shape[1]))
        self.layers = tuple(layers)
        self.dtypes = {k: DTYPES.get(k, np.dtype(np.uint8)) for k in self.layers}
        self.period = period
        self._tiles: dict[tuple[int, int], tuple[TileTask, int, int]] = {}
        for task in tasks:
            y0, x0 = _tile_origin(task, geobox)
            self._tiles[(y0, x0)] = (task, int(task.geobox.shape[0]), int(task.geobox.shape[1]))
        self._ys = np.array(sorted({y for y, _ in self._tiles}), np.int64)
        self._xs = np.array(sorted({x for _, x in self._tiles}), np.int64)
        self._cache: OrderedDict[str, dict[str, np.ndarray] | None] = OrderedDict()
        self._cache_size = max(1, cache)
        self.tile_reads = 0

    def _layers(self, task: TileTask) -> dict[str, np.ndarray] | None:
        """The period's layers of one tile (``None``: the tile failed)."""
        key = task.out_path
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        path = Path(key)
        layers: dict[str, np.ndarray] | None = None
        if path.exists():
            self.tile_reads += 1
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in self.layers if f"{self.period}/{k}" not in z.files]
                if missing:
                    raise OutputError(
                        f"tile file {path} holds no period {self.period!r}; it was made for "
                        "other periods: delete the run's tiles/ folder and rerun"
                    )
                layers = {k: np.asarray(z[f"{self.period}/{k}"]) for k in self.layers}
        self._cache[key] = layers
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return layers

    def read(self, window: Window) -> dict[str, np.ndarray]:
        """Every layer of ``window`` = ``(row, col, height, width)`` of the region grid."""
        r, c, h, w = window
        out = {k: _blank(k, (h, w)) for k in self.layers}
        # tiles partition the grid: the ones met start before the window's end and are the
        # last starting at or before its start, or later
        iy = max(int(np.searchsorted(self._ys, r, "right")) - 1, 0)
        ix = max(int(np.searchsorted(self._xs, c, "right")) - 1, 0)
        for y0 in self._ys[iy : int(np.searchsorted(self._ys, r + h, "left"))]:
            for x0 in self._xs[ix : int(np.searchsorted(self._xs, c + w, "left"))]:
                entry = self._tiles.get((int(y0), int(x0)))
                if entry is None:
                    continue
                task, th, tw = entry
                # the overlap, in region and in tile coordinates
                ra, rb = max(r, int(y0)), min(r + h, int(y0) + th)
                ca, cb = max(c, int(x0)), min(c + w, int(x0) + tw)
                if ra >= rb or ca >= cb:
                    continue
                layers = self._layers(task)
                if layers is None:
                    continue  # a failed tile: no data
                for k in self.layers:
                    out[k][ra - r : rb - r, ca - c : cb - c] = layers[k][
                        ra - int(y0) : rb - int(y0), ca - int(x0) : cb - int(x0)
                    ]
        return out


def write_mosaics(
    tasks: Sequence[TileTask],
    geobox: Any,
    out: Path,
    periods: Sequence[str],
    scheme: str = "v1",
    blocksize: int = 512,
) -> dict[str, dict[str, Path]]:
    """Write each period's layers as region COGs, ``out/<period>/<layer>.tif``, streaming."""
    import contextlib

    from hlsmap.outputs import cog

    written: dict[str, dict[str, Path]] = {}
    for name in periods:
        source = TileMosaic(tasks, geobox, name)
        folder = out / name
        with contextlib.ExitStack() as stack:
            writers = {
                "class": stack.enter_context(
                    cog.cog_stream(folder / "class.tif", geobox, DTYPES["class"],
                                   blocksize=blocksize, **cog.class_cog_options(scheme))
                )
            }  # fmt: skip
            for k in LAYERS[1:]:
                writers[k] = stack.enter_context(
                    cog.cog_stream(folder / f"{k}.tif", geobox, DTYPES[k], nodata=NODATA[k],
                                   blocksize=blocksize)
                )  # fmt: skip
            for window in block_windows(source.shape, blocksize):
                block = source.read(window)
                for k, writer in writers.items():
                    writer.write(window, block[k])
        written[name] = {k: folder / f"{k}.tif" for k in LAYERS}
    return written
