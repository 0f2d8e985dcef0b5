"""Transient classes in the consensus: snow/ice and water win only where they persist."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hlsmap.consensus import PERSIST, RULES, ConsensusAccumulator
from hlsmap.errors import ConfigError
from hlsmap.periods import Period

YEAR = Period.year(2024)
ONES = np.ones((1, 1), bool)
WATER, TREES, GRASS, CROPS, BARE, SNOW = 1, 2, 3, 5, 8, 9


def _probs(**by_code: int) -> np.ndarray:
    """One pixel's uint8 probabilities from ``{"c<code>": value}``."""
    p = np.zeros((1, 1, 10), np.uint8)
    for key, value in by_code.items():
        p[0, 0, int(key[1:]) - 1] = value
    return p


def _year_of(months: dict[int, np.ndarray], rule: str, **kw: object) -> dict[str, int]:
    """The 2024 layers of one pixel looked at on the 5th and 20th of the given months."""
    acc = ConsensusAccumulator((1, 1), [YEAR], rule=rule, **kw)  # type: ignore[arg-type]
    for month, p in months.items():
        for day in (5, 20):
            acc.update(p, ONES, ONES, f"2024-{month:02d}-{day:02d}")
    return {k: int(v[0, 0]) for k, v in acc.result_arrays("2024").items()}


@pytest.mark.parametrize("rule", RULES)
def test_seasonal_snow_gives_way_to_the_land_under_it(rule: str) -> None:
    # snow 7 of 12 months (58%: below the 60% it needs); grass the other five. The snow
    # observations put their second choice on bare ground, more than grass gets from its own
    # looks: land cover must come from the snow-free observations, so grass, not bare.
    snow = _probs(c9=150, c8=105)
    grass = _probs(c3=100, c8=80, c5=75)
    months = {m: snow for m in (1, 2, 3, 4, 10, 11, 12)} | {m: grass for m in range(5, 10)}
    out = _year_of(months, rule)
    assert out["class"] == GRASS
    assert out["snow_share"] == round(100 * 7 / 12) and out["water_share"] == 0
    # grass's confidence among its own looks: its mean probability, or all their votes
    assert out["confidence"] == (round(100 * 100 / 255) if rule == "mean_prob" else 100)
    if rule != "mode":  # without the rule snow (mean_prob) or bare (its mass) wins
        assert _year_of(months, rule, persist=None)["class"] in (SNOW, BARE)


@pytest.mark.parametrize("rule", RULES)
def test_persistent_snow_and_water_stay(rule: str) -> None:
    glacier = {m: _probs(c9=230, c8=25) for m in range(1, 13)}
    glacier[8] = _probs(c8=200, c9=55)  # a month of summer melt shows rock
    out = _year_of(glacier, rule)
    assert out["class"] == SNOW and out["snow_share"] == round(100 * 11 / 12)
    lake = {m: _probs(c1=240) for m in range(1, 13)}
    lake[9] = _probs(c4=200, c1=40)  # low water: the shore is flooded vegetation for a month
    assert _year_of(lake, rule)["class"] == WATER


@pytest.mark.parametrize("rule", RULES)
def test_seasonally_flooded_land_keeps_its_crops(rule: str) -> None:
    months = {m: _probs(c1=220, c5=35) for m in (1, 2, 3)}
    months |= {m: _probs(c5=200, c3=55) for m in range(4, 13)}
    out = _year_of(months, rule)
    assert out["class"] == CROPS and out["water_share"] == 25


@pytest.mark.parametrize("rule", RULES)
def test_a_frozen_lake_is_water_and_only_transients_pick_the_larger_share(rule: str) -> None:
    # frozen and snow-covered six months, open water six: the tie goes to the lower code
    lake = {m: _probs(c9=240) for m in (1, 2, 3, 4, 11, 12)} | {
        m: _probs(c1=240) for m in range(5, 11)
    }
    assert _year_of(lake, rule)["class"] == WATER
    # neither reaches its threshold and nothing else was seen: the larger share wins
    out = _year_of(lake | {5: _probs(c9=240)}, rule, persist={"snow": 0.9, "water": 0.9})
    assert out["class"] == SNOW and out["snow_share"] == round(100 * 7 / 12)


def test_shares_are_month_balanced_and_period_local() -> None:
    acc = ConsensusAccumulator((1, 1), [YEAR, Period.season("wet", (11, 4), 2024)])
    for d in ("01-03", "01-09", "01-15", "01-21", "01-27"):  # five clear winter looks
        acc.update(_probs(c9=250), ONES, ONES, f"2024-{d}")
    acc.update(_probs(c3=250), ONES, ONES, "2024-07-01")  # one summer look
    acc.update(_probs(c3=250), ONES, ~ONES, "2024-12-01")  # clouded: not valid
    year, wet = acc.result_arrays("2024"), acc.result_arrays("wet")
    assert year["snow_share"][0, 0] == 50  # 2 months, one of snow, however many looks
    assert year["class"][0, 0] == GRASS  # 50% < 60%
    assert wet["snow_share"][0, 0] == 100 and wet["class"][0, 0] == SNOW
    never = ConsensusAccumulator((1, 1), [YEAR])
    never.update(_probs(c3=250), ~ONES, ONES, "2024-03-01")
    assert never.result_arrays("2024")["snow_share"][0, 0] == 255  # no valid observation


def test_persist_is_checked_and_merges_need_the_same_transients() -> None:
    with pytest.raises(ConfigError, match="transient classes are"):
        ConsensusAccumulator((1, 1), [YEAR], persist={"clouds": 0.5})
    with pytest.raises(ConfigError, match="share"):
        ConsensusAccumulator((1, 1), [YEAR], persist={"snow": 60})
    a = ConsensusAccumulator((1, 1), [YEAR])
    with pytest.raises(ConfigError, match="merge"):
        a.merge(ConsensusAccumulator((1, 1), [YEAR], persist=None))
    assert PERSIST == {"water": 0.4, "snow": 0.6}  # the recorded thresholds (module notes)


@pytest.mark.parametrize("rule", RULES)
def test_a_small_snow_world_maps_land_cover_not_winter(rule: str) -> None:
    from hlsmap.simulate.climate import CLIMATES
    from hlsmap.simulate.config import WorldConfig
    from hlsmap.simulate.events import make_events
    from hlsmap.simulate.landscape import make_landscape
    from hlsmap.simulate.truth import dominant, sample_dates, surface_state

    cfg = WorldConfig(seed=5, size=96, year=2024, years=1, climate="snow")
    land = make_landscape(cfg)
    events = make_events(cfg, land)
    climate = CLIMATES["snow"]
    truth = dominant(
        land, events, climate, sample_dates(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    )
    shape = truth.shape
    accs = {
        k: ConsensusAccumulator(shape, [YEAR], rule=rule, persist=p)
        for k, p in (("rule", PERSIST), ("off", None))
    }
    rng = np.random.default_rng(0)
    ones = np.ones(shape, bool)
    for date in sample_dates(dt.date(2024, 1, 3), dt.date(2024, 12, 31))[::2]:
        # a model that calls snow, sure of it, wherever it shows, also between winter trees
        # (the truth keeps the canopy there), and is less sure of the land: its runner-up
        # is bare ground
        classes, snow = surface_state(land, events, climate, date)
        label = np.where(snow, SNOW, classes)
        probs = np.zeros((*shape, 10), np.uint8)
        probs[..., BARE - 1] = np.where(snow, 25, 105)
        np.put_along_axis(probs, (label - 1)[..., None].astype(np.intp), 0, axis=-1)
        top = np.where(snow, 230, 150).astype(np.uint8)[..., None]
        np.put_along_axis(probs, (label - 1)[..., None].astype(np.intp), top, axis=-1)
        valid = rng.random(shape) < 0.7  # clouds
        for acc in accs.values():
            acc.update(probs, valid, ones, date)
    maps = {k: a.result_arrays("2024")["class"] for k, a in accs.items()}
    accuracy = {k: float((m == truth).mean()) for k, m in maps.items()}
    snow_precision = {k: float((truth[m == SNOW] == SNOW).mean()) for k, m in maps.items()}
    trees_as_snow = {k: float((m[truth == TREES] == SNOW).mean()) for k, m in maps.items()}
    assert accuracy["rule"] > accuracy["off"] + 0.03, accuracy
    assert snow_precision["rule"] > snow_precision["off"], snow_precision
    assert trees_as_snow["rule"] < trees_as_snow["off"] / 2, trees_as_snow
    assert (maps["rule"][land.classes == SNOW] == SNOW).mean() > 0.95  # glaciers stay
