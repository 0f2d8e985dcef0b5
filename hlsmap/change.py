"""Change between two class maps: from-to transitions, named change layers, minimum mapping unit.

The transition raster encodes ``from * 10 + to`` (11..99; unchanged pixels are 11, 22, ...; 0
where either map has no data). A minimum mapping unit (MMU) removes changed patches smaller than
``mmu`` pixels (8-connected): their pixels count as unchanged, so single-pixel noise leaves both
the transition matrix and the named layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hlsmap.change_rule import is_rotation
from hlsmap.classes import CODES, NODATA, SURFACE_CLASSES
from hlsmap.errors import ConfigError

_TREES, _BUILT, _CROPS, _WATER = CODES["trees"], CODES["built"], CODES["crops"], CODES["water"]

SURFACE_CODES: tuple[int, ...] = tuple(c.code for c in SURFACE_CLASSES)

NamedRule = Callable[[np.ndarray, np.ndarray], np.ndarray]
NAMED_CHANGES: dict[str, NamedRule] = {
    "tree_loss": lambda a, b: (a == _TREES) & (b != _TREES),
    "new_built": lambda a, b: (a != _BUILT) & (b == _BUILT),
    "cropland_gain": lambda a, b: (a != _CROPS) & (b == _CROPS),
    "cropland_loss": lambda a, b: (a == _CROPS) & (b != _CROPS),
    "water_gain": lambda a, b: (a != _WATER) & (b == _WATER),
    "water_loss": lambda a, b: (a == _WATER) & (b != _WATER),
    # flagged, not land-cover change (grass <-> crops, crops <-> bare): see hlsmap.change_rule
    "rotation": is_rotation,
}
"""Named change layers: ``name -> rule(before, after) -> bool`` (pixels mapped in both)."""


def pixel_area_ha(geobox: Any) -> float:
    """Area of one pixel of a projected GeoBox in hectares."""
    if geobox.crs is None or geobox.crs.geographic:
        raise ConfigError(
            "area statistics need a projected grid in metres (e.g. UTM); reproject the map first"
        )
    res = geobox.resolution
    return abs(float(res.x) * float(res.y)) / 10_000.0


def hectares_per_pixel(geobox_or_area: Any) -> float:
    """Pixel area in hectares from a GeoBox, or a number passed through."""
    if isinstance(geobox_or_area, int | float | np.number):
        return float(geobox_or_area)
    return pixel_area_ha(geobox_or_area)


def transition_matrix(before: Any, after: Any, geobox: Any) -> np.ndarray:
    """From-to matrix in hectares: ``m[i, j]`` = area of class ``i + 1`` that became ``j + 1``.

    Only pixels mapped in both maps count, so the matrix sums to their area.
    """
    a, b = np.asarray(before), np.asarray(after)
    if a.shape != b.shape:
        raise ConfigError(f"maps of different shapes {a.shape} and {b.shape}; use one grid")
    n = len(SURFACE_CODES)
    both = (a >= 1) & (a <= n) & (b >= 1) & (b <= n)
    idx = (a[both].astype(np.int64) - 1) * n + (b[both].astype(np.int64) - 1)
    return np.bincount(idx, minlength=n * n).reshape(n, n) * hectares_per_pixel(geobox)


def transition_codes(before: Any, after: Any) -> np.ndarray:
    """``from * 10 + to`` as uint8, 0 where either map is no data."""
    a, b = np.asarray(before), np.asarray(after)
    if a.shape != b.shape:
        raise ConfigError(f"maps of different shapes {a.shape} and {b.shape}; use one grid")
    both = (a != NODATA) & (b != NODATA) & (a < 10) & (b < 10)
    return np.where(both, a.astype(np.uint8) * 10 + b.astype(np.uint8), 0).astype(np.uint8)


def apply_mmu(mask: Any, min_pixels: int, connectivity: int = 8) -> np.ndarray:
    """Drop connected patches of ``mask`` smaller than ``min_pixels``.

    Args:
        mask: bool ``(H, W)``.
        min_pixels: the minimum mapping unit in pixels (1 keeps everything).
        connectivity: 4 or 8 (default: diagonal neighbours join a patch).
    """
    from scipy import ndimage

    m = np.asarray(mask, bool)
    if min_pixels <= 1 or not m.any():
        return m.copy()
    if connectivity not in (4, 8):
        raise ConfigError(f"connectivity must be 4 or 8, not {connectivity}")
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    labels, _ = ndimage.label(m, structure=structure)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def mmu_pixels(mmu_ha: float, geobox: Any) -> int:
    """A minimum mapping unit in hectares as a whole number of pixels (at least 1)."""
    return max(1, int(np.ceil(mmu_ha / pixel_area_ha(geobox) - 1e-9)))


@dataclass
class ChangeResult:
    """Change between two maps.

    Attributes:
        transitions: uint8 ``from * 10 + to`` after the MMU (0 no data).
        layers: ``{name: bool mask}`` for :data:`NAMED_CHANGES`, after the MMU.
        matrix: ``(9, 9)`` hectares, rows = from, columns = to (``None`` without a GeoBox).
        mmu: the minimum mapping unit applied, in pixels.
    """

    transitions: np.ndarray
    layers: dict[str, np.ndarray]
    matrix: np.ndarray | None
    mmu: int

    @property
    def changed(self) -> np.ndarray:
        """Pixels whose class changed (after the MMU)."""
        t = self.transitions
        return (t != 0) & (t // 10 != t % 10)


def compute_change(
    before: Any,
    after: Any,
    geobox: Any = None,
    mmu: int = 1,
    connectivity: int = 8,
    decided: Any = None,
) -> ChangeResult:
    """Transitions, named layers and the transition matrix between two class maps.

    Args:
        before, after: class maps on the same grid (codes 1..9, 0 no data).
        geobox: the maps' GeoBox (or pixel area in hectares) for the matrix; ``None`` skips it.
        mmu: minimum mapping unit in pixels; smaller changed patches count as unchanged.
        connectivity: 4 or 8 for the patches.
        decided: optional bool mask of the flips the evidence supports
            (:func:`hlsmap.change_rule.decide_change`); other flips count as unchanged, before
            the MMU.
    """
    a, b = np.asarray(before), np.asarray(after)
    t = transition_codes(a, b)
    flips = (t != 0) & (a != b)
    changed = flips.copy()
    if decided is not None:
        d = np.asarray(decided, bool)
        if d.shape != a.shape:
            raise ConfigError(f"the decided mask has shape {d.shape}, the maps {a.shape}")
        changed &= d
    kept = apply_mmu(changed, mmu, connectivity)
    # flips the evidence does not support and pixels in too-small patches revert to
    # "unchanged": after = before
    b_clean = np.where(flips & ~kept, a, b)
    t = transition_codes(a, b_clean)
    both = t != 0
    layers = {
        name: apply_mmu(rule(a, b_clean) & both, mmu, connectivity)
        for name, rule in NAMED_CHANGES.items()
    }
    matrix = None if geobox is None else transition_matrix(a, b_clean, geobox)
    return ChangeResult(transitions=t, layers=layers, matrix=matrix, mmu=int(mmu))
