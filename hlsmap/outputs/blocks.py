"""Block-wise processing of region rasters: windows, layer sources, exact decimation.

Region products are written window by window (:func:`hlsmap.outputs.cog.cog_stream`), so their
memory is bounded by the window, not the region. A *layer source* hands out the layers of any
window: :class:`ArraySource` slices arrays already in memory (the consensus of one grid),
:class:`hlsmap.inference.mosaic.TileMosaic` pastes the window from a region run's tile files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np

Window = tuple[int, int, int, int]
"""``(row_off, col_off, height, width)`` of a window of a region grid."""


def block_windows(shape: tuple[int, ...], size: int) -> Iterator[Window]:
    """The ``size`` x ``size`` windows of a grid in row-major order (edge windows smaller)."""
    h, w = int(shape[0]), int(shape[1])
    for r in range(0, h, size):
        for c in range(0, w, size):
            yield r, c, min(size, h - r), min(size, w - c)


def window_slices(window: Window) -> tuple[slice, slice]:
    """NumPy slices of a window."""
    r, c, h, w = window
    return slice(r, r + h), slice(c, c + w)


class LayerSource(Protocol):
    """Layers of a region, read one window at a time."""

    shape: tuple[int, int]
    dtypes: Mapping[str, np.dtype[Any]]
    """Layer name -> dtype (the layers the source holds)."""

    def read(self, window: Window) -> dict[str, np.ndarray]:
        """Every layer of ``window``, each ``(height, width)``."""
        ...


class ArraySource:
    """A :class:`LayerSource` over 2-D arrays (numpy, dask or an ``xarray.Dataset``'s).

    A Dataset's variables that are not 2-D are left out.
    """

    def __init__(self, layers: Any) -> None:
        names = list(layers.data_vars) if hasattr(layers, "data_vars") else list(layers)
        data = {k: getattr(layers[k], "data", layers[k]) for k in names}
        self._data = {k: v for k, v in data.items() if len(v.shape) == 2}
        shapes = {tuple(v.shape) for v in self._data.values()}
        if len(shapes) != 1:
            raise ValueError(f"layers must be 2-D arrays of one shape, got {shapes or 'none'}")
        h, w = next(iter(shapes))
        self.shape = (int(h), int(w))
        self.dtypes = {k: np.dtype(v.dtype) for k, v in self._data.items()}

    def read(self, window: Window) -> dict[str, np.ndarray]:
        s = window_slices(window)
        return {k: np.asarray(v[s]) for k, v in self._data.items()}


def decimation_step(shape: tuple[int, ...], max_size: int) -> int:
    """The step of a nearest decimation that brings the longer side to ``max_size`` or less."""
    longest = max(int(shape[0]), int(shape[1]))
    return int(np.ceil(longest / max_size)) if longest > max_size else 1


class Decimator:
    """``a[::step, ::step]`` of a region, gathered window by window (a small array in memory).

    Args:
        shape: the region's shape.
        max_size: longest side of the result (see :func:`decimation_step`).
        dtype: the result's dtype.
        fill: value of pixels no window covered.
    """

    def __init__(self, shape: tuple[int, ...], max_size: int, dtype: Any, fill: int = 0) -> None:
        self.step = decimation_step(shape, max_size)
        s = self.step
        out = (-(-int(shape[0]) // s), -(-int(shape[1]) // s))
        self.array = np.full(out, fill, dtype)

    def add(self, window: Window, block: np.ndarray) -> None:
        """Take the kept pixels of one window."""
        r, c, _, _ = window
        s = self.step
        dr, dc = (-r) % s, (-c) % s
        part = block[dr::s, dc::s]
        r0, c0 = (r + dr) // s, (c + dc) // s
        self.array[r0 : r0 + part.shape[0], c0 : c0 + part.shape[1]] = part
