"""Truth and imagery agree, and Fmask errs at the configured rates.

These tests render observations in memory (no COG writes) on small worlds, so they cover a
whole year in seconds.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hlsmap.simulate.atmosphere import FMASK_ADJACENT, FMASK_CLOUD, FMASK_SHADOW, FMASK_WATER
from hlsmap.simulate.build import Scene, build_scene
from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.render import Rendered, render
from hlsmap.simulate.truth import surface_state

BLUE, GREEN, RED, NIR, SWIR1, SWIR2 = 1, 2, 3, 4, 5, 6  # indices in Rendered.bands


@pytest.fixture(scope="module")
def scene() -> Scene:
    return build_scene(WorldConfig(seed=7, size=128, tiles_per_side=1))


@pytest.fixture(scope="module")
def rendered(scene: Scene) -> list[tuple[int, Rendered]]:
    return [
        (o.index, render(scene.config, scene.land, scene.events, o)) for o in scene.schedule[::4]
    ]


def _clear(r: Rendered) -> np.ndarray:
    return (r.fmask != 255) & ((r.fmask & (FMASK_CLOUD | FMASK_ADJACENT | FMASK_SHADOW)) == 0)


def test_clear_water_looks_like_water(rendered: list[tuple[int, Rendered]]) -> None:
    from scipy import ndimage

    seen = 0
    for _, r in rendered:
        # Away from edges (the PSF mixes edge pixels) and under no cloud at all.
        core = ndimage.binary_erosion(r.truth == 1, iterations=2) & _clear(r)
        if core.sum() < 5:
            continue
        refl = r.bands[:, core].astype(np.float32) / 1e4
        haze_free = np.median(refl, axis=1)
        assert haze_free[NIR] < 0.08 and haze_free[SWIR1] < 0.04 and haze_free[SWIR2] < 0.03
        assert haze_free[NIR] < haze_free[GREEN]  # water: NIR below visible
        seen += 1
    assert seen >= 5


def test_vegetation_and_snow_signatures(scene: Scene, rendered: list[tuple[int, Rendered]]) -> None:
    summer = [r for i, r in rendered if scene.schedule[i].datetime.month in (6, 7, 8)]
    assert summer
    ndvi_trees, ndsi_snow = [], []
    for r in summer:
        b = r.bands.astype(np.float32) / 1e4
        clear = _clear(r)
        t = clear & (r.truth == 2)
        s = clear & (r.truth == 9)
        if t.any():
            ndvi_trees.append(np.median((b[NIR][t] - b[RED][t]) / (b[NIR][t] + b[RED][t])))
        if s.any():
            ndsi_snow.append(np.median((b[GREEN][s] - b[SWIR1][s]) / (b[GREEN][s] + b[SWIR1][s])))
    assert np.median(ndvi_trees) > 0.6
    assert np.median(ndsi_snow) > 0.6


def test_clouds_are_bright_and_mostly_flagged(rendered: list[tuple[int, Rendered]]) -> None:
    cloud_px = flagged = 0
    blue = []
    for _, r in rendered:
        c = r.truth == 10
        if c.sum() < 20:
            continue
        blue.append(np.median(r.bands[BLUE][c]) / 1e4)
        cloud_px += int(c.sum())
        flagged += int(((r.fmask[c] & FMASK_CLOUD) > 0).sum())
    assert cloud_px > 1000
    assert np.median(blue) > 0.3
    assert flagged / cloud_px > 0.85


@pytest.mark.parametrize("miss", [0.03, 0.25])
def test_fmask_cloud_miss_rate_is_the_configured_one(miss: float) -> None:
    sc = build_scene(
        WorldConfig(
            seed=2, size=96, months=6, tiles_per_side=1, fmask_cloud_miss_rate=miss, cloud_scale=1.3
        )
    )
    total = missed = 0
    for o in sc.schedule[::3]:
        r = render(sc.config, sc.land, sc.events, o)
        c = r.truth == 10
        total += int(c.sum())
        missed += int(((r.fmask[c] & FMASK_CLOUD) == 0).sum())
    assert total > 2000
    assert abs(missed / total - miss) < 0.01


def test_fmask_shadow_errors() -> None:
    cfg = WorldConfig(
        seed=4,
        size=96,
        months=4,
        tiles_per_side=1,
        cloud_scale=1.2,
        fmask_shadow_miss_rate=0.1,
        fmask_shadow_as_water_rate=0.3,
    )
    sc = build_scene(cfg)
    from hlsmap.simulate.atmosphere import draw_sky, simulate_fmask

    rng = np.random.default_rng(0)
    shadow_px = as_water = unflagged = 0
    for o in sc.schedule[:12]:
        classes, _ = surface_state(sc.land, sc.events, CLIMATES["temperate"], o.datetime.date())
        sky = draw_sky(rng, classes.shape, 0.4, 30.0, 150.0)  # summer sun: short shadows
        fm = simulate_fmask(rng, sky, classes, np.ones(classes.shape, bool), cfg)
        s = sky.shadow & ((fm & FMASK_CLOUD) == 0) & (classes != 1)
        shadow_px += int(s.sum())
        as_water += int((((fm & FMASK_WATER) > 0) & ((fm & FMASK_SHADOW) == 0))[s].sum())
        unflagged += int(((fm[s] & (FMASK_SHADOW | FMASK_WATER)) == 0).sum())
    assert shadow_px > 500
    assert abs(as_water / shadow_px - 0.3) < 0.06
    assert abs(unflagged / shadow_px - 0.1) < 0.05


def test_outside_swath_is_fill_everywhere(scene: Scene) -> None:
    side = [o for o in scene.schedule if o.orbit == "side"][0]
    r = render(scene.config, scene.land, scene.events, side)
    outside = r.fmask == 255
    assert 0.1 < outside.mean() < 0.9
    assert (r.truth[outside] == 0).all() and (r.truth[~outside] > 0).all()
    assert (r.bands[:, outside] == -9999).all() and (r.bands[:, ~outside] > -9999).all()


def test_seasonal_lake_and_snow(scene: Scene) -> None:
    climate = CLIMATES["temperate"]
    land, events = scene.land, scene.events
    seasonal = land.lake_depth > 0
    assert seasonal.sum() > 20
    # temperate wet season Oct-Mar: the lake is full mid-season, dry land mid-dry-season
    wet, _ = surface_state(land, events, climate, dt.date(2024, 1, 20))
    dry, _ = surface_state(land, events, climate, dt.date(2024, 7, 20))
    assert (wet[seasonal] == 1).mean() > 0.9
    assert (dry[seasonal] == 1).mean() < 0.3
    winter, _ = surface_state(land, events, climate, dt.date(2024, 1, 15))
    summer, _ = surface_state(land, events, climate, dt.date(2024, 7, 15))
    assert (winter == 9).mean() > (summer == 9).mean() + 0.03


@pytest.mark.parametrize("climate", ["tropical", "snow"])
def test_other_climates(climate: str) -> None:
    sc = build_scene(WorldConfig(seed=1, size=64, months=12, tiles_per_side=1, climate=climate))
    c = CLIMATES[climate]
    jan, _ = surface_state(sc.land, sc.events, c, dt.date(2024, 1, 15))
    jul, _ = surface_state(sc.land, sc.events, c, dt.date(2024, 7, 15))
    if climate == "snow":
        # Winter snow covers all but forest canopies and towns (whose class stays).
        open_land = ~np.isin(jan, (2, 7))
        assert (jan[open_land] == 9).mean() > 0.95 and (jul == 9).mean() < 0.2
    else:
        assert (jan == 9).mean() < 0.1
    assert len(set(np.unique(jul)) - {0}) >= 7


def test_cadence() -> None:
    sc = build_scene(WorldConfig(seed=0, size=64, tiles_per_side=1, drop_rate=0.0))
    days = {
        p: sorted({o.datetime.date() for o in sc.schedule if o.platform == p and o.orbit == "main"})
        for p in ("Landsat 8", "Landsat 9", "Sentinel-2A", "Sentinel-2B")
    }
    for p, repeat in (
        ("Landsat 8", 16),
        ("Landsat 9", 16),
        ("Sentinel-2A", 10),
        ("Sentinel-2B", 10),
    ):
        gaps = {(b - a).days for a, b in zip(days[p], days[p][1:], strict=False)}
        assert gaps == {repeat}
    assert (days["Landsat 9"][0] - days["Landsat 8"][0]).days % 16 == 8
    assert (days["Sentinel-2B"][0] - days["Sentinel-2A"][0]).days % 10 == 5
    n = len(sc.schedule)
    assert 140 <= n <= 175  # ~150 observations a year over the region
