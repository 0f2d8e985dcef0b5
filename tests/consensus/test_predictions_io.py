"""The on-disk per-observation predictions format: write, reopen, stream, consensus from it."""

from __future__ import annotations

import numpy as np
import pytest
from odc.geo.geobox import GeoBox

from hlsmap.consensus import consensus
from hlsmap.errors import ConfigError, CorruptRasterError
from hlsmap.periods import Period
from hlsmap.predictions import (
    PredictionWriter,
    iter_observations,
    open_predictions,
    predictions_geobox,
    write_predictions,
)

GB = GeoBox.from_bbox(
    (500000, 4000000, 500000 + 30 * 40, 4000000 + 30 * 24), "EPSG:32633", resolution=30
)


def _stack(t: int = 5, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    h, w = GB.shape
    probs = rng.integers(0, 256, (t, h, w, 10), dtype=np.uint8)
    observed = rng.random((t, h, w)) > 0.1
    valid = observed & (rng.random((t, h, w)) > 0.3)
    times = np.datetime64("2024-01-01") + rng.integers(0, 366, t).astype("timedelta64[D]")
    return probs, valid, observed, times.astype("datetime64[ns]")


def test_round_trip_and_consensus_from_disk(tmp_path) -> None:
    probs, valid, observed, times = _stack()
    path = write_predictions(
        tmp_path / "tile.zarr",
        probs,
        valid,
        observed,
        times,
        GB,
        sensors=["L30", "S30", "L30", "S30", "L30"],
    )
    ds = open_predictions(path)
    assert ds["probs"].dtype == np.uint8 and ds["probs"].dims == ("time", "y", "x", "class")
    assert ds["class"].values.tolist() == list(range(1, 11))
    gb = predictions_geobox(ds)
    assert gb == GB
    obs = list(iter_observations(ds))
    order = np.argsort(times, kind="stable")
    assert [o.time for o in obs] == list(times[order])
    np.testing.assert_array_equal(obs[0].probs, probs[order[0]])
    np.testing.assert_array_equal(obs[0].valid, valid[order[0]])
    assert obs[0].sensor in ("L30", "S30")
    ref = consensus(probs, valid, observed, [Period.year(2024)], times)["2024"]
    lazy = consensus(ds["probs"], ds["valid"], ds["observed"], [Period.year(2024)], geobox=gb)
    got = lazy["2024"].compute()
    for var in ref.data_vars:
        np.testing.assert_array_equal(ref[var].values, got[var].values)
    assert got.odc.geobox == GB


def test_writer_is_atomic_and_validates(tmp_path) -> None:
    probs, valid, observed, times = _stack(t=2)
    target = tmp_path / "a.zarr"
    with pytest.raises(RuntimeError), PredictionWriter(target, GB) as w:
        w.append(probs[0], valid[0], observed[0], times[0], ndvi=0.4)
        raise RuntimeError("interrupted")
    assert not target.exists() and not list(tmp_path.iterdir())
    with PredictionWriter(target, GB) as w:
        with pytest.raises(ConfigError, match="uint8"):
            w.append(probs[0].astype(np.float32), valid[0], observed[0], times[0])
        w.append(probs[0], valid[0], observed[0], times[0], ndvi=0.4, mndwi=-0.2)
    ds = open_predictions(target)
    assert float(ds["ndvi"][0]) == pytest.approx(0.4)
    with pytest.raises(ConfigError):
        open_predictions(tmp_path / "missing.zarr")
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(CorruptRasterError):
        open_predictions(tmp_path / "junk.zarr")
