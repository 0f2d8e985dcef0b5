"""Sliding windows over an image with overlap, and the smooth weights that blend them.

A U-Net sees a finite neighbourhood and pads its borders with zeros, so its predictions near a
window's edge are worse than in the middle. Windows therefore overlap by ``overlap`` pixels and
their predictions are blended with weights that fall smoothly to (almost) zero at the window
edges: ``sin^2`` ramps whose rising and falling halves sum to exactly one over an overlap, so the
blend is a partition of unity and shows no seam. Pixels covered by one window only get that
window's prediction unchanged (the blend divides by the summed weights).

Everything here is NumPy: the plan is static per image shape, so the jitted model always sees the
same window shape and compiles once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hlsmap.errors import ConfigError

# Smallest blending weight: keeps the weight sum > 0 at image borders (covered by one window's
# falling ramp only) while giving zero-padded window edges a negligible say where windows overlap.
_MIN_WEIGHT = 1e-4


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple`` (``multiple`` >= 1)."""
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class WindowPlan:
    """Where the windows of one image lie.

    Attributes:
        height: image height (pixels) before padding.
        width: image width before padding.
        window: ``(wh, ww)``, the shape of every window (multiples of the model's multiple).
        overlap: pixels shared by two neighbouring windows (at least; the last window of a row
            or column is shifted back to end on the image edge, so it may overlap more).
        padded: ``(ph, pw)``, the image shape after zero padding at the bottom/right so that the
            windows fit (only images smaller than a window get padded).
        starts_y: top rows of the windows, in padded-image coordinates.
        starts_x: left columns of the windows.
    """

    height: int
    width: int
    window: tuple[int, int]
    overlap: int
    padded: tuple[int, int]
    starts_y: tuple[int, ...]
    starts_x: tuple[int, ...]

    @property
    def origins(self) -> list[tuple[int, int]]:
        """Top-left ``(y, x)`` of every window, row-major."""
        return [(y, x) for y in self.starts_y for x in self.starts_x]

    def __len__(self) -> int:
        return len(self.starts_y) * len(self.starts_x)


def _starts(length: int, window: int, overlap: int) -> tuple[int, ...]:
    """Window starts covering ``[0, length)``; the last one ends exactly at the edge."""
    if length <= window:
        return (0,)
    stride = window - overlap
    count = math.ceil((length - overlap) / stride)
    starts = [min(i * stride, length - window) for i in range(count)]
    return tuple(sorted(set(starts)))


def plan_windows(
    height: int, width: int, *, window: int = 256, overlap: int = 32, multiple: int = 1
) -> WindowPlan:
    """Plan the sliding windows over an image.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        window: the largest window side; it is rounded up to ``multiple`` and shrunk (to the
            image side rounded up to ``multiple``) for images smaller than one window.
        overlap: pixels two neighbouring windows share (the blend zone); must be smaller than
            half a window so that a pixel is covered by at most two windows per axis.
        multiple: the model's input multiple (``2 ** depth`` for a U-Net).

    Returns:
        The plan: window shape, padded image shape and window origins.

    Raises:
        ConfigError: for non-positive sizes or an overlap that does not fit the window.
    """
    if height < 1 or width < 1:
        raise ConfigError(f"image shape must be positive, got {height}x{width}")
    if window < 1 or multiple < 1:
        raise ConfigError(f"window ({window}) and multiple ({multiple}) must be >= 1")
    if overlap < 0:
        raise ConfigError(f"overlap must be >= 0, got {overlap}")
    window = round_up(window, multiple)
    wh = min(window, round_up(height, multiple))
    ww = min(window, round_up(width, multiple))
    for side in (wh, ww):
        if side < window:
            continue  # a single window on this axis: no overlap needed
        if 2 * overlap >= side:
            raise ConfigError(
                f"overlap {overlap} must be smaller than half the window ({side}); "
                "use a larger window or a smaller overlap"
            )
    padded = (max(height, wh), max(width, ww))
    return WindowPlan(
        height=height,
        width=width,
        window=(wh, ww),
        overlap=overlap,
        padded=padded,
        starts_y=_starts(padded[0], wh, overlap),
        starts_x=_starts(padded[1], ww, overlap),
    )


def _ramp(length: int, overlap: int) -> np.ndarray:
    """1-D weights: ``sin^2`` rise over ``overlap`` pixels at both ends, 1 in between."""
    if overlap == 0:
        return np.ones(length, np.float32)
    i = np.arange(length, dtype=np.float64)
    # distance (in overlaps) from the nearer edge, measured at pixel centres
    t = np.minimum(i + 0.5, length - i - 0.5) / overlap
    w = np.where(t < 1.0, np.sin(0.5 * np.pi * np.clip(t, 0.0, 1.0)) ** 2, 1.0)
    return np.maximum(w, _MIN_WEIGHT).astype(np.float32)


def blend_weights(plan: WindowPlan) -> np.ndarray:
    """The ``(wh, ww)`` float32 blending weights shared by every window of ``plan``."""
    wh, ww = plan.window
    return np.outer(_ramp(wh, plan.overlap), _ramp(ww, plan.overlap)).astype(np.float32)


def pad_image(image: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """Zero-pad ``image`` (…, H, W, C) at the bottom/right to ``plan.padded``.

    Zero is the normalized value of fill pixels (the model contract), so padding looks like
    missing data to the model, not like a dark surface.
    """
    ph, pw = plan.padded
    h, w = image.shape[-3], image.shape[-2]
    if (h, w) == (ph, pw):
        return image
    pad = [(0, 0)] * image.ndim
    pad[-3] = (0, ph - h)
    pad[-2] = (0, pw - w)
    return np.pad(image, pad)


def weight_sum(plan: WindowPlan) -> np.ndarray:
    """Sum of all windows' blending weights over the padded image, shape ``plan.padded``."""
    weights = blend_weights(plan)
    total = np.zeros(plan.padded, np.float32)
    wh, ww = plan.window
    for y, x in plan.origins:
        total[y : y + wh, x : x + ww] += weights
    return total


def single_cover_mask(plan: WindowPlan) -> np.ndarray:
    """Boolean ``(height, width)``: pixels covered by exactly one window.

    These are the pixels outside every blend zone, where tiled prediction equals that window's
    prediction exactly (the blend divides by the weight sum); used by tests and diagnostics.
    """
    count = np.zeros(plan.padded, np.int32)
    wh, ww = plan.window
    for y, x in plan.origins:
        count[y : y + wh, x : x + ww] += 1
    return (count == 1)[: plan.height, : plan.width]
