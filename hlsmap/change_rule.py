"""Change decided from the evidence: a per-pixel change confidence and the threshold on it.

Differencing two annual argmaxes calls every class flip a change, including the flips of a
pixel whose annual class was decided on a 51/49 vote or on a handful of clear observations; on
the demo world a third of what that calls change is not. The rule here weighs what the
consensus already knows about each year:

- ``confidence`` of both years (``mean_prob``: the mean top-1 probability of the winning class,
  so it is low where observations disagree within the year; ``mode``: the winner's vote share);
- ``n_valid`` of both years: a year seen on fewer than :data:`FULL_EVIDENCE_OBS` clear
  observations weighs less (linearly down to 0 at no observation);
- persistence, where later periods are given (the after year's season maps): the share of them
  that show the new class. A change that shows in the annual map but not in the latest periods
  is a transient (a flood, a fallow season).

The change confidence is the product of these factors (0..1, written as percent), i.e. an
estimate of the chance that both years' classes are right. A pixel is *changed* where its
classes differ and the confidence reaches :data:`CHANGE_THRESHOLD`.

Change types (:data:`CHANGE_TYPES`): tree loss, new construction, water gain and loss count as
land-cover change; transitions that are only crop rotation or season (grass <-> crops, crops <->
bare) are flagged ``rotation`` and not counted as land-cover change (GFW-style forest-loss and
JRC-style water products do not count a field's cycle); everything else is ``other``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hlsmap.classes import CODES, NODATA
from hlsmap.errors import ConfigError

CHANGE_THRESHOLD = 40
"""Change confidence (percent) a class flip needs to be mapped as change.

Chosen on the synthetic worlds (``bench/bench_change.py`` sweeps 1..60): on the demo world
(tropical, seed 0) 30-50 give precision >= 0.99 at recall 0.86-0.94, on seed 2 35-45 give
0.94-0.97 / 0.92-0.94; 40 is the middle of both. Seed 3 and the temperate world are not met
by any single value (see the README). Recorded in every change product's STAC item
(``hlsmap:change_threshold``)."""

FULL_EVIDENCE_OBS = 6
"""Valid observations a year needs for its class to count with full weight."""

NO_CONFIDENCE = 255
"""Change confidence where either year has no data."""

_TREES, _BUILT, _WATER = CODES["trees"], CODES["built"], CODES["water"]
_GRASS, _CROPS, _BARE = CODES["grass"], CODES["crops"], CODES["bare"]

_Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pairs = ((_GRASS, _CROPS), (_CROPS, _GRASS), (_CROPS, _BARE), (_BARE, _CROPS))
    out = np.zeros(np.broadcast(a, b).shape, bool)
    for x, y in pairs:
        out |= (a == x) & (b == y)
    return out


CHANGE_TYPES: dict[str, _Rule] = {
    "tree_loss": lambda a, b: (a == _TREES) & (b != _TREES),
    "new_built": lambda a, b: (a != _BUILT) & (b == _BUILT),
    "water_gain": lambda a, b: (a != _WATER) & (b == _WATER),
    "water_loss": lambda a, b: (a == _WATER) & (b != _WATER),
    "rotation": _rotation,
}
"""Change types ``name -> rule(before, after) -> bool``, evaluated on pixels whose class
differs. ``rotation`` is flagged, not land-cover change; a pixel can be of two land-cover types
(trees -> water is tree loss and water gain)."""

TYPE_TEXT = {
    "tree_loss": "trees before, another class after",
    "new_built": "new construction: built area after, another class before",
    "water_gain": "water after, another class before",
    "water_loss": "water before, another class after",
    "rotation": "crop rotation or season only (grass <-> crops, crops <-> bare); not counted",
}


def is_rotation(before: Any, after: Any) -> np.ndarray:
    """Where a class flip is only crop rotation or season (grass <-> crops, crops <-> bare)."""
    return _rotation(np.asarray(before), np.asarray(after))


def _share(value: Any, shape: tuple[int, ...], name: str, full: float) -> np.ndarray:
    """A quality layer as a 0..1 factor (``None``: 1 everywhere)."""
    if value is None:
        return np.ones(shape, np.float32)
    v = np.asarray(value, np.float32)
    if v.shape != shape:
        raise ConfigError(f"the {name} layer has shape {v.shape}, the maps {shape}; use one grid")
    return np.clip(v / full, 0.0, 1.0)


def persistence(after: Any, later: Sequence[Any]) -> np.ndarray:
    """Share (0..1) of the ``later`` class maps that show the ``after`` class.

    Maps with no data at a pixel do not count there; a pixel no later map sees keeps 1 (no
    evidence against the change).
    """
    b = np.asarray(after)
    agree = np.zeros(b.shape, np.float32)
    seen = np.zeros(b.shape, np.float32)
    for m in later:
        m = np.asarray(m)
        if m.shape != b.shape:
            raise ConfigError(f"a later map has shape {m.shape}, the maps {b.shape}; use one grid")
        ok = m != NODATA
        seen += ok
        agree += ok & (m == b)
    return np.where(seen > 0, agree / np.maximum(seen, 1), 1.0).astype(np.float32)


def change_confidence(
    before: Any,
    after: Any,
    conf_before: Any = None,
    conf_after: Any = None,
    n_before: Any = None,
    n_after: Any = None,
    later: Sequence[Any] = (),
    full_obs: int = FULL_EVIDENCE_OBS,
) -> np.ndarray:
    """Per-pixel confidence (percent, uint8) that a pixel's class changed between two maps.

    Args:
        before, after: class maps (codes 1..9, 0 no data) on one grid.
        conf_before, conf_after: the maps' consensus confidence (percent); ``None``: 100.
        n_before, n_after: the maps' valid observations; ``None``: full evidence.
        later: class maps of periods after the change (persistence); empty: not used.
        full_obs: valid observations for full weight (:data:`FULL_EVIDENCE_OBS`).

    Returns:
        uint8: 0 where the class did not change, 1..100 where it did (the product of both
        years' confidence, evidence and persistence factors), :data:`NO_CONFIDENCE` where
        either map has no data.
    """
    a, b = np.asarray(before), np.asarray(after)
    if a.shape != b.shape:
        raise ConfigError(f"maps of different shapes {a.shape} and {b.shape}; use one grid")
    if full_obs < 1:
        raise ConfigError(f"full_obs must be at least 1, not {full_obs}")
    shape = a.shape
    score = _share(conf_before, shape, "before confidence", 100.0)
    score = score * _share(conf_after, shape, "after confidence", 100.0)
    score = score * _share(n_before, shape, "before n_valid", float(full_obs))
    score = score * _share(n_after, shape, "after n_valid", float(full_obs))
    if later:
        score = score * persistence(b, later)
    nodata = (a == NODATA) | (b == NODATA) | (a > 9) | (b > 9)
    # a flip with any evidence stays >= 1 so that 0 keeps meaning "no flip"
    pct = np.clip(np.rint(score * 100.0), 1, 100).astype(np.uint8)
    out = np.where(a != b, pct, 0).astype(np.uint8)
    return np.where(nodata, NO_CONFIDENCE, out).astype(np.uint8)


def decide_change(confidence: Any, threshold: int = CHANGE_THRESHOLD) -> np.ndarray:
    """Where the change confidence (percent) reaches ``threshold`` (no data never changes)."""
    if not 1 <= threshold <= 100:
        raise ConfigError(f"the change threshold is a percent in 1..100, not {threshold}")
    c = np.asarray(confidence)
    return (c >= threshold) & (c != NO_CONFIDENCE)


def change_types(before: Any, after: Any, changed: Any) -> dict[str, np.ndarray]:
    """``{type: bool mask}`` of :data:`CHANGE_TYPES` among the ``changed`` pixels."""
    a, b, m = np.asarray(before), np.asarray(after), np.asarray(changed, bool)
    return {name: rule(a, b) & m for name, rule in CHANGE_TYPES.items()}


def land_cover_change(before: Any, after: Any, changed: Any) -> np.ndarray:
    """``changed`` pixels that count as land-cover change (everything but rotation)."""
    return np.asarray(changed, bool) & ~is_rotation(before, after)
