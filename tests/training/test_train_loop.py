"""Training: overfitting, NaN masking, checkpoints and resume, the loss and class weights."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from toychips import make_toy_chips

from hlsmap.errors import ConfigError
from hlsmap.model import load_model
from hlsmap.training.chips import ChipStore
from hlsmap.training.configs import TINY
from hlsmap.training.data import Batches, sampling_weights
from hlsmap.training.losses import class_weights, masked_inputs, weighted_cross_entropy
from hlsmap.training.train import Trainer, train

CFG = TINY.replace(steps=8, warmup_steps=2, lr=1e-2, log_every=1, checkpoint_every=0)


@pytest.fixture(scope="module")
def chips(tmp_path_factory: pytest.TempPathFactory) -> ChipStore:
    store = make_toy_chips(tmp_path_factory.mktemp("toy") / "chips.zarr")
    store.cache()
    return store


@pytest.fixture(scope="module")
def trainer(chips: ChipStore) -> Trainer:
    return Trainer(TINY.replace(steps=300, warmup_steps=5, lr=1e-2), chips)


def test_tiny_model_overfits_a_batch(trainer: Trainer, chips: ChipStore) -> None:
    x, y = Batches(chips, trainer.meta, trainer.cfg).batch(0)
    first = float(trainer.run_step(0, x, y))
    losses = [float(trainer.run_step(s, x, y)) for s in range(1, 150)]
    assert np.all(np.isfinite(losses))
    assert min(losses) < first / 10, (first, losses[-5:])


def test_nan_input_is_masked_not_propagated(trainer: Trainer, chips: ChipStore) -> None:
    x, y = Batches(chips, trainer.meta, trainer.cfg).batch(1)
    net = trainer.model()
    w = jnp.asarray(trainer.weights)

    def loss(xx: np.ndarray, yy: np.ndarray) -> float:
        xm, finite = masked_inputs(jnp.asarray(xx))
        return float(weighted_cross_entropy(net(xm), jnp.asarray(yy), w, finite)[0])

    xn = x.copy()
    xn[0, 2:5, 3:6, 1] = np.nan
    xn[1, 0, 0, :] = np.inf
    got = loss(xn, y)
    assert np.isfinite(got)
    # identical to zeroed inputs whose pixels are unlabeled
    xz, yz = xn.copy(), y.copy()
    bad = ~np.all(np.isfinite(xn), axis=-1)
    xz[~np.isfinite(xz)] = 0.0
    yz[bad] = 0
    assert got == pytest.approx(loss(xz, yz), rel=1e-6)
    # and a train step on the NaN batch keeps every weight finite
    trainer.run_step(500, xn, y)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(trainer.state))


def test_cross_entropy_by_hand() -> None:
    logits = jnp.asarray([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    labels = jnp.asarray([[1, 0]])  # second pixel ignored
    w = jnp.asarray([2.0, 1.0, 1.0])
    loss, total = weighted_cross_entropy(logits, labels, w)
    expect = -np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(-1)))
    assert float(loss) == pytest.approx(expect, rel=1e-6)
    assert float(total) == 2.0
    loss0, total0 = weighted_cross_entropy(logits, jnp.zeros((1, 2), jnp.int32), w)
    assert float(loss0) == 0.0 and float(total0) == 0.0


def test_class_weights_and_sampling() -> None:
    counts = np.zeros(11, np.int64)
    counts[[0, 1, 2, 3]] = [999, 100, 100, 800]  # code 0 ignored
    w = class_weights(counts, power=1.0)
    assert w[3:].sum() == 0.0  # absent classes
    assert w[0] == pytest.approx(w[1]) and w[0] > w[2]
    assert (w * counts[1:]).sum() == pytest.approx(counts[1:].sum(), rel=1e-5)
    chip_counts = np.array([[0, 10, 0, 0], [0, 0, 0, 30], [5, 0, 0, 0]])
    chip_counts = np.pad(chip_counts, ((0, 0), (0, 7)))
    p = sampling_weights(chip_counts, 1.0)
    assert p[2] == 0.0 and p[0] > p[1] and p.sum() == pytest.approx(1.0)
    assert np.allclose(sampling_weights(chip_counts[:2], 0.0), 0.5)


def _weights(model_dir: Path) -> list[np.ndarray]:
    net, _ = load_model(model_dir)
    return [np.asarray(v) for v in jax.tree.leaves(nnx.state(net, nnx.Param))]


def test_resume_after_interruption_continues_identically(chips: ChipStore, tmp_path: Path) -> None:
    # periodic validation must not change the training trajectory
    straight = train(CFG.replace(eval_every=4), chips.path, tmp_path / "a", progress=False,
                     evaluate=False)  # fmt: skip
    log = [json.loads(ln) for ln in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "val_clear_oa" in r] == [4]
    part = train(CFG, chips.path, tmp_path / "b", stop_after=3, progress=False, evaluate=False)
    assert part.step == 3 and (tmp_path / "b" / "checkpoints" / "step_0000003").is_dir()
    with pytest.raises(ConfigError, match="resume"):
        train(CFG, chips.path, tmp_path / "b", progress=False)
    resumed = train(CFG, chips.path, tmp_path / "b", resume=True, progress=False, evaluate=False)
    assert resumed.step == 8
    assert [s for s, _ in resumed.losses] == list(range(4, 9))
    assert resumed.losses == straight.losses[3:]
    for a, b in zip(_weights(straight.model_dir), _weights(resumed.model_dir), strict=True):
        np.testing.assert_array_equal(a, b)
    other = CFG.replace(preset="small", crop=16)
    with pytest.raises(ConfigError, match="does not match"):
        train(other, chips.path, tmp_path / "b", resume=True, progress=False)


def test_bad_batch_and_crop(chips: ChipStore) -> None:
    with pytest.raises(ConfigError, match="crop"):
        Trainer(TINY.replace(crop=15), chips)
    with pytest.raises(ConfigError, match="warmup"):
        TINY.replace(warmup_steps=100, steps=10)
