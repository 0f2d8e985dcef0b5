"""Transient classes in the consensus: snow/ice and water win a map only where they persist.

Snow/ice and water come and go with the seasons, and an annual map shows the land cover
(Impact Observatory and ESA WorldCover map snow/ice only where it persists, and water where it
is there most of the year). The state counts, per slot, the valid
observations whose top-1 surface class is water and snow/ice; their (month-balanced) shares of
a period's valid observations are the ``water_share`` and ``snow_share`` layers. A transient
class whose share in a pixel is below its ``persist`` threshold does not compete: its
observations drop out (under ``mean_prob`` a transient-labelled observation adds all its
weight to its label, so dropping the label drops exactly those observations) and the land cover
under it wins from the other observations, with its confidence among them. At or above the
threshold the class competes with its full weight, as without the rule. Where every valid
observation of a pixel is a non-persistent transient, the one with the larger share wins.
``persist=None`` turns the rule off (every observation votes with all its probabilities, the
behaviour before the rule; the share layers are still made).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hlsmap.errors import ConfigError
from hlsmap.predictions import SCALE

TRANSIENT: dict[str, int] = {"water": 1, "snow": 9}
"""The transient classes (name -> class code), in the order their counts sit in the state."""
PERSIST: dict[str, float] = {"water": 0.4, "snow": 0.6}
"""Default share of a period's valid observations a transient class needs to win a pixel.

Chosen on the synthetic worlds (256 px, one year, seed 11 of each climate, the tropical-trained
demo model; plumbing figures on synthetic spectra, not claims about real places), annual
accuracy with ``mean_prob``: snow threshold off / 0.4 / 0.5 / 0.6 / 0.7 / 0.8 gives 71.6 /
73.1 / 78.7 / 83.8 / 79.7 / 76.3% on the snow world, 91.2 / 90.8 / 91.8 / 91.3 / 87.7 / 87.0%
on the temperate one and 94.3 / 94.4 / 94.4 / 94.2 / 93.8 / 93.8% on the tropical one: 0.6 is
best over the three (the world's truth is the dominant class, so seasonal snow up to half the
year is land; snow seen between winter trees, which the truth keeps as trees, needs the margin).
Water at 0.3-0.7 moves every world by under 0.5 points; 0.4 leaves room for label noise (a
model that mislabels a quarter of its looks still maps a flood of two thirds of a season).
"""


def check_persist(persist: Mapping[str, float] | None) -> dict[str, float]:
    """The ``persist`` thresholds, checked (``None``: the rule off, ``{}``)."""
    out: dict[str, float] = {}
    for name, value in (persist or {}).items():
        if name not in TRANSIENT:
            raise ConfigError(
                f"persist names {name!r}; the transient classes are {', '.join(TRANSIENT)}"
            )
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"persist {name}={value} is not a share; give one in 0..1")
        out[name] = float(value)
    return out


def collapse_transient(
    q: np.ndarray, label: np.ndarray, valid: np.ndarray, persist: Mapping[str, float]
) -> None:
    """Put all the weight of each valid observation labelled with a transient class of
    ``persist`` on that class, in place (``q``: ``(H, W, 9)`` fixed-point probabilities,
    ``label``: their top-1 index), so that dropping the class drops exactly its observations."""
    for name in persist:
        c = TRANSIENT[name] - 1
        mine = valid & (label == c)
        if mine.any():
            q[mine] = 0
            q[mine, c] = SCALE


def winner(
    score: np.ndarray,
    denom: np.ndarray,
    n_valid: np.ndarray,
    shares: dict[str, tuple[np.ndarray, np.ndarray]],
    persist: dict[str, float],
    rule: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the winning label index, its score and the total it is a share of.

    Args:
        score: ``(H, W, 9)`` class scores of one period; ``denom``: their full-confidence total
            (:func:`hlsmap.consensus_slots.period_scores`).
        n_valid: ``(H, W)`` valid observations of the period.
        shares: per transient class, its ``(share, count)``
            (:func:`hlsmap.consensus_slots.period_shares`).
        persist: the checked thresholds (:func:`check_persist`); ``rule``: the consensus rule.

    Without ``persist``: the argmax of the scores over everything. With it, a transient
    class below its threshold drops out with its observations' weight (see the module
    notes); where nothing else is left, the transient with the larger share wins.
    """
    if not persist:
        best = np.argmax(score, axis=-1)
        return best, np.take_along_axis(score, best[..., None], axis=-1)[..., 0], denom
    keep = score.astype(np.float64)
    full = denom.astype(np.float64)
    total = full.copy()
    n_dropped = np.zeros(denom.shape, np.uint64)
    for name, threshold in persist.items():
        c = TRANSIENT[name] - 1
        share, count = shares[name]
        fleeting = share < threshold
        # the weight of the class's observations: one full vote each under mean_prob
        # (balanced like the scores), the class's own sum under the modes
        mass = share * full if rule == "mean_prob" else keep[..., c]
        total -= np.where(fleeting, mass, 0.0)
        keep[..., c] = np.where(fleeting, 0.0, keep[..., c])
        n_dropped += np.where(fleeting, count, 0).astype(np.uint64)
    best = np.argmax(keep, axis=-1)
    top = np.take_along_axis(keep, best[..., None], axis=-1)[..., 0]
    left = n_dropped < n_valid
    # nothing but dropped transients: the larger share wins (ties: the lower code)
    codes = np.array([code - 1 for code in TRANSIENT.values()])
    tr_share = np.stack([shares[name][0] for name in TRANSIENT], axis=-1)
    tr_best = codes[np.argmax(tr_share, axis=-1)]
    tr_top = np.take_along_axis(score, tr_best[..., None], axis=-1)[..., 0]
    best = np.where(left, best, tr_best)
    top = np.where(left, top, tr_top)
    # (float rounding of the balanced sums may leave total a hair under top)
    total = np.where(left, np.maximum(total, top), full)
    return best, top, total
