"""A tiny in-memory stand-in for real imagery: class blobs with distinct spectra + clouds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hlsmap.training.chips import ChipStore, Observation, write_chips

# int16 reflectance per class code (blue, green, red, nir08, swir16, swir22)
SPECTRA = {
    1: (600, 700, 500, 300, 150, 100),  # water
    2: (300, 500, 300, 3500, 1700, 800),  # trees
    5: (500, 800, 700, 2800, 2300, 1400),  # crops
    8: (1500, 1800, 2100, 2600, 3200, 2800),  # bare
    10: (5000, 5100, 5200, 5500, 4200, 3000),  # cloud
}


def toy_labels(rng: np.random.Generator, size: int) -> np.ndarray:
    """Four classes in coarse blocks with a few rare water pixels."""
    coarse = rng.choice([2, 5, 8], size=(size // 8, size // 8))
    lab = np.kron(coarse, np.ones((8, 8), np.uint8)).astype(np.uint8)
    r, c = rng.integers(0, size - 6, size=2)
    lab[r : r + 6, c : c + 6] = 1
    return lab


def toy_observation(rng: np.random.Generator, i: int, size: int, labels: np.ndarray) -> Observation:
    lab = labels.copy()
    fmask = np.zeros((size, size), np.uint8)
    if i % 2:  # a cloud in every other observation
        r, c = rng.integers(0, size - 12, size=2)
        lab[r : r + 12, c : c + 12] = 10
        fmask[r : r + 12, c : c + 12] = 0b10
    bands = np.zeros((size, size, 6), np.float32)
    for code, spec in SPECTRA.items():
        bands[lab == code] = spec
    bands *= rng.normal(1.0, 0.08, size=(size, size, 1))
    bands += rng.normal(0, 40, size=bands.shape)
    return Observation(
        bands=bands.astype(np.int16),
        fmask=fmask,
        labels=lab,
        sensor=("L30", "S30")[i % 2],
        time=np.datetime64("2024-01-01") + np.timedelta64(3 * i, "D"),
        obs_id=f"obs{i}",
    )


def make_toy_chips(out: Path, n_obs: int = 8, size: int = 64, chip: int = 16, seed: int = 0,
                   holdout: float = 0.25) -> ChipStore:  # fmt: skip
    rng = np.random.default_rng(seed)
    labels = toy_labels(rng, size)
    obs = [toy_observation(rng, i, size, labels) for i in range(n_obs)]
    return write_chips(obs, out, chip_size=chip, holdout=holdout, seed=seed, total=n_obs)
