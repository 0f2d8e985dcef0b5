"""Soft targets from a teacher's consensus, and the chips of every observation labelled with them.

The teacher's per-period consensus (mean clear-sky probabilities of the 9 surface classes, its
confidence and n_valid, on the 30 m grid) becomes, per pixel, a 10-class target (cloud 0) and a
weight: 1 where the teacher is sure (confidence >= ``min_confidence`` percent and at least
``min_valid`` clear observations), ``unsure_weight`` where it is not (0: ignored), 0 where it
mapped nothing. Each observation of the period, L30 and S30 alike, is then cut into chips with
those targets, except where its Fmask says cloud or cloud shadow: there the target is the cloud
class (weight 1), so the student keeps a cloud class; pixels adjacent to cloud are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.training.chips import FMASK_FILL, Observation

CLOUD_OR_SHADOW = 0b0000_1010  # Fmask bits 1 (cloud) and 3 (cloud shadow)
ADJACENT = 0b0000_0100  # Fmask bit 2: adjacent to cloud/shadow


@dataclass(frozen=True)
class Thresholds:
    """Which teacher pixels a student learns from, and how much.

    Attributes:
        min_confidence: teacher consensus confidence (percent) below which a pixel is unsure.
        min_valid: clear teacher observations below which a pixel is unsure.
        unsure_weight: loss weight of unsure pixels (0 ignores them).
    """

    min_confidence: int = 50
    min_valid: int = 2
    unsure_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence <= 100:
            raise ConfigError(f"min_confidence={self.min_confidence}: give a percentage 0..100")
        if self.min_valid < 1:
            raise ConfigError(f"min_valid={self.min_valid}: give at least 1")
        if not 0.0 <= self.unsure_weight <= 1.0:
            raise ConfigError(f"unsure_weight={self.unsure_weight}: give 0..1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (chip attrs, model provenance)."""
        return {
            "min_confidence": self.min_confidence,
            "min_valid": self.min_valid,
            "unsure_weight": self.unsure_weight,
            "cloud": "Fmask cloud/shadow -> cloud class, weight 1; adjacent -> ignored",
        }


def teacher_targets(
    probs: np.ndarray, confidence: np.ndarray, n_valid: np.ndarray, th: Thresholds
) -> tuple[np.ndarray, np.ndarray]:
    """``(soft (H, W, 10) uint8, weight (H, W) uint8)`` from a teacher consensus.

    Args:
        probs: ``(H, W, 9)`` uint8 mean probabilities x 255 (0 where not mapped).
        confidence: ``(H, W)`` uint8 percent.
        n_valid: ``(H, W)`` clear observations.
        th: the thresholds.
    """
    p = np.asarray(probs)
    if p.ndim != 3 or p.shape[-1] != NUM_CLASSES - 1:
        raise ConfigError(f"teacher probabilities have shape {p.shape}; expected (H, W, 9)")
    soft = np.zeros((*p.shape[:2], NUM_CLASSES), np.uint8)
    soft[..., : NUM_CLASSES - 1] = p
    mapped = p.sum(axis=-1, dtype=np.int64) > 0
    sure = mapped & (np.asarray(confidence) >= th.min_confidence)
    sure &= np.asarray(n_valid) >= th.min_valid
    weight = np.where(sure, 255, 0)
    weight = np.where(mapped & ~sure, int(round(255 * th.unsure_weight)), weight)
    return soft, weight.astype(np.uint8)


def observation_targets(
    soft: np.ndarray, weight: np.ndarray, fmask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One observation's ``(soft, weight, labels)``: the period's targets with Fmask applied."""
    f = np.asarray(fmask)
    s, w = soft.copy(), weight.copy()
    observed = f != FMASK_FILL
    cloudy = observed & ((f & CLOUD_OR_SHADOW) != 0)
    s[cloudy] = 0
    s[cloudy, CLOUD - 1] = 255
    w[cloudy] = 255
    w[~observed | (observed & ~cloudy & ((f & ADJACENT) != 0))] = 0
    labels = np.where(w > 0, np.argmax(s, axis=-1) + 1, 0).astype(np.uint8)
    return s, w, labels


def soft_observations(
    items: list[Any],
    geobox: Any,
    soft: np.ndarray,
    weight: np.ndarray,
    region: str,
    bands: tuple[str, ...],
    max_obs: int | None = None,
) -> Iterator[Observation]:
    """Every observation of ``items`` on ``geobox`` with the period's soft targets.

    Observations (one sensor, one solar day) are loaded one at a time through
    :func:`hlsmap.cube.load_cube`, the reader inference uses.
    """
    from hlsmap.cube import load_cube
    from hlsmap.inference.tasks import observation_batches
    from hlsmap.training.chips import observations_from_cube

    groups = observation_batches(items, 1)
    if max_obs is not None and len(groups) > max_obs:
        pick = np.linspace(0, len(groups) - 1, max_obs).round().astype(int)
        groups = [groups[i] for i in sorted(set(pick.tolist()))]
    for group in groups:
        cube = load_cube(group, geobox=geobox, bands=bands)
        for obs in observations_from_cube(cube, np.zeros(geobox.shape, np.uint8),
                                          ids=[f"{region}/{group[0].id}"]):  # fmt: skip
            s, w, labels = observation_targets(soft, weight, obs.fmask)
            obs.soft, obs.weight, obs.labels, obs.region = s, w, labels, region
            yield obs
