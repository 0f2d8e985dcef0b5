"""``hlsmap consensus --season auto`` on predictions stores: the series the tile tasks write,
and detection from the stores' own period (the year mapped), through the console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from hlsmap.inference.series import observation_indices
from hlsmap.mapping import run_map
from hlsmap.predictions import PredictionWriter
from hlsmap.runconfig import MapConfig

GB = GeoBox.from_bbox((500000, 4000000, 500240, 4000240), "EPSG:32615", resolution=30)
SHAPE = (int(GB.shape[0]), int(GB.shape[1]))


def hlsmap_script() -> list[str]:
    """The installed console script (the venv's), else the module."""
    exe = Path(sys.executable).with_name("hlsmap")
    return [str(exe)] if exe.exists() else [shutil.which("hlsmap") or "hlsmap"]


def test_observation_indices_mean_of_clear_pixels() -> None:
    bands = np.full((2, 4, 4, 6), 1000, np.int16)
    names = ("blue", "green", "red", "nir08", "swir16", "swir22")
    bands[..., 3] = 3000  # nir: NDVI = (3000 - 1000) / 4000 = 0.5
    bands[0, :2, :, 3] = 1000  # half of the first observation: NDVI 0, but cloudy
    fmask = np.zeros((2, 4, 4), np.uint8)
    fmask[0, :2] = 0b10  # cloud
    fmask[1] = 255  # the second observation is all fill
    out = observation_indices(bands, fmask, names)
    assert out[0]["ndvi"] == pytest.approx(0.5) and out[0]["mndwi"] == pytest.approx(0.0)
    assert out[1] == {"ndvi": None, "mndwi": None}
    cropped = observation_indices(bands, np.zeros_like(fmask), names, (slice(0, 2), slice(None)))
    assert cropped[0]["ndvi"] == pytest.approx(0.0)  # only the crop counts
    assert observation_indices(bands[..., :4], fmask, names[:4])[0]["mndwi"] is None


@pytest.mark.slow  # a map run, then consensus through the console script
def test_tile_tasks_write_the_series_and_auto_seasons_run(served_world, tmp_path: Path) -> None:
    cfg = MapConfig(
        year=2024, out=str(tmp_path / "m"), model=str(served_world.model),
        bbox=served_world.world.bbox, source=served_world.api, save_predictions=True,
    )  # fmt: skip
    run_map(cfg, progress=False)
    stores = sorted((tmp_path / "m").rglob("*.predictions.zarr"))
    assert stores
    with xr.open_zarr(stores[0], consolidated=False) as ds:
        ndvi = ds["ndvi"].values
        valid_any = ds["valid"].any(dim=("y", "x")).values
    # every observation with a clear pixel has its regional NDVI (all NaN before)
    assert np.isfinite(ndvi[valid_any]).all() and valid_any.any()
    assert ((ndvi[valid_any] > -1) & (ndvi[valid_any] < 1)).all()
    out = tmp_path / "c"
    run = subprocess.run(
        [*hlsmap_script(), "consensus", *map(str, stores), "--out", str(out), "--season", "auto"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    seasons = json.loads((out / "seasons.json").read_text())
    assert seasons["method"] == "detected"
    assert (out / "hlsmap-wet" / "class.tif").exists() or any(out.glob("*wet*"))


def _store(path: Path, periods: list[tuple[str, str, int, tuple[int, ...]]]) -> None:
    """A store whose NDVI is 0.7 in the given green months of each period, else 0.3."""
    with PredictionWriter(path, GB) as w:
        for start, end, step, green in periods:
            for d in np.arange(np.datetime64(start), np.datetime64(end), np.timedelta64(step, "D")):
                month = int(d.astype("datetime64[M]").astype(int) % 12 + 1)
                p = np.zeros((*SHAPE, 10), np.uint8)
                p[..., 1] = 255
                ok = np.ones(SHAPE, bool)
                w.append(p, ok, ok, d, sensor="S30", ndvi=0.7 if month in green else 0.3)


def test_auto_seasons_come_from_the_year_mapped(tmp_path: Path) -> None:
    # 2023 (densely observed) greens in May-Oct, 2024 in Nov-Apr: mapping 2024 must detect the
    # 2024 wet season, not the blend that every year of the store gives
    store = tmp_path / "two-years.zarr"
    _store(
        store,
        [
            ("2023-01-01", "2024-01-01", 12, (5, 6, 7, 8, 9, 10)),
            ("2024-01-01", "2025-01-01", 36, (11, 12, 1, 2, 3, 4)),
        ],
    )
    out = tmp_path / "c"
    run = subprocess.run(
        [*hlsmap_script(), "consensus", str(store), "--out", str(out), "--season", "auto",
         "--year", "2024"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    wet = json.loads((out / "seasons.json").read_text())["windows"]["wet"]
    assert wet["first"] == 11 and wet["last"] == 4
