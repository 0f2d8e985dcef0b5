"""Per-observation regional index series of a tile (NDVI, MNDWI), stored with its predictions.

``hlsmap consensus --season auto`` detects wet/dry seasons from one number per observation: the
mean NDVI (and MNDWI) of the observation's clear pixels (:mod:`hlsmap.predictions` stores them
as ``ndvi`` / ``mndwi``). A tile task computes them here from the reflectance it already read
for the model, over the tile without its halo, so the series costs no extra read. The formulas
and the clear test are those of :func:`hlsmap.seasons.regional_series` (which does the same on a
cube): not fill, Fmask bits 1-3 (cloud, adjacent, shadow) unset, both bands positive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

INDEX_BANDS: dict[str, tuple[str, str]] = {"ndvi": ("nir08", "red"), "mndwi": ("green", "swir16")}
"""Each index as ``(a, b)``: ``(a - b) / (a + b)``."""

_NOT_CLEAR = 0b1110  # Fmask bits 1-3: cloud, adjacent to cloud/shadow, cloud shadow


def observation_indices(
    bands: np.ndarray,
    fmask: np.ndarray,
    band_names: Sequence[str],
    crop: tuple[slice, slice] | None = None,
) -> list[dict[str, float | None]]:
    """Mean NDVI and MNDWI of each observation's clear pixels.

    Args:
        bands: int16 ``(T, H, W, C)`` reflectance in ``band_names`` order (-9999 fill).
        fmask: uint8 ``(T, H, W)`` HLS Fmask (255 fill).
        band_names: the hlsmap band name of each channel.
        crop: the ``(rows, cols)`` part to average over (a tile without its halo).

    Returns:
        Per observation ``{"ndvi": v, "mndwi": v}``; ``None`` where the bands an index needs
        are not read (a model without SWIR) or no pixel is clear.
    """
    core = crop or (slice(None), slice(None))
    fm = fmask[:, core[0], core[1]]
    clear = (fm != 255) & ((fm & _NOT_CLEAR) == 0)
    names = list(band_names)
    sums: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for index, (a_name, b_name) in INDEX_BANDS.items():
        if a_name not in names or b_name not in names:
            sums[index] = None
            continue
        a = bands[:, core[0], core[1], names.index(a_name)].astype(np.float32)
        b = bands[:, core[0], core[1], names.index(b_name)].astype(np.float32)
        ok = clear & (a > 0) & (b > 0)
        nd = np.divide(a - b, a + b, out=np.zeros_like(a), where=ok)
        sums[index] = (nd.sum(axis=(1, 2), dtype=np.float64), ok.sum(axis=(1, 2)))
    out: list[dict[str, float | None]] = []
    for t in range(bands.shape[0]):
        row: dict[str, float | None] = {}
        for index, s in sums.items():
            row[index] = None if s is None or s[1][t] == 0 else float(s[0][t] / s[1][t])
        out.append(row)
    return out
