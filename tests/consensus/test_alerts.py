"""Near-real-time alerts: a simulated clearing fires within k observations; noise does not."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.alerts import AlertState, day_number
from hlsmap.errors import ConfigError, InvalidDateRangeError

H = W = 24
EVENT = np.datetime64("2025-03-01")
DATES = np.arange(np.datetime64("2025-01-02"), np.datetime64("2025-07-01"), np.timedelta64(4, "D"))


def _probs(labels: np.ndarray, conf: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 probabilities with ``conf`` on the label and the rest spread over other classes."""
    rest = rng.dirichlet(np.ones(10), size=labels.shape) * (1 - conf)
    p = rest
    np.put_along_axis(p, (labels - 1)[..., None].astype(np.intp), conf, axis=-1)
    return np.rint(p * 255).astype(np.uint8)


def _run(seed: int, noise: float, k: int = 3, n: int = 5) -> tuple[AlertState, np.ndarray, list]:
    rng = np.random.default_rng(seed)
    baseline = np.full((H, W), 2, np.uint8)  # all forest
    baseline[:, 18:] = 5  # some cropland
    clearing = np.zeros((H, W), bool)
    clearing[4:10, 3:11] = True
    state = AlertState(baseline, k=k, n=n, min_prob=0.6)
    valid_dates = []
    for d in DATES:
        labels = baseline.copy()
        if d >= EVENT:
            labels[clearing] = 8  # bare ground after the clearing
        flip = rng.random((H, W)) < noise  # confident random misclassifications
        labels[flip] = rng.integers(1, 10, flip.sum())
        valid = rng.random((H, W)) > 0.25  # clouds
        state.update(_probs(labels, 0.85, rng), valid, d)
        valid_dates.append((d, valid))
    return state, clearing, valid_dates


def test_clearing_fires_within_k_valid_observations() -> None:
    state, clearing, history = _run(seed=0, noise=0.0)
    res = state.result()
    assert (res["alert"].values[clearing] == 8).all()
    assert (res["alert"].values[~clearing] == 0).all()
    assert state.kinds()["tree_loss"].sum() == clearing.sum()
    first = res["first_date"].values[clearing]
    assert (first >= day_number(EVENT)).all()
    assert res["confidence"].values[clearing].min() >= 80
    # confirmed on the k-th valid observation after the event, for every pixel
    for y, x in zip(*np.nonzero(clearing), strict=True):
        after = [d for d, v in history if d >= EVENT and v[y, x]]
        assert state.confirmed_date[y, x] == day_number(after[2])
        assert state.first_date[y, x] == day_number(after[0])


def test_noise_does_not_fire() -> None:
    state, clearing, _ = _run(seed=1, noise=0.08)
    alert = state.result()["alert"].values > 0
    assert alert[clearing].mean() > 0.95  # the clearing still fires through the noise
    assert alert[~clearing].mean() < 0.01  # scattered misclassifications do not


def test_low_confidence_disagreement_does_not_fire() -> None:
    rng = np.random.default_rng(2)
    baseline = np.full((4, 4), 2, np.uint8)
    state = AlertState(baseline, k=2, n=3, min_prob=0.6)
    for d in DATES[:10]:
        state.update(_probs(np.full((4, 4), 8), 0.4, rng), np.ones((4, 4), bool), d)
    assert (state.result()["alert"].values == 0).all()
    assert (state.status() == 0).all()


def test_state_round_trips_and_time_order_is_enforced(tmp_path) -> None:
    state, _, _ = _run(seed=3, noise=0.02)
    path = state.save(tmp_path / "state.npz")
    again = AlertState.load(path)
    for name in ("alert", "first_date", "labels", "pos"):
        np.testing.assert_array_equal(getattr(again, name), getattr(state, name))
    with pytest.raises(InvalidDateRangeError, match="time order"):
        again.update(np.zeros((H, W, 10), np.uint8), np.ones((H, W), bool), "2025-01-01")
    with pytest.raises(ConfigError):
        AlertState(np.zeros((2, 2), np.uint8), k=4, n=3)
    with pytest.raises(ConfigError, match="alert state"):
        AlertState.load(tmp_path / "missing.npz")


def test_alert_class_follows_a_construction_site() -> None:
    rng = np.random.default_rng(4)
    baseline = np.full((6, 6), 3, np.uint8)  # grass
    site = np.zeros((6, 6), bool)
    site[1:4, 1:4] = True
    state = AlertState(baseline, k=3, n=5)
    stages = [("2025-01-30", 8), ("2025-04-15", 7)]  # cleared to bare ground, then built
    for d in DATES:
        labels = baseline.copy()
        for start, code in stages:
            if d >= np.datetime64(start):
                labels[site] = code
        state.update(_probs(labels, 0.9, rng), np.ones((6, 6), bool), d)
    res = state.result()
    assert (res["alert"].values[site] == 7).all() and (res["alert"].values[~site] == 0).all()
    first = np.datetime64(int(res["first_date"].values[2, 2]), "D")
    built = np.datetime64(int(res["class_date"].values[2, 2]), "D")
    assert np.datetime64("2025-01-30") <= first < np.datetime64("2025-02-15")
    assert np.datetime64("2025-04-15") <= built <= np.datetime64("2025-04-15") + 3 * 4
    assert state.kinds()["new_built"].sum() == 9


def test_a_receding_flood_ends_its_alert_and_is_never_tree_loss() -> None:
    rng = np.random.default_rng(6)
    baseline = np.full((5, 5), 2, np.uint8)  # forest
    state = AlertState(baseline)  # defaults: 3 of 4 at 0.7
    for d in DATES:
        labels = baseline.copy()
        if np.datetime64("2025-03-01") <= d < np.datetime64("2025-04-01"):
            labels[:] = 1  # flooded for a month
        state.update(_probs(labels, 0.9, rng), np.ones((5, 5), bool), d)
    res = state.result()
    assert (res["alert"].values == 1).all()  # the flood was confirmed...
    assert (res["status"].values == 3).all()  # ...and ended
    assert (res["ended_date"].values >= day_number("2025-04-01")).all()
    assert not state.active().any()
    assert not any(mask.any() for mask in state.kinds().values())


def test_an_uncertain_baseline_never_alerts(tmp_path) -> None:
    rng = np.random.default_rng(7)
    baseline = np.full((6, 8), 2, np.uint8)  # forest, cleared everywhere on EVENT
    conf = np.full((6, 8), 95, np.uint8)
    conf[:, 4:] = 55  # the baseline map was unsure of the right half
    state = AlertState(baseline, baseline_confidence=conf)  # default: needs 0.7
    for d in DATES:
        labels = np.where(d >= EVENT, 8, baseline)
        state.update(_probs(labels, 0.9, rng), np.ones((6, 8), bool), d)
    assert (state.alert[:, :4] == 8).all() and (state.alert[:, 4:] == 0).all()
    assert (state.status()[:, 4:] == 0).all()
    assert state.kinds()["tree_loss"].sum() == 24
    again = AlertState.load(state.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(again.baseline_confidence, conf)
    assert again.min_baseline_conf == 0.7
    # floats are 0..1; min_baseline_conf=0 alerts everywhere; without a map every pixel is known
    assert AlertState(baseline, baseline_confidence=conf / 100.0).eligible[:, :4].all()
    assert AlertState(baseline, baseline_confidence=conf, min_baseline_conf=0).eligible.all()
    assert AlertState(baseline).eligible.all()
    with pytest.raises(ConfigError, match="shape"):
        AlertState(baseline, baseline_confidence=conf[:3])
    with pytest.raises(ConfigError, match="min_baseline_conf"):
        AlertState(baseline, min_baseline_conf=70)
