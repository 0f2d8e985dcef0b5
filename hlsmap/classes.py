"""The land-cover class scheme, its raster codes, palette and the v2 remap.

The model predicts 10 classes; output index ``i`` of the logits is the class with raster code
``i + 1`` (0 is no data). Consensus maps hold the 9 surface classes only (no clouds).
Codes follow Impact Observatory's 2020 land-cover map so maps open with familiar legends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NODATA = 0
"""Raster code for no data in every class map."""


@dataclass(frozen=True)
class LandCoverClass:
    """One class of the scheme.

    Attributes:
        code: the raster value (1..10; 0 is no data).
        name: a machine name (snake_case).
        title: the human name used in legends.
        color: hex colour ``#RRGGBB``.
    """

    code: int
    name: str
    title: str
    color: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as an ``(r, g, b)`` tuple of 0..255."""
        h = self.color.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(1, "water", "Water", "#419BDF"),
    LandCoverClass(2, "trees", "Trees", "#397D49"),
    LandCoverClass(3, "grass", "Grass", "#88B053"),
    LandCoverClass(4, "flooded_vegetation", "Flooded vegetation", "#7A87C6"),
    LandCoverClass(5, "crops", "Crops", "#E49635"),
    LandCoverClass(6, "scrub", "Scrub/shrub", "#DFC35A"),
    LandCoverClass(7, "built", "Built area", "#C4281B"),
    LandCoverClass(8, "bare", "Bare ground", "#A59B8F"),
    LandCoverClass(9, "snow_ice", "Snow/ice", "#B39FE1"),
    LandCoverClass(10, "clouds", "Clouds", "#FFFFFF"),
)
"""All 10 classes the model predicts, in logit order (index i <-> code i + 1)."""

NUM_CLASSES = len(CLASSES)
CLOUD = 10
"""Raster code of the cloud class."""

SURFACE_CLASSES: tuple[LandCoverClass, ...] = tuple(c for c in CLASSES if c.code != CLOUD)
"""The 9 classes consensus maps may hold."""

CODES: dict[str, int] = {c.name: c.code for c in CLASSES}
"""Class name -> raster code."""

BY_CODE: dict[int, LandCoverClass] = {c.code: c for c in CLASSES}

# Impact Observatory's v2 (9-class) scheme: grass + scrub merge into rangeland (11);
# flooded vegetation, built area, bare ground, snow/ice and clouds keep their codes.
V2_CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(1, "water", "Water", "#419BDF"),
    LandCoverClass(2, "trees", "Trees", "#397D49"),
    LandCoverClass(4, "flooded_vegetation", "Flooded vegetation", "#7A87C6"),
    LandCoverClass(5, "crops", "Crops", "#E49635"),
    LandCoverClass(7, "built", "Built area", "#C4281B"),
    LandCoverClass(8, "bare", "Bare ground", "#A59B8F"),
    LandCoverClass(9, "snow_ice", "Snow/ice", "#B39FE1"),
    LandCoverClass(10, "clouds", "Clouds", "#FFFFFF"),
    LandCoverClass(11, "rangeland", "Rangeland", "#E3E2C3"),
)
_V2_REMAP = {3: 11, 6: 11}


def code_to_index(codes: np.ndarray) -> np.ndarray:
    """Map raster codes (1..10) to logit indices (0..9); 0 (no data) becomes -1."""
    return np.asarray(codes).astype(np.int16) - 1


def index_to_code(index: np.ndarray) -> np.ndarray:
    """Map logit indices (0..9) to raster codes (1..10) as uint8."""
    return (np.asarray(index) + 1).astype(np.uint8)


def remap_v2(codes: np.ndarray) -> np.ndarray:
    """Remap a class raster from the 10-class scheme to Impact Observatory's v2 scheme.

    Grass (3) and scrub/shrub (6) become rangeland (11); every other code is kept.

    Args:
        codes: an integer array of raster codes.

    Returns:
        A uint8 array of the same shape with v2 codes.
    """
    out = np.asarray(codes).astype(np.uint8).copy()
    for src, dst in _V2_REMAP.items():
        out[np.asarray(codes) == src] = dst
    return out


def colormap(scheme: str = "v1") -> dict[int, tuple[int, int, int, int]]:
    """A GDAL colour table ``{code: (r, g, b, a)}`` with code 0 transparent.

    Args:
        scheme: ``"v1"`` (the 10-class scheme) or ``"v2"`` (Impact Observatory's 9 classes).
    """
    classes = CLASSES if scheme == "v1" else V2_CLASSES
    cmap: dict[int, tuple[int, int, int, int]] = {NODATA: (0, 0, 0, 0)}
    for c in classes:
        cmap[c.code] = (*c.rgb, 255)
    return cmap


def palette_array(scheme: str = "v1") -> np.ndarray:
    """A ``(256, 4)`` uint8 RGBA lookup table indexed by class code (for PNG quicklooks)."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for code, rgba in colormap(scheme).items():
        lut[code] = rgba
    return lut
