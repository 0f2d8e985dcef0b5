"""TensorFlow's two image resizes used by Dynamic World, as separable gathers (JAX).

Each resize is a per-axis list of taps: output ``o`` along an axis is
``sum_k w[o, k] * x[idx[o, k]]``. The taps are computed with NumPy from the static shapes (at
trace time under ``jit``), so XLA sees a few gathers and multiply-adds per axis: far cheaper
than dense ``(out, in)`` matrices on large tiles.

* :func:`resize_half_antialias`: ``tf.image.resize(x, (H // 2, W // 2), antialias=True)``,
  i.e. ``ScaleAndTranslate`` with the triangle kernel, scale ``out / in``, translation 0.
* :func:`resize_bilinear`: ``tf.image.resize(x, size)`` bilinear with half-pixel centres and no
  antialiasing (TF2's default; ``ResizeBilinear(half_pixel_centers=True)``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Taps = tuple[np.ndarray, np.ndarray]  # (indices (out, K) int32, weights (out, K) float32)


def antialias_taps(in_size: int, out_size: int) -> Taps:
    """Taps of TF's ``ScaleAndTranslate`` (triangle kernel, antialias, translation 0).

    As in TF's ``ComputeSpansCore``: sample centre ``s = (o + 0.5) / scale`` with
    ``scale = out / in`` (float32 as TF computes it); when down-sampling the kernel is widened by
    ``1 / scale``; sources ``i`` in ``[ceil(s - r - 0.5), floor(s + r - 0.5)]`` (``r`` the
    widened radius), clipped to the image, get ``triangle((i + 0.5 - s) / kernel_scale)``,
    normalised to sum 1 per output.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize from {in_size} to {out_size} pixels: sizes must be >= 1")
    scale = np.float32(out_size) / np.float32(in_size)
    inv_scale = float(np.float32(1.0) / scale)
    kernel_scale = max(inv_scale, 1.0)  # antialias: widen the kernel when down-sampling
    radius = 1.0 * kernel_scale  # the triangle kernel's radius is 1
    rows: list[tuple[list[int], list[float]]] = []
    for o in range(out_size):
        s = (o + 0.5) * inv_scale
        start = min(max(math.ceil(s - radius - 0.5), 0), in_size - 1)
        end = min(max(math.floor(s + radius - 0.5), 0), in_size - 1) + 1
        idx = list(range(start, end))
        w = [max(0.0, 1.0 - abs((i + 0.5 - s) / kernel_scale)) for i in idx]
        total = sum(w)
        if total > 0:
            w = [v / total for v in w]
        rows.append((idx, w))
    return _pack(rows)


def bilinear_taps(in_size: int, out_size: int) -> Taps:
    """Taps of TF's half-pixel-centre bilinear resize (no antialiasing).

    Source coordinate ``c = (o + 0.5) * in / out - 0.5``; lower ``max(floor(c), 0)``, upper
    ``min(ceil(c), in - 1)``, fraction ``c - floor(c)`` (TF's ``compute_interpolation_weights``
    with the half-pixel scaler), so coordinates off the edge repeat the edge pixel.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize from {in_size} to {out_size} pixels: sizes must be >= 1")
    scale = float(np.float32(in_size) / np.float32(out_size))
    rows: list[tuple[list[int], list[float]]] = []
    for o in range(out_size):
        c = (o + 0.5) * scale - 0.5
        f = math.floor(c)
        lower = max(f, 0)
        upper = min(math.ceil(c), in_size - 1)
        lerp = c - f
        rows.append(([lower, upper], [1.0 - lerp, lerp]))
    return _pack(rows)


def _pack(rows: list[tuple[list[int], list[float]]]) -> Taps:
    k = max(len(idx) for idx, _ in rows)
    idx_arr = np.zeros((len(rows), k), np.int32)
    w_arr = np.zeros((len(rows), k), np.float32)  # padding taps: index 0 with weight 0
    for o, (idx, w) in enumerate(rows):
        idx_arr[o, : len(idx)] = idx
        w_arr[o, : len(w)] = w
    return idx_arr, w_arr


def taps_matrix(taps: Taps, in_size: int) -> np.ndarray:
    """The dense ``(out, in)`` matrix of a tap list (for tests and inspection)."""
    idx, w = taps
    m = np.zeros((idx.shape[0], in_size), np.float64)
    for o in range(idx.shape[0]):
        for i, v in zip(idx[o], w[o], strict=True):
            m[o, i] += v
    return m


def apply_taps(x: jax.Array, taps: Taps, axis: int) -> jax.Array:
    """Resample ``x`` along ``axis`` with a tap list."""
    idx, w = taps
    shape = [1] * x.ndim
    shape[axis] = idx.shape[0]
    out = None
    for k in range(idx.shape[1]):
        term = jnp.take(x, jnp.asarray(idx[:, k]), axis=axis) * jnp.asarray(
            w[:, k].reshape(shape), dtype=x.dtype
        )
        out = term if out is None else out + term
    assert out is not None
    return out


def resize_half_antialias(x: ArrayLike) -> jax.Array:
    """``(B, H, W, C)`` -> ``(B, H // 2, W // 2, C)`` as TF's antialiased triangle resize."""
    x = jnp.asarray(x)
    h, w = x.shape[1], x.shape[2]
    if h < 2 or w < 2:
        raise ValueError(f"cannot halve a {h}x{w} image: height and width must be >= 2")
    x = apply_taps(x, antialias_taps(h, h // 2), axis=1)
    return apply_taps(x, antialias_taps(w, w // 2), axis=2)


def resize_bilinear(x: ArrayLike, size: tuple[int, int]) -> jax.Array:
    """``(B, h, w, C)`` -> ``(B, H, W, C)``, TF2 ``tf.image.resize`` bilinear (half-pixel)."""
    x = jnp.asarray(x)
    x = apply_taps(x, bilinear_taps(x.shape[1], int(size[0])), axis=1)
    return apply_taps(x, bilinear_taps(x.shape[2], int(size[1])), axis=2)
