"""The change decision rule: confidence from both years' evidence, threshold, types, scores."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.change import compute_change
from hlsmap.change_rule import (
    NO_CONFIDENCE,
    change_confidence,
    change_types,
    decide_change,
    is_rotation,
    land_cover_change,
    persistence,
)
from hlsmap.change_scores import change_scores
from hlsmap.errors import ConfigError


def test_a_flip_on_a_close_vote_is_not_change() -> None:
    before = np.array([[2, 2, 2, 2]], np.uint8)
    after = np.array([[8, 8, 2, 0]], np.uint8)
    # pixel 0: both years sure (75%, 85%); pixel 1: the after year decided 51/49
    conf_b = np.array([[75, 75, 75, 75]], np.uint8)
    conf_a = np.array([[85, 51, 90, 0]], np.uint8)
    c = change_confidence(before, after, conf_b, conf_a)
    assert c.tolist() == [[round(75 * 0.85), round(75 * 0.51), 0, NO_CONFIDENCE]]
    assert decide_change(c, 40).tolist() == [[True, False, False, False]]


def test_few_valid_observations_weigh_less() -> None:
    a = np.full((1, 3), 2, np.uint8)
    b = np.full((1, 3), 8, np.uint8)
    n_after = np.array([[12, 3, 0]], np.uint16)
    c = change_confidence(a, b, n_before=np.full((1, 3), 20), n_after=n_after, full_obs=6)
    assert c.tolist() == [[100, 50, 1]]  # a flip seen on no observation keeps 1: "a flip"
    assert not decide_change(c, 60)[0, 1:].any()


def test_persistence_is_the_share_of_later_maps_with_the_new_class() -> None:
    after = np.array([[8, 8, 8]], np.uint8)
    later = [np.array([[8, 2, 0]], np.uint8), np.array([[8, 8, 0]], np.uint8)]
    np.testing.assert_allclose(persistence(after, later), [[1.0, 0.5, 1.0]])
    c = change_confidence(np.full((1, 3), 2, np.uint8), after, later=later)
    assert c.tolist() == [[100, 50, 100]]


def test_threshold_and_shape_errors() -> None:
    with pytest.raises(ConfigError):
        decide_change(np.zeros((2, 2), np.uint8), 0)
    with pytest.raises(ConfigError):
        change_confidence(np.zeros((2, 2)), np.zeros((2, 2)), conf_before=np.zeros((3, 2)))
    with pytest.raises(ConfigError):
        change_confidence(np.zeros((2, 2)), np.zeros((2, 3)))


def test_types_and_rotation_are_flagged_not_counted() -> None:
    a = np.array([[2, 3, 5, 5, 1, 6, 2]], np.uint8)
    b = np.array([[8, 5, 3, 8, 3, 7, 1]], np.uint8)
    assert is_rotation(a, b).tolist() == [[False, True, True, True, False, False, False]]
    t = change_types(a, b, np.ones(a.shape, bool))
    assert t["tree_loss"].tolist() == [[True, False, False, False, False, False, True]]
    assert t["new_built"][0].tolist() == [False] * 5 + [True, False]
    assert t["water_loss"][0, 4] and t["water_gain"][0, 6] and t["rotation"].sum() == 3
    assert land_cover_change(a, b, np.ones(a.shape, bool)).sum() == 4


def test_compute_change_keeps_only_decided_flips_and_then_applies_the_mmu() -> None:
    a = np.full((10, 10), 2, np.uint8)
    b = a.copy()
    b[1:4, 1:4] = 8  # a 9-px clearing
    b[6:9, 6:9] = 8  # a 9-px flip the evidence does not support
    decided = np.zeros(a.shape, bool)
    decided[1:4, 1:4] = True
    decided[6, 6] = True  # one supported pixel of the second patch: below the MMU
    res = compute_change(a, b, 0.09, mmu=4, decided=decided)
    assert res.changed.sum() == 9 and res.changed[1:4, 1:4].all()
    assert (res.transitions[6:9, 6:9] == 22).all()  # unsupported flips count as unchanged
    assert res.layers["tree_loss"].sum() == 9
    assert res.matrix is not None and res.matrix[1, 7] == pytest.approx(9 * 0.09)


def test_scores_per_type_against_a_known_truth() -> None:
    tb = np.array([[2, 2, 2, 3, 3, 5]], np.uint8)
    ta = np.array([[8, 8, 2, 5, 3, 5]], np.uint8)
    mb = tb.copy()
    ma = np.array([[8, 2, 8, 5, 3, 7]], np.uint8)  # one hit, one miss, one false alarm...
    s = change_scores(tb, ta, mb, ma, np.ones(tb.shape, bool))
    tl = s["types"]["tree_loss"]
    assert (tl["true_px"], tl["mapped_px"], tl["precision"], tl["recall"]) == (2, 2, 0.5, 0.5)
    assert s["types"]["rotation"]["precision"] == 1.0
    lc = s["land_cover"]  # rotation left out on both sides; the new built px is false
    assert (lc["true_px"], lc["mapped_px"]) == (2, 3) and lc["precision"] == pytest.approx(1 / 3)
    assert s["types"]["water_gain"]["precision"] is None
