"""Streaming consensus: order invariance, masking, single observations, numpy == dask, rules."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlsmap.consensus import BALANCES, RULES, ConsensusAccumulator, consensus
from hlsmap.errors import ConfigError
from hlsmap.periods import Period

YEAR = Period.year(2024)
WET = Period.season("wet", (11, 4), 2024)
PERIODS = [YEAR, WET]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def stacks(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    seed = draw(st.integers(0, 2**31 - 1))
    t = draw(st.integers(1, 12))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    rng = np.random.default_rng(seed)
    probs = rng.integers(0, 256, (t, h, w, 10), dtype=np.uint8)
    # some observations put all their mass on few classes, like a confident model
    sharp = rng.random(t) < 0.5
    probs[sharp] = (probs[sharp] > 200) * probs[sharp]
    observed = rng.random((t, h, w)) < 0.85
    valid = observed & (rng.random((t, h, w)) < 0.7)
    days = rng.integers(0, 366 + 60, t)
    times = np.datetime64("2023-12-01") + days.astype("timedelta64[D]")
    return probs, valid, observed, times.astype("datetime64[ns]")


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for var in a[name].data_vars:
            x, y = np.asarray(a[name][var].values), np.asarray(b[name][var].values)
            assert x.dtype == y.dtype, (name, var)
            np.testing.assert_array_equal(x, y, err_msg=f"{name}/{var}")


@FAST
@given(
    stacks(),
    st.sampled_from(RULES),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
    st.sampled_from(BALANCES),
)
def test_any_order_gives_identical_maps(stack, rule, min_valid, rnd, balance) -> None:
    probs, valid, observed, times = stack
    order = list(range(len(times)))
    rnd.shuffle(order)
    kw = {"rule": rule, "min_valid": min_valid, "fallback": "2024", "balance": balance}
    a = consensus(probs, valid, observed, PERIODS, times, **kw)
    b = consensus(probs[order], valid[order], observed[order], PERIODS, times[order], **kw)
    _same(a, b)


@FAST
@given(
    stacks(),
    st.sampled_from(RULES),
    st.integers(1, 4),
    st.integers(1, 5),
    st.sampled_from(BALANCES),
)
def test_numpy_equals_dask(stack, rule, ychunk, tchunk, balance) -> None:
    probs, valid, observed, times = stack
    kw = {"rule": rule, "min_valid": 2, "fallback": "2024", "balance": balance}
    ref = consensus(probs, valid, observed, PERIODS, times, **kw)
    lazy = consensus(
        da.from_array(probs, chunks=(tchunk, ychunk, 3, 10)),
        da.from_array(valid, chunks=(tchunk, 2, ychunk)),
        da.from_array(observed),
        PERIODS,
        times,
        **kw,
    )
    assert hasattr(lazy["2024"]["class"].data, "dask")
    _same(ref, {k: v.compute() for k, v in lazy.items()})


@FAST
@given(stacks(), st.sampled_from(RULES), st.sampled_from(BALANCES))
def test_split_accumulators_merge_to_the_same_result(stack, rule, balance) -> None:
    probs, valid, observed, times = stack
    shape = probs.shape[1:3]
    kw = {"rule": rule, "balance": balance}
    whole, a, b = (ConsensusAccumulator(shape, PERIODS, **kw) for _ in range(3))
    for i, t in enumerate(times):
        whole.update(probs[i], valid[i], observed[i], t)
        (a if i % 2 else b).update(probs[i], valid[i], observed[i], t)
    summed = ConsensusAccumulator.from_state(a.state() + b.state(), PERIODS, **kw)
    _same(whole.results(), summed.results())
    _same(whole.results(), a.merge(b).results())


@FAST
@given(stacks(), st.sampled_from(RULES))
def test_all_masked_gives_nodata(stack, rule) -> None:
    probs, _, observed, times = stack
    res = consensus(probs, np.zeros_like(observed), observed, [YEAR], times, rule=rule)["2024"]
    assert (res["class"].values == 0).all()
    assert (res["n_valid"].values == 0).all()
    assert (res["confidence"].values == 0).all()
    seen = Period.year(2024).contains(times)
    n_obs = observed[seen].sum(axis=0) if seen.any() else np.zeros(probs.shape[1:3])
    cloud = res["cloud_share"].values
    assert (cloud[n_obs > 0] == 100).all() and (cloud[n_obs == 0] == 255).all()


@FAST
@given(stacks(), st.sampled_from(RULES))
def test_one_valid_observation_gives_its_label(stack, rule) -> None:
    probs, _, _, _ = stack
    p = probs[0]
    ok = p[..., :9].sum(-1) > 0
    ones = np.ones(p.shape[:2], bool)
    acc = ConsensusAccumulator(p.shape[:2], [YEAR], rule=rule)
    acc.update(p, ones, ones, "2024-06-01")
    res = acc.result("2024")
    expect = np.where(ok, np.argmax(p[..., :9], axis=-1) + 1, 0)
    np.testing.assert_array_equal(res["class"].values, expect)
    assert (res["n_valid"].values == ok).all()


def test_cloud_mass_is_excluded_and_renormalised() -> None:
    p = np.zeros((1, 1, 10), np.uint8)
    p[0, 0, 9] = 200  # cloud
    p[0, 0, 2] = 40  # grass (code 3)
    p[0, 0, 1] = 15  # trees
    ones = np.ones((1, 1), bool)
    acc = ConsensusAccumulator((1, 1), [YEAR])
    acc.update(p, ones, ones, "2024-02-02")
    res = acc.result("2024")
    assert res["class"].item() == 3
    assert res["confidence"].item() == round(100 * 40 / 55)


def _obs(**probs: float) -> np.ndarray:
    codes = {"water": 0, "trees": 1, "grass": 2, "crops": 4}
    p = np.zeros((1, 1, 10), np.uint8)
    for k, v in probs.items():
        p[0, 0, codes[k]] = round(v * 255)
    return p


def test_rules_differ_where_they_should() -> None:
    obs = [_obs(trees=0.51, grass=0.49), _obs(trees=0.51, grass=0.49), _obs(grass=1.0)]
    ones = np.ones((1, 1), bool)
    out = {}
    for rule in RULES:
        acc = ConsensusAccumulator((1, 1), [YEAR], rule=rule)
        for p in obs:
            acc.update(p, ones, ones, "2024-03-03")
        out[rule] = acc.result("2024")
    assert out["mean_prob"]["class"].item() == 3  # mean grass 0.66 > trees 0.34
    assert out["mode"]["class"].item() == 2  # two votes for trees
    assert out["mode"]["confidence"].item() == 67
    assert out["weighted_mode"]["class"].item() == 2  # 0.51 + 0.51 > 1.0


def test_every_month_weighs_the_same() -> None:
    # a seasonal snowfield: snow in four cloudy months (one clear look each), rock in two clear
    # months (five looks each). Land cover is what holds most of the year: snow.
    snow, bare = np.zeros((1, 1, 10), np.uint8), np.zeros((1, 1, 10), np.uint8)
    snow[..., 8] = 230
    snow[..., 7] = 25
    bare[..., 7] = 255
    ones = np.ones((1, 1), bool)
    dates = [(f"2024-{m:02d}-10", snow) for m in (1, 2, 3, 12)]
    dates += [(f"2024-{m:02d}-{d:02d}", bare) for m in (7, 8) for d in (3, 9, 15, 21, 27)]
    out = {}
    for balance in BALANCES:
        acc = ConsensusAccumulator((1, 1), [YEAR, WET], balance=balance)
        for d, p in dates:
            acc.update(p, ones, ones, d)
        out[balance] = acc.results()
    assert out["none"]["2024"]["class"].item() == 8  # 10 looks of rock beat 4 of snow
    month = out["month"]["2024"]
    assert month["class"].item() == 9  # 4 months of snow beat 2 of rock
    assert month["n_valid"].item() == 14
    # mean over the 6 months of the top class's month means: (4 * 230/255 + 2 * 0) / 6
    assert month["confidence"].item() == round(100 * 4 * 230 / 255 / 6)
    assert out["month"]["wet"]["class"].item() == out["none"]["wet"]["class"].item() == 9
    with pytest.raises(ConfigError, match="balance"):
        ConsensusAccumulator((1, 1), [YEAR], balance="season")


def test_slots_do_not_depend_on_the_observations() -> None:
    # a year with wet and dry seasons: 12 monthly slots (2 without balance), allocated up front
    for balance, n in (("month", 12), ("none", 2)):
        acc = ConsensusAccumulator(
            (4, 4), [YEAR, WET, Period.season("dry", (5, 10), 2024)], balance=balance
        )
        assert acc.n_state == n * 11 and acc.state().shape == (n * 11, 4, 4)


def test_min_valid_and_fallback_to_the_year() -> None:
    ones = np.ones((1, 2), bool)
    p = np.zeros((1, 2, 10), np.uint8)
    p[..., 4] = 255  # crops
    only_left = np.array([[True, False]])
    acc = ConsensusAccumulator((1, 2), [WET], min_valid=2, fallback=YEAR)
    acc.update(p, only_left, ones, "2024-01-10")  # wet season, left pixel only
    acc.update(p, ones, ones, "2024-07-10")  # dry season: year only
    acc.update(p, ones, ones, "2024-08-10")
    wet = acc.result("wet")
    assert wet["class"].values.tolist() == [[5, 5]]
    assert wet["fallback"].values.tolist() == [[1, 1]]
    assert wet["n_valid"].values.tolist() == [[1, 0]]
    no_fb = ConsensusAccumulator((1, 2), [WET], min_valid=2)
    no_fb.update(p, only_left, ones, "2024-01-10")
    assert no_fb.result("wet")["class"].values.tolist() == [[0, 0]]


def test_memory_does_not_grow_with_observations() -> None:
    acc = ConsensusAccumulator((8, 8), PERIODS)
    before = acc.nbytes
    p = np.full((8, 8, 10), 20, np.uint8)
    ones = np.ones((8, 8), bool)
    for d in range(100):
        acc.update(p, ones, ones, np.datetime64("2024-01-01") + np.timedelta64(d * 3, "D"))
    assert acc.nbytes == before
    assert acc.result("2024")["n_valid"].max() == 100


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="rule"):
        ConsensusAccumulator((2, 2), [YEAR], rule="median")
    with pytest.raises(ConfigError, match="fallback"):
        ConsensusAccumulator((2, 2), [WET], fallback="2024")
    acc = ConsensusAccumulator((2, 2), [YEAR])
    with pytest.raises(ConfigError, match="shape"):
        acc.update(np.zeros((3, 2, 10), np.uint8), np.ones((2, 2)), np.ones((2, 2)), "2024-01-01")
    with pytest.raises(ConfigError, match="uint8"):
        acc.update(np.zeros((2, 2, 10), np.int32), np.ones((2, 2)), np.ones((2, 2)), "2024-01-01")


@FAST
@given(stacks(), st.sampled_from(["mode", "weighted_mode"]))
def test_class_plus_confidence_input_matches_probabilities_for_mode(stack, rule) -> None:
    probs, valid, observed, times = stack
    shape = probs.shape[1:3]
    from_probs = ConsensusAccumulator(shape, PERIODS, rule="mode")
    from_labels = ConsensusAccumulator(shape, PERIODS, rule=rule)
    for i, t in enumerate(times):
        p = probs[i]
        cls = (np.argmax(p[..., :9], axis=-1) + 1).astype(np.uint8)
        cls[p[..., :9].sum(-1) == 0] = 0
        conf = np.take_along_axis(p, (cls.astype(np.intp) - 1)[..., None] % 10, -1)[..., 0]
        from_probs.update(p, valid[i], observed[i], t)
        from_labels.update_labels(cls, conf, valid[i], observed[i], t)
    a, b = from_probs.result("2024"), from_labels.result("2024")
    np.testing.assert_array_equal(a["n_valid"].values, b["n_valid"].values)
    if rule == "mode":
        _same(from_probs.results(), from_labels.results())
    with pytest.raises(ConfigError, match="mean_prob"):
        ConsensusAccumulator(shape, PERIODS).update_labels(cls, conf, valid[0], observed[0], t)
