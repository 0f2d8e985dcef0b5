"""Tile reads: Fmask first, then the bands of observations with a clear pixel only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from runner_world import CONFIG, PERIODS, SIZE, make_world, region_geobox

from hlsmap.cube import load_cube
from hlsmap.inference.runner import plan_tasks
from hlsmap.inference.tasks import _read_batch, read_tile_file, run_tile
from hlsmap.model import BANDS

from hlsfixtures import make_granule


@pytest.fixture(scope="module")
def cloudy_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], Path]:
    """The runner world plus an L30 and an S30 observation that are all cloud or fill."""
    root = tmp_path_factory.mktemp("cloudy")
    items, model_dir = make_world(root)
    overcast = np.full((SIZE, SIZE), 0b10, np.uint8)  # cloud everywhere
    half = overcast.copy()
    half[:, :40] = 255  # outside the swath on the left, cloud on the right
    for day, sensor, fmask in [(20, "L30", overcast), (22, "S30", half)]:
        when = dt.datetime(2024, 7, day, 17, 30, tzinfo=dt.UTC)
        items.append(make_granule(root / "granules", sensor, when, shape=(SIZE, SIZE),
                                  fmask=fmask))  # fmt: skip
    return items, model_dir


class CountingLoader:
    """load_cube, recording how many items each call read for which bands."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], int, bool]] = []

    def __call__(self, items: Any, **kw: Any) -> Any:
        self.calls.append((tuple(kw["bands"]), len(items), kw.get("fmask", True)))
        cube = load_cube(items, **kw)
        assert ("fmask" in cube.data_vars) == kw.get("fmask", True)
        return cube


def test_bands_are_read_only_for_observations_with_a_clear_pixel(cloudy_world) -> None:
    items, _ = cloudy_world
    geobox = region_geobox()
    loader = CountingLoader()
    opts = dataclasses.replace(CONFIG.options, loader=loader)
    bands, fmask, sensors, times = _read_batch(opts, items, geobox, BANDS)
    # the Fmask of all 7 observations, then the bands alone of the 5 with a clear pixel
    assert loader.calls == [((), 7, True), (BANDS, 5, False)]
    full = _read_batch(dataclasses.replace(opts, fmask_first=False), items, geobox, BANDS)
    assert loader.calls[-1] == (BANDS, 7, True)
    assert sensors == full[2] and times == full[3]
    np.testing.assert_array_equal(fmask, full[1])
    overcast = [t for t in range(len(times)) if np.datetime64(times[t], "D").item().month == 7]
    assert len(overcast) == 2
    clear = [t for t in range(len(times)) if t not in overcast]
    np.testing.assert_array_equal(bands[clear], full[0][clear])
    assert not bands[overcast].any()  # zeros: observed, never valid


def test_fmask_first_and_prefetch_give_the_same_tile_outputs(cloudy_world, tmp_path) -> None:
    """Fmask-first reads and reading ahead (3 time batches: 0, 1 or 2 read ahead while the
    model predicts) change when pixels are read, never the tile's outputs."""
    items, model_dir = cloudy_world
    results = {}
    for first, prefetch in ((False, 0), (True, 0), (True, 1), (True, 2), (False, 1)):
        opts = dataclasses.replace(CONFIG.options, fmask_first=first, prefetch=prefetch)
        config = dataclasses.replace(CONFIG, options=opts)
        out = tmp_path / f"{first}-{prefetch}"
        (out / "tiles").mkdir(parents=True)
        task = plan_tasks(items, region_geobox(), model_dir, out, PERIODS, config)[0]
        rep = run_tile(task)
        assert rep.n_observations == 7
        assert rep.read_busy_s > 0 and rep.read_s >= 0
        results[(first, prefetch)] = read_tile_file(task.out_path)[0]
    ref = results.pop((False, 0))
    for key, got in results.items():
        for period, layers in ref.items():
            for name, arr in layers.items():
                np.testing.assert_array_equal(got[period][name], arr, err_msg=f"{key} {name}")
    # the overcast observations count as seen (cloud share), not as valid
    assert ref["2024"]["cloud_share"].max() > 0


def test_a_read_failing_ahead_surfaces_in_its_turn(cloudy_world) -> None:
    """With reads ahead, a failing batch raises when it is due, after the earlier batches."""
    from hlsmap.errors import CorruptRasterError
    from hlsmap.inference.tasks import _prefetched

    seen: list[int] = []

    def read(batch: list[int]) -> int:
        if batch == [2]:
            raise CorruptRasterError("batch 2 is broken")
        return batch[0]

    opts = dataclasses.replace(CONFIG.options, prefetch=2)
    with pytest.raises(CorruptRasterError, match="batch 2"):
        for value, _ in _prefetched([[0], [1], [2], [3]], read, opts):
            seen.append(value)
    assert seen == [0, 1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_reads_ahead_run_at_a_lower_priority_than_the_model() -> None:
    """The read-ahead thread yields the cores to the model (see ``_lower_priority``); the
    calling thread keeps its priority."""
    from hlsmap.inference.tasks import READ_NICE, _prefetched

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = nice()
    opts = dataclasses.replace(CONFIG.options, prefetch=1)
    got = [value for value, _ in _prefetched([[0], [1]], lambda _: nice(), opts)]
    assert got == [min(19, before + READ_NICE)] * 2
    assert nice() == before


def test_load_cube_refuses_to_load_nothing(cloudy_world) -> None:
    from hlsmap.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing"):
        load_cube(cloudy_world[0], geobox=region_geobox(), bands=(), fmask=False)
