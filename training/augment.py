"""Host-side augmentation and normalization of training batches (numpy, in the loader thread).

Every draw comes from a generator seeded by ``(seed, step)``, so the batch of a step is the same
after a resume.
"""

from __future__ import annotations

import numpy as np

from hlsmap.model import FILL, ModelMetadata
from hlsmap.training.configs.base import AugmentConfig


def random_crop(
    rng: np.random.Generator, arrays: list[np.ndarray], size: int | None
) -> list[np.ndarray]:
    """Crop every array (``(B, H, W, ...)``) to ``size`` at one random offset per sample."""
    b, h, w = arrays[0].shape[:3]
    if size is None or (size >= h and size >= w):
        return arrays
    rows = rng.integers(0, h - size + 1, size=b)
    cols = rng.integers(0, w - size + 1, size=b)
    out = []
    for a in arrays:
        out.append(np.stack([a[i, r : r + size, c : c + size] for i, (r, c) in
                             enumerate(zip(rows, cols, strict=True))]))  # fmt: skip
    return out


def dihedral(
    rng: np.random.Generator, arrays: list[np.ndarray], flips: bool, rot90: bool
) -> list[np.ndarray]:
    """Random flips and 90-degree rotations, the same per sample across arrays."""
    b = arrays[0].shape[0]
    k = np.asarray(rng.integers(0, 4, size=b) if rot90 else np.zeros(b, int))
    fl = np.asarray(rng.integers(0, 2, size=b) if flips else np.zeros(b, int))
    out = [a.copy() for a in arrays]
    for i in range(b):
        for j, a in enumerate(arrays):
            s = np.rot90(a[i], k=int(k[i]), axes=(0, 1))
            out[j][i] = s[:, ::-1] if fl[i] else s
    return out


def make_inputs(
    bands: np.ndarray,
    sensors: list[str],
    meta: ModelMetadata,
    rng: np.random.Generator | None = None,
    cfg: AugmentConfig | None = None,
) -> np.ndarray:
    """Normalized float32 network inputs for a batch, with brightness jitter and sensor mixing.

    Args:
        bands: ``(B, H, W, C)`` int16 reflectance (fill -9999).
        sensors: sensor name per sample.
        meta: model metadata holding the normalization.
        rng, cfg: augmentation draws and settings; ``None`` for evaluation (no augmentation).
    """
    x = bands.astype(np.float32)
    fill = bands == FILL
    out = np.empty((*bands.shape[:3], meta.num_inputs), np.float32)
    known = [s for s in meta.normalization]
    for i in range(bands.shape[0]):
        xi = x[i]
        sensor = sensors[i]
        if rng is not None and cfg is not None:
            gain = 1.0 + rng.uniform(-cfg.brightness, cfg.brightness)
            gain = gain * (1.0 + rng.uniform(-cfg.band_jitter, cfg.band_jitter, size=xi.shape[-1]))
            xi = np.where(fill[i], FILL, xi * gain.astype(np.float32))
            if len(known) > 1 and rng.random() < cfg.sensor_mix:
                sensor = known[int(rng.integers(0, len(known)))]
        out[i] = meta.normalize(xi, sensor)
    return out
