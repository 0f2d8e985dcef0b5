"""`hlsmap map --model <Dynamic World>` end to end, offline: a synthetic world with S30's red edge
and broad NIR behind the local STAC API and range server, Dynamic World converted from the
shared fixture. Dynamic World on synthetic spectra is a plumbing test, never an accuracy
figure: these tests check the grid, the sensors used and skipped, tiling and the products.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hlsmap.runconfig import MapConfig

import servers

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dynamicworld"
HLSMAP = Path(sys.executable).with_name("hlsmap")
pytestmark = pytest.mark.skipif(
    not (FIXTURE / "forward" / "saved_model.pb").is_file(),
    reason=f"Dynamic World fixture missing at {FIXTURE}",
)


@dataclass
class DWWorld:
    world: object
    api: str
    model: Path


@pytest.fixture(scope="module")
def dw_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DWWorld]:

    from hlsmap.model.dw_import import import_dynamicworld
    from hlsmap.simulate import WorldConfig, simulate_world

    root = tmp_path_factory.mktemp("dwworld")
    world = simulate_world(
        WorldConfig(seed=5, size=32, months=2, tiles_per_side=1, coastal=False, red_edge=True),
        root / "w",
        workers=1,
    )
    model = import_dynamicworld(FIXTURE / "forward", root / "dw", FIXTURE)
    with servers.served_world(world, root) as (_, api):
        yield DWWorld(world, api, model)


def _cfg(w: DWWorld, out: Path, **kw: object) -> MapConfig:
    return MapConfig(year=2024, out=str(out), model=str(w.model), bbox=w.world.bbox,  # type: ignore[attr-defined]
                     source=w.api, detect_seasons=False, **kw)  # type: ignore[arg-type]  # fmt: skip


def _read(path: Path) -> tuple[np.ndarray, float]:
    with rasterio.open(path) as src:
        return src.read(1), abs(src.transform.a)


def test_dynamicworld_maps_at_10_m_from_s30_only_and_tiles_match_one_piece(
    dw_world: DWWorld, tmp_path: Path
) -> None:
    from hlsmap.mapping import run_map

    whole = run_map(_cfg(dw_world, tmp_path / "whole", tile_size=512), progress=False)
    tiled = run_map(_cfg(dw_world, tmp_path / "tiled", tile_size=48), progress=False)
    assert tiled.failed_tiles == 0 and whole.failed_tiles == 0
    cls_w, res = _read(tmp_path / "whole" / "hlsmap-annual-2024" / "class.tif")
    cls_t, _ = _read(tmp_path / "tiled" / "hlsmap-annual-2024" / "class.tif")
    assert res == 10.0  # the model's grid drives the map's
    assert cls_w.shape[0] > 90 and set(np.unique(cls_w)) <= set(range(0, 10))  # no cloud class
    assert (cls_w > 0).mean() > 0.9
    # a map made in tiles (halo = the network's receptive field, even offsets) is the map made
    # in one piece; probabilities are quantized to 1/255, so a pixel whose two best classes tie
    # within 1e-5 may flip: allow one in ten thousand
    assert (cls_t == cls_w).mean() >= 0.9999
    # every run says what it used and what it skipped, and why
    item = json.loads((tmp_path / "tiled" / "hlsmap-annual-2024" / "hlsmap-annual-2024.json")
                      .read_text())  # fmt: skip
    sensors = item["properties"]["hlsmap:sensors"]
    assert sensors["S30"]["used"] > 0 and sensors["S30"]["skipped"] == 0
    assert sensors["L30"]["used"] == 0 and sensors["L30"]["skipped"] > 0
    assert "rededge071" in sensors["L30"]["reason"]
    assert item["properties"]["hlsmap:model"]["architecture"] == "dynamicworld"
    report = json.loads((tmp_path / "tiled" / "work" / "2024" / "run-report.json").read_text())
    assert report["sensors"] == sensors


def test_dynamicworld_on_hls_30m_grid_through_the_cli(dw_world: DWWorld, tmp_path: Path) -> None:
    """`--resolution 30`: the model runs at 10 m and each observation is aggregated by mode."""
    out = tmp_path / "m30"
    args = [str(HLSMAP), "map", "--model", str(dw_world.model), "--year", "2024",
            "--bbox", *map(str, dw_world.world.bbox),  # type: ignore[attr-defined]
            "--source", dw_world.api, "--out", str(out), "--season", "wet=01-01",
            "--resolution", "30"]  # fmt: skip
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    cls30, res30 = _read(out / "hlsmap-annual-2024" / "class.tif")
    assert res30 == 30.0 and (cls30[1:-1, 1:-1] > 0).mean() > 0.9  # the bbox grid has a rim
    assert "granule(s) skipped" in res.stderr or "L30" in res.stderr
    # not a multiple of the model's 10 m: refused in one line, exit 2, before any work
    bad = subprocess.run([*args[:-1], "25"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a multiple of the model's 10 m" in bad.stderr
    # L30 alone cannot feed Dynamic World: a clear error naming the bands and what to use
    l30 = subprocess.run([*args, "--sensors", "L30"], capture_output=True, text=True, timeout=120)
    assert l30.returncode == 2
    assert "L30 lacks rededge071" in l30.stderr and "--sensors" in l30.stderr
