"""Season detection from regional series (northern and southern hemisphere) and given seasons."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hlsmap.errors import ConfigError
from hlsmap.periods import Period
from hlsmap.seasons import (
    annual_cycle,
    combine_indices,
    detect_from_series,
    detect_seasons,
    given_seasons,
    monthly_climatology,
    split_seasons,
)

TIMES = np.arange(np.datetime64("2022-01-01"), np.datetime64("2025-01-01"), np.timedelta64(4, "D"))
MONTH = TIMES.astype("datetime64[M]").astype(int) % 12 + 1
DOY = (TIMES - TIMES.astype("datetime64[Y]")).astype(int)


def _series(wet_months: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wet = np.isin(MONTH, wet_months)
    return np.where(wet, 0.72, 0.31) + rng.normal(0, 0.06, TIMES.size)


def test_detects_known_wet_and_dry_seasons() -> None:
    found = detect_from_series(TIMES, _series((11, 12, 1, 2, 3, 4)))
    assert found.windows == {"wet": (11, 4), "dry": (5, 10)}
    assert found.method == "detected" and len(found.monthly or ()) == 12
    assert "Nov-Apr" in found.describe()


def test_southern_hemisphere_cycle() -> None:
    # a smooth cycle greenest in late July (austral winter rains, e.g. a Mediterranean-type
    # climate in the southern hemisphere) must give the opposite months to the northern one
    rng = np.random.default_rng(3)
    v = 0.45 + 0.2 * np.cos(2 * np.pi * (DOY - 205) / 365.25) + rng.normal(0, 0.04, DOY.size)
    found = detect_from_series(TIMES, v)
    assert found.windows == {"wet": (5, 10), "dry": (11, 4)}
    assert detect_from_series(TIMES, v, length=4).windows == {"wet": (6, 9), "dry": (12, 3)}


def test_gaps_are_filled_and_too_few_months_fail() -> None:
    v = _series((6, 7, 8))
    keep = ~np.isin(MONTH, (2, 9))  # two months never observed
    found = detect_from_series(TIMES[keep], v[keep], length=None)
    assert found.windows["wet"] == (6, 8)
    halves = detect_from_series(TIMES[keep], v[keep])
    assert {6, 7, 8} <= set(halves.months("wet")) and len(halves.months("wet")) == 6
    clim = monthly_climatology(TIMES[keep], v[keep])
    assert np.isfinite(clim).all()
    few = np.isin(MONTH, (1, 2, 3))
    with pytest.raises(ConfigError, match="months"):
        detect_from_series(TIMES[few], v[few])
    with pytest.raises(ConfigError, match="cycle"):
        detect_from_series(TIMES, np.full(TIMES.size, 0.5))


def test_peaked_cycle_threshold_versus_halves() -> None:
    # greenness that peaks sharply in January-February: the midpoint split gives a short wet
    # season, the default 6-month halves the centred one
    rng = np.random.default_rng(5)
    peak = np.exp(-((((DOY - 35 + 182) % 365 - 182) / 45.0) ** 2))
    v = 0.25 + 0.2 * peak + rng.normal(0, 0.01, DOY.size)
    assert detect_from_series(TIMES, v).windows == {"wet": (11, 4), "dry": (5, 10)}
    short = detect_from_series(TIMES, v, length=None).windows["wet"]
    assert short in ((12, 3), (1, 3), (12, 2), (1, 2))


def test_detect_from_a_cube() -> None:
    t = TIMES[:92]  # one year and a bit
    m = MONTH[:92]
    wet = np.isin(m, (11, 12, 1, 2, 3, 4))[:, None, None]
    shape = (t.size, 4, 5)
    red = np.where(wet, 400, 1200) * np.ones(shape)
    nir = np.where(wet, 3500, 1800) * np.ones(shape)
    fmask = np.zeros(shape, np.uint8)
    fmask[::3] = 2  # clouds (bit 1) on every third date: ignored
    red[::3] = 3000
    cube = xr.Dataset(
        {
            "red": (("time", "y", "x"), red.astype(np.int16)),
            "nir08": (("time", "y", "x"), nir.astype(np.int16)),
            "green": (("time", "y", "x"), np.full(shape, 600, np.int16)),
            "swir16": (("time", "y", "x"), np.full(shape, 1500, np.int16)),
            "fmask": (("time", "y", "x"), fmask),
        },
        coords={"time": t},
    )
    found = detect_seasons(cube)
    assert found.windows == {"wet": (11, 4), "dry": (5, 10)}
    with pytest.raises(ConfigError, match="bands"):
        detect_seasons(cube.drop_vars("swir16"))


def test_given_seasons_and_periods() -> None:
    s = given_seasons(["wet=11-04", "dry=05-10"])
    assert s.months("wet") == (11, 12, 1, 2, 3, 4)
    assert s.periods(2024) == [
        Period.season("wet", (11, 4), 2024),
        Period.season("dry", (5, 10), 2024),
    ]
    assert given_seasons({"long_rains": (3, 5)}).windows == {"long_rains": (3, 5)}
    assert s.to_dict()["windows"]["wet"]["months"] == [11, 12, 1, 2, 3, 4]


def test_combine_indices_zscores() -> None:
    out = combine_indices({"ndvi": np.array([0.2, 0.8]), "mndwi": np.array([-0.5, 0.1])})
    np.testing.assert_allclose(out, [-1.0, 1.0])


# the regional NDVI climatology of the demo's tropical world (rains Nov-Apr) in 2023, from the
# coarse cube `hlsmap map` detects on: greenest in January-February, and a May still in leaf
# (the trees) that out-greens a half-green November
WORLD_2023 = [0.523, 0.532, 0.463, 0.402, 0.448, 0.401, 0.380, 0.371, 0.381, 0.404, 0.428, 0.474]


def test_windows_follow_the_annual_cycle_not_one_odd_month() -> None:
    assert split_seasons(np.array(WORLD_2023)) == {"wet": (11, 4), "dry": (5, 10)}
    # the raw monthly means are tipped to Dec-May by 0.7% (May against November)
    assert split_seasons(np.array(WORLD_2023), harmonics=6) == {"wet": (12, 5), "dry": (6, 11)}
    with pytest.raises(ConfigError, match="harmonics"):
        annual_cycle(np.array(WORLD_2023), harmonics=0)


def test_skewed_cycle_with_a_cloudy_month() -> None:
    # rains Nov-Apr: grass greenest in early February, deciduous trees in leaf until the end of
    # May (a long tail after the rains), and missed clouds depressing the cloudiest month (April)
    rng = np.random.default_rng(8)
    d = (DOY - 40 + 182) % 365 - 182
    grass = np.exp(-0.5 * (d / 80.0) ** 2)
    trees = ((DOY >= 320) | (DOY <= 150)).astype(float)
    v = 0.3 + 0.15 * grass + 0.06 * trees + rng.normal(0, 0.03, DOY.size)
    v[MONTH == 4] -= 0.08
    assert split_seasons(monthly_climatology(TIMES, v), harmonics=6)["wet"] != (11, 4)
    found = detect_from_series(TIMES, v)
    assert found.windows == {"wet": (11, 4), "dry": (5, 10)}
