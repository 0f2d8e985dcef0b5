"""The parts of `hlsmap distill` on small generated data: regions and periods, teacher targets
and thresholds, the soft-target loss, region-balanced sampling, soft chip sets (format 2) and
reading format 1 sets, soft-target training steps."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr
from toychips import make_toy_chips, toy_labels, toy_observation

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.training.distill_regions import (
    DistillRegion,
    check_regions,
    parse_period,
    parse_region,
    regions_from_geojson,
)
from hlsmap.training.distill_targets import Thresholds, observation_targets, teacher_targets


def test_parse_region_tiles_boxes_and_periods() -> None:
    r = parse_region("T15TVH:2024")
    assert (r.tile, r.start, r.end) == ("T15TVH", "2024-01-01", "2024-12-31")
    assert (r.name, r.held_out) == ("T15TVH-2024", False)
    b = parse_region("north=-96.5,41.0,-96.3,41.2:2024-03-01/2024-09-30", held_out=True)
    assert b.bbox == (-96.5, 41.0, -96.3, 41.2) and b.name == "north" and b.held_out
    assert b.datetime == "2024-03-01/2024-09-30"
    assert parse_period("2023") == ("2023-01-01", "2023-12-31")
    for bad in ("T15TVH", "1,2,3:2024", "T15TVH:24", "a,b,c,d:2024"):
        with pytest.raises(ConfigError):
            parse_region(bad)
    with pytest.raises(ValueError, match="before it starts"):
        DistillRegion("x", "2024-05-01", "2024-01-01", tile="T15TVH")
    with pytest.raises(ConfigError, match="exactly one"):
        DistillRegion("x", "2024-01-01", "2024-05-01")


def test_regions_from_geojson_and_checks(tmp_path: Path) -> None:
    ring = [[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [0.0, 2.0], [0.0, 0.0]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"name": "a", "year": 2024}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"name": "b", "start": "2024-02-01", "end": "2024-03-01",
                        "held_out": True}},
    ]}  # fmt: skip
    p = tmp_path / "regions.geojson"
    p.write_text(json.dumps(doc))
    a, b = regions_from_geojson(p)
    assert a.bbox == (0.0, 0.0, 1.0, 2.0) and (a.start, a.end) == ("2024-01-01", "2024-12-31")
    assert b.held_out and (b.start, b.end) == ("2024-02-01", "2024-03-01")
    with pytest.raises(ConfigError, match="unique"):
        check_regions([a, a])
    with pytest.raises(ConfigError, match="held out"):
        check_regions([b])
    p.write_text("{}")
    with pytest.raises(ConfigError, match="no features"):
        regions_from_geojson(p)


def test_teacher_targets_thresholds_and_fmask() -> None:
    probs = np.zeros((2, 3, 9), np.uint8)
    probs[0, :, 1] = 255  # sure trees
    probs[1, 0, [1, 4]] = (140, 115)  # an unsure mix
    confidence = np.array([[90, 90, 90], [40, 0, 0]], np.uint8)
    n_valid = np.array([[3, 1, 3], [3, 0, 0]], np.uint8)
    soft, w = teacher_targets(probs, confidence, n_valid, Thresholds(50, 2, 0.0))
    assert soft.shape == (2, 3, NUM_CLASSES) and soft[0, 0, 1] == 255
    # (0,1) has too few clear observations, (1,0) too low confidence, (1,1..2) unmapped
    assert w.tolist() == [[255, 0, 255], [0, 0, 0]]
    _, w2 = teacher_targets(probs, confidence, n_valid, Thresholds(50, 2, 0.5))
    assert w2.tolist() == [[255, 128, 255], [128, 0, 0]]
    with pytest.raises(ConfigError):
        teacher_targets(probs[..., :5], confidence, n_valid, Thresholds())
    with pytest.raises(ConfigError):
        Thresholds(min_confidence=120)
    fmask = np.array([[0b10, 0b1000, 0b100], [255, 0, 0]], np.uint8)
    s, ow, labels = observation_targets(soft, w2, fmask)
    assert labels[0, 0] == labels[0, 1] == CLOUD and ow[0, 0] == ow[0, 1] == 255
    assert s[0, 0, CLOUD - 1] == 255 and s[0, 0, :9].sum() == 0
    assert ow[0, 2] == 0 and labels[0, 2] == 0  # adjacent to cloud: ignored
    assert ow[1, 0] == 0  # no observation
    assert soft[0, 0, CLOUD - 1] == 0  # the period's targets are left as they were


def test_soft_cross_entropy_matches_hard_with_one_hot_and_is_minimal_at_target() -> None:
    from hlsmap.training.losses import soft_cross_entropy, weighted_cross_entropy

    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(2, 4, 4, NUM_CLASSES)), jnp.float32)
    codes = rng.integers(1, NUM_CLASSES + 1, size=(2, 4, 4))
    codes[0, 0, 0] = 0  # unlabeled
    weights = jnp.asarray(rng.uniform(0.5, 2.0, NUM_CLASSES), jnp.float32)
    onehot = np.zeros((*codes.shape, NUM_CLASSES), np.float32)
    onehot[codes > 0, codes[codes > 0] - 1] = 1.0
    hard, _ = weighted_cross_entropy(logits, jnp.asarray(codes), weights)
    soft, _ = soft_cross_entropy(logits, jnp.asarray(onehot),
                                 jnp.asarray((codes > 0).astype(np.float32)), weights)  # fmt: skip
    assert float(hard) == pytest.approx(float(soft), rel=1e-5)
    q = jax.nn.softmax(jnp.asarray(rng.normal(size=(3, NUM_CLASSES)), jnp.float32))
    ones = jnp.ones(NUM_CLASSES)

    def loss(z: jax.Array) -> jax.Array:
        return soft_cross_entropy(z, q, jnp.ones(3), ones)[0]

    at_target = loss(jnp.log(q))
    grad = jax.grad(loss)(jnp.log(q))
    assert float(jnp.abs(grad).max()) < 1e-5
    assert float(loss(jnp.log(q) + jnp.asarray(rng.normal(size=q.shape)))) > float(at_target)


def test_balance_regions_gives_each_region_equal_mass() -> None:
    from hlsmap.training.data import balance_regions

    p = np.array([1.0, 1.0, 1.0, 1.0, 4.0])
    region = np.array([0, 0, 0, 0, 1])
    out = balance_regions(p / p.sum(), region)
    assert out.sum() == pytest.approx(1.0)
    assert out[region == 0].sum() == pytest.approx(0.5) and out[4] == pytest.approx(0.5)


def _soft_obs(i: int, size: int = 32) -> object:
    rng = np.random.default_rng(i)
    obs = toy_observation(rng, i, size, toy_labels(np.random.default_rng(0), size))
    soft = np.zeros((size, size, NUM_CLASSES), np.uint8)
    lab = obs.labels
    soft[lab > 0, lab[lab > 0] - 1] = 200
    soft[lab > 0, 4] += 55  # a little crops everywhere
    obs.soft, obs.weight, obs.region = soft, np.full((size, size), 255, np.uint8), f"r{i % 2}"
    return obs


def test_soft_chip_set_round_trip_and_training_step(tmp_path: Path) -> None:
    from hlsmap.training.chips import ChipStore, ChipWriter
    from hlsmap.training.configs.base import TrainConfig
    from hlsmap.training.data import Batches
    from hlsmap.training.train import train

    w = ChipWriter(tmp_path / "soft", ("blue", "green", "red", "nir08", "swir16", "swir22"),
                   chip_size=16, soft=True,
                   split_of_obs=lambda o: "test" if o.region == "r1" and o.obs_id == "obs3"
                   else "train")  # fmt: skip
    for i in range(4):
        w.add(_soft_obs(i))
    w.close()
    store = ChipStore.open(tmp_path / "soft")
    assert store.soft and store.attrs["format_version"] == 2
    assert store.regions == ["r0", "r1"] and set(store.region.tolist()) == {0, 1}
    assert set(store.obs[store.indices("test")].tolist()) == {3}  # observation 3: held out
    chips = store.read(np.arange(len(store)))
    assert chips["soft"].shape == (len(store), 16, 16, NUM_CLASSES)
    cloudy = (chips["fmask"] & 0b10) != 0
    assert cloudy.any() and np.all(chips["soft"][cloudy][:, CLOUD - 1] == 255)
    cfg = TrainConfig(preset="tiny", steps=4, batch_size=4, crop=None, warmup_steps=1,
                      checkpoint_every=0, log_every=2)  # fmt: skip
    from hlsmap.model import read_metadata

    result = train(cfg, tmp_path / "soft", tmp_path / "run", progress=False)
    meta = read_metadata(result.model_dir)
    assert set(meta.normalization) >= {"L30", "S30"}
    x, y = Batches(store, meta, cfg).batch(0)
    assert y.dtype == np.float32 and y.shape[-1] == NUM_CLASSES + 1 and float(y.max()) <= 1.0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
    assert any(np.isfinite(e.get("loss", np.nan)) for e in log)


def test_format_version_1_chip_sets_still_read(tmp_path: Path) -> None:
    from hlsmap.training.chips import ChipStore

    make_toy_chips(tmp_path / "v1", n_obs=4, size=32)
    g = zarr.open_group(tmp_path / "v1", mode="r+")
    attrs = dict(g.attrs)
    attrs["format_version"] = 1
    for k in ("soft_targets", "regions"):
        attrs.pop(k, None)
    g.attrs.clear()
    g.attrs.update(attrs)
    del g["region"]
    store = ChipStore.open(tmp_path / "v1")
    assert not store.soft and store.arrays == ("bands", "fmask", "labels")
    assert store.region.shape == (len(store),) and not store.region.any()
    assert "soft" not in store.read(np.arange(2))
