"""Chip sets: cutting, splits, label rules, statistics, streaming reads, label resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from toychips import make_toy_chips, toy_labels, toy_observation

from hlsmap.errors import ChipSetError
from hlsmap.training.chips import (
    ChipStore,
    ChipWriter,
    Observation,
    resample_labels,
    split_of,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ChipStore:
    return make_toy_chips(tmp_path_factory.mktemp("cs") / "chips.zarr", n_obs=6, holdout=0.34)


def test_layout_and_splits(store: ChipStore) -> None:
    assert len(store) == 6 * 16  # 64 px observations, 16 px chips, all labelled
    assert store.bands == ("blue", "green", "red", "nir08", "swir16", "swir22")
    assert store.chip_size == 16 and set(store.sensors) == {"L30", "S30"}
    # a split holds whole observations
    for o in np.unique(store.obs):
        assert len(set(store.split[store.obs == o].tolist())) == 1
    obs = store.attrs["observations"]
    assert [o["split"] for o in obs] == [split_of(o["id"], 0.34, 0) for o in obs]
    assert {o["split"] for o in obs} == {"train", "test"}
    train = store.indices("train")
    assert np.array_equal(store.counts[train].sum(axis=0), store.class_counts("train"))


def test_normalization_from_clear_train_pixels(store: ChipStore) -> None:
    norm = store.normalization
    assert set(norm) == {"L30", "S30", "*"}
    nir = norm["*"]["mean"][3]
    assert 1500 < nir < 3500  # a mix of water/trees/crops/bare, clouds excluded
    assert all(s > 0 for s in norm["L30"]["std"])


def test_streaming_read_matches_cache(store: ChipStore) -> None:
    lazy = ChipStore.open(store.path)
    idx = np.array([7, 2, 7, 40])
    got = lazy.read(idx)
    lazy.cache()
    want = lazy.read(idx)
    for k in ("bands", "fmask", "labels", "sensor"):
        np.testing.assert_array_equal(got[k], want[k])
    np.testing.assert_array_equal(got["bands"][0], got["bands"][2])


def test_label_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lab = toy_labels(rng, 32)
    obs = toy_observation(rng, 0, 32, lab)
    obs.fmask[:8, :8] = 0b10  # Fmask cloud over a clear surface label
    obs.bands[20, 20, 2] = -9999  # a fill pixel
    w = ChipWriter(tmp_path / "c.zarr", chip_size=16, holdout=0.0)
    assert w.add(obs) == 4
    st = w.close()
    lab_out = st.read(np.arange(4))["labels"]
    assert np.all(lab_out[0, :8, :8] == 10)
    chip = int(np.flatnonzero((st.group["origin"][...] == [16, 16]).all(axis=1))[0])
    assert lab_out[chip, 4, 4] == 0
    # without Fmask clouds (per-observation truth)
    w2 = ChipWriter(tmp_path / "d.zarr", chip_size=16, holdout=0.0, cloud_from_fmask=False)
    w2.add(obs)
    assert np.all(w2.close().read(np.arange(1))["labels"][0, :8, :8] == lab[:8, :8])


def test_min_labeled_and_errors(tmp_path: Path) -> None:
    z = np.zeros((32, 32), np.uint8)
    obs = Observation(np.full((32, 32, 6), 500, np.int16), z, z, "L30",
                      np.datetime64("2024-01-01"), "x")  # fmt: skip
    w = ChipWriter(tmp_path / "e.zarr", chip_size=16)
    assert w.add(obs) == 0
    with pytest.raises(ChipSetError, match="labelled"):
        w.close()
    assert not (tmp_path / "e.zarr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".e.zarr")]
    with pytest.raises(ChipSetError, match="hlsmap chips"):
        ChipStore.open(tmp_path / "absent")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.txt").write_text("hello")
    with pytest.raises(ChipSetError):
        ChipStore.open(tmp_path / "foreign")


def test_majority_resampling_10m_to_30m() -> None:
    from affine import Affine
    from odc.geo.geobox import GeoBox

    lab10 = np.array(
        [[1, 1, 2, 3, 3, 3],
         [1, 2, 2, 3, 0, 0],
         [1, 1, 2, 3, 0, 0],
         [5, 5, 5, 0, 0, 0],
         [5, 2, 2, 0, 0, 0],
         [2, 2, 5, 0, 0, 0]], np.uint8)  # fmt: skip
    t10 = Affine(10, 0, 500000, 0, -10, 4000060)
    gb = GeoBox((2, 2), Affine(30, 0, 500000, 0, -30, 4000060), "EPSG:32633")
    out = resample_labels(lab10, t10, "EPSG:32633", gb)
    assert out.tolist() == [[1, 3], [5, 0]]


def test_chips_from_an_xarray_cube(tmp_path: Path) -> None:
    import xarray as xr

    from hlsmap.training.chip_sources import chips_from_cube

    rng = np.random.default_rng(2)
    lab = toy_labels(rng, 32)
    obs = [toy_observation(rng, i, 32, lab) for i in range(3)]
    names = ("blue", "green", "red", "nir08", "swir16", "swir22")
    data = {b: (("time", "y", "x"), np.stack([o.bands[..., i] for o in obs]))
            for i, b in enumerate(names)}  # fmt: skip
    data["fmask"] = (("time", "y", "x"), np.stack([o.fmask for o in obs]))
    cube = xr.Dataset(
        data,
        coords={"time": [o.time for o in obs], "sensor": ("time", [o.sensor for o in obs])},
    )
    st = chips_from_cube(cube, lab, tmp_path / "cube.zarr", chip_size=16, holdout=0.0)
    assert len(st) == 3 * 4 and st.sensors == ["L30", "S30"]
    first = st.read(np.arange(1))
    np.testing.assert_array_equal(first["bands"][0], obs[0].bands[:16, :16])
    # Fmask clouds of the second observation become the cloud class (a year label has none)
    cloudy = st.read(np.flatnonzero(st.obs == 1))["labels"]
    assert (cloudy == 10).any() and not (lab == 10).any()
