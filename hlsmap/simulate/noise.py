"""Random fields: spatially correlated noise that gives the world its texture.

Every function takes a :class:`numpy.random.Generator`; the caller derives one generator per
purpose from the world seed (:func:`rng_for`), so adding a draw in one place never shifts the
random numbers of another.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from scipy import ndimage


def rng_for(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator for one purpose: the same (seed, keys) always give the same stream."""
    words = [seed & 0xFFFFFFFF, seed >> 32]
    for key in keys:
        if isinstance(key, str):
            words.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little"))
        else:
            words.append(int(key) & 0xFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(words))


def fractal(
    rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0, scale_px: float = 0.0
) -> np.ndarray:
    """Zero-mean, unit-variance noise with a 1/f**beta power spectrum (float32).

    Args:
        rng: the random generator.
        shape: (rows, cols).
        beta: spectral slope; 2 is rough, 3-4 gives smooth terrain-like fields.
        scale_px: wavelengths longer than this (pixels) are damped, so the field has features of
            about this size whatever the array size (0 keeps all of them).
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    if scale_px > 0:
        amp *= 1.0 - np.exp(-((f * scale_px) ** 2))
    amp[0, 0] = 0.0
    spec = (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape)) * amp
    field = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    std = float(field.std())
    return field / std if std > 0 else field


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    feature_px: float,
    beta: float = 3.0,
    order: int = 1,
) -> np.ndarray:
    """Fractal noise computed on a coarse grid and zoomed up: cheap for large smooth fields.

    Args:
        rng: the random generator.
        shape: (rows, cols) of the result.
        feature_px: the typical feature size in pixels; the coarse grid has ~3 cells per
            feature, which keeps the field smooth while costing 1/64 of a full FFT or less.
        beta: spectral slope.
        order: spline order of the zoom (3 for fields whose gradients matter, like terrain).
    """
    h, w = shape
    factor = max(1, int(feature_px // 3))
    ch, cw = -(-h // factor) + 3, -(-w // factor) + 3
    coarse = fractal(rng, (ch, cw), beta=beta, scale_px=feature_px / factor * 4)
    if factor == 1:
        return coarse[:h, :w]
    if order == 1:
        # Separable linear interpolation by gathers: several times faster than ndimage.zoom,
        # and single-threaded (no BLAS threads fighting over a busy machine).
        r_lo, r_fr = _interp_index(h, ch, factor)
        c_lo, c_fr = _interp_index(w, cw, factor)
        rows = coarse[r_lo] * (1.0 - r_fr)[:, None] + coarse[r_lo + 1] * r_fr[:, None]
        out = rows[:, c_lo] * (1.0 - c_fr)[None, :] + rows[:, c_lo + 1] * c_fr[None, :]
    else:
        fine = ndimage.zoom(coarse, factor, order=order, prefilter=True)
        out = fine[factor : factor + h, factor : factor + w]
    std = float(out.std())
    return (out - out.mean()) / (std if std > 0 else 1.0)


@lru_cache(maxsize=32)
def _interp_index(n_out: int, n_in: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower neighbour and weight of each output sample (output i samples (i + factor)/factor)."""
    pos = (np.arange(n_out, dtype=np.float64) + factor) / factor
    lo = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 2)
    return lo, (pos - lo).astype(np.float32)


def quantile_mask(field: np.ndarray, share: float, where: np.ndarray | None = None) -> np.ndarray:
    """The ``share`` of pixels (within ``where``) with the highest field values."""
    share = float(np.clip(share, 0.0, 1.0))
    values = field[where] if where is not None else field.ravel()
    if values.size == 0 or share <= 0.0:
        return np.zeros(field.shape, dtype=bool)
    if share >= 1.0:
        return np.ones(field.shape, dtype=bool) if where is None else where.copy()
    threshold = np.quantile(values, 1.0 - share)
    mask = field > threshold
    return mask if where is None else mask & where
