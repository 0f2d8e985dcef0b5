"""The jitted, sharded inference kernel: tiling equivalence, masks, outputs, 8 devices."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from predict_nets import make_rule_net, simple_normalize

from hlsmap.errors import ConfigError
from hlsmap.inference.predict import Predictor
from hlsmap.inference.tiling import single_cover_mask


def _whole_image_probs(net, images: np.ndarray) -> np.ndarray:
    import jax

    return np.asarray(jax.nn.softmax(net(images), axis=-1))


@pytest.fixture(scope="module")
def tiled(conv_net):
    return Predictor(conv_net, window=48, overlap=16, batch_size=4)


def test_tiled_equals_whole_image_outside_blend_zones(conv_net, tiled) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 100, 92, 6)).astype(np.float32)
    whole = _whole_image_probs(conv_net, images)
    out = tiled.predict_probs(images)
    assert out.shape == whole.shape
    plan = tiled.plan(100, 92)
    assert len(plan) > 4  # really tiled
    core = single_cover_mask(plan)
    assert core.sum() > 1000
    np.testing.assert_allclose(out[:, core], whole[:, core], atol=1e-5)
    # everywhere, blended rows are probability distributions
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


def test_tiled_prediction_is_seamless_in_blend_zones(conv_net, tiled) -> None:
    rng = np.random.default_rng(1)
    images = rng.normal(size=(1, 100, 92, 6)).astype(np.float32)
    whole = _whole_image_probs(conv_net, images)
    out = tiled.predict_probs(images)
    blend = ~single_cover_mask(tiled.plan(100, 92))
    diff = np.abs(out - whole)[:, blend]
    # only the few zero-padded edge pixels of a window differ, and they carry weights < 0.03
    assert diff.max() < 0.03 and diff.mean() < 1e-3
    # no seam: the largest jump between neighbouring pixels is the image's own, not a window's
    for axis in (1, 2):
        jump_tiled = np.abs(np.diff(out, axis=axis)).max()
        jump_whole = np.abs(np.diff(whole, axis=axis)).max()
        assert jump_tiled <= jump_whole + 0.02


def test_image_smaller_than_a_window_is_padded(conv_net, tiled) -> None:
    rng = np.random.default_rng(2)
    images = rng.normal(size=(3, 20, 26, 6)).astype(np.float32)
    out = tiled.predict_probs(images)
    assert out.shape == (3, 20, 26, 10)
    padded = np.zeros((3, 20, 28, 6), np.float32)
    padded[:, :, :26] = images
    whole = _whole_image_probs(conv_net, padded)[:, :, :26]
    # away from the padded right edge (receptive field 2) they agree exactly
    np.testing.assert_allclose(out[:, :, :23], whole[:, :, :23], atol=1e-5)


def test_batch_is_a_multiple_of_the_device_count(conv_net) -> None:
    import jax

    p = Predictor(conv_net, batch_size=3, window=32, overlap=8)
    assert p.batch_size % len(jax.devices()) == 0 and p.batch_size >= 3
    with pytest.raises(ConfigError):
        Predictor(conv_net, batch_size=0)


@pytest.fixture(scope="module")
def rule() -> Predictor:
    return Predictor(make_rule_net(), normalize=simple_normalize, window=32, overlap=8)


def _scene(t: int = 2, h: int = 40, w: int = 36) -> tuple[np.ndarray, np.ndarray]:
    bands = np.full((t, h, w, 6), 1000, np.int16)
    fmask = np.zeros((t, h, w), np.uint8)
    return bands, fmask


def test_masks_fill_fmask_and_model_cloud(rule: Predictor) -> None:
    bands, fmask = _scene()
    bands[0, :, :10] = -9999  # outside the swath
    fmask[0, :, :10] = 255
    bands[0, 20, 20, 3] = -9999  # one band missing: no prediction either
    fmask[0, 5:8, 15:18] = 0b0000_0010  # Fmask cloud
    fmask[0, 9, 15] = 0b0000_1000  # shadow
    fmask[0, 10, 15] = 0b0000_0100  # adjacent
    fmask[0, 11, 15] = 0b0001_0000  # snow: still valid
    fmask[0, 12, 15] = 0b0010_0000  # water bit: still valid
    bands[1, 30:, 30:, 0] = 4000  # very bright blue: the model says cloud
    bands[1, :5, :, 1] = 3000  # the model says water
    preds = rule.predict_observations(bands, fmask, ["L30", "S30"], times=[1, 2])
    assert [p.sensor for p in preds] == ["L30", "S30"] and [p.time for p in preds] == [1, 2]
    p0, p1 = preds
    assert p0.probs is not None and p0.probs.dtype == np.uint8 and p0.probs.shape == (40, 36, 10)
    assert not p0.observed[:, :10].any() and p0.observed[:, 10:].sum() == 40 * 26 - 1
    assert not p0.observed[20, 20] and p0.probs[20, 20].sum() == 0
    assert (p0.probs[:, :10] == 0).all() and not p0.valid[:, :10].any()
    assert not p0.valid[5:8, 15:18].any() and p0.observed[5:8, 15:18].all()
    assert not p0.valid[9, 15] and not p0.valid[10, 15]
    assert p0.valid[11, 15] and p0.valid[12, 15]
    assert p0.valid.sum() == 40 * 26 - 1 - 9 - 2
    # uint8 probabilities: trees wins (bias), total close to 255
    assert (np.argmax(p0.probs[p0.valid], -1) == 1).all()
    assert np.abs(p0.probs[p0.observed].sum(-1).astype(int) - 255).max() <= 6
    # model cloud marks invalid but observed; water is predicted where band 1 is high
    assert p1.observed.all() and not p1.valid[30:, 30:].any() and p1.valid.sum() == 1440 - 60
    assert (np.argmax(p1.probs[30:, 30:], -1) == 9).all()
    assert (np.argmax(p1.probs[:5, :30], -1) == 0).all()


def test_class_output_matches_probs(rule: Predictor) -> None:
    bands, fmask = _scene()
    bands[1, :5, :, 1] = 3000
    fmask[0, :3] = 255
    bands[0, :3] = -9999
    probs = rule.predict_observations(bands, fmask, ["L30", "L30"])
    cls = rule.predict_observations(bands, fmask, ["L30", "L30"], output="class")
    for p, c in zip(probs, cls, strict=True):
        assert c.probs is None and c.cls is not None and c.confidence is not None
        expect = np.where(p.observed, np.argmax(p.probs, -1) + 1, 0)
        np.testing.assert_array_equal(c.cls, expect)
        assert (np.abs(c.confidence.astype(int) - p.probs.max(-1)) <= 1).all()
        np.testing.assert_array_equal(c.valid, p.valid)
    assert (cls[0].cls[:3] == 0).all() and (cls[1].cls[:5] == 1).all()


def test_crop_gives_the_crop_of_every_output(rule: Predictor) -> None:
    """A tile's halo feeds the model, the outputs are made for the tile alone."""
    bands, fmask = _scene()
    fmask[0, :3] = 255
    bands[0, :3] = -9999
    core = (slice(2, 31), slice(5, 33))
    for output in ("probs", "class"):
        whole = rule.predict_observations(bands, fmask, ["L30", "S30"], output=output)
        part = rule.predict_observations(bands, fmask, ["L30", "S30"], output=output, crop=core)
        for w, c in zip(whole, part, strict=True):
            for name in ("probs", "cls", "confidence", "observed", "valid"):
                a, b = getattr(w, name), getattr(c, name)
                if a is None:
                    assert b is None
                    continue
                assert b.shape[:2] == (29, 28)
                np.testing.assert_array_equal(b, a[core], err_msg=f"{output} {name}")


def test_bad_inputs_are_config_errors(rule: Predictor, conv_net) -> None:
    bands, fmask = _scene()
    with pytest.raises(ConfigError):
        rule.predict_observations(bands, fmask[:1], ["L30", "L30"])
    with pytest.raises(ConfigError):
        rule.predict_observations(bands, fmask, ["L30", "L30"], output="logits")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="normalize"):
        Predictor(conv_net).predict_observations(bands, fmask, ["L30", "L30"])


def test_hlsmap_unet_runs_through_the_kernel() -> None:
    model = pytest.importorskip("hlsmap.model")
    net = model.build_model("tiny", bands=model.BANDS, seed=0)
    meta = model.ModelMetadata.for_model(net, model.BANDS)
    p = Predictor(net, normalize=meta.normalize, window=32, overlap=8, batch_size=2)
    bands, fmask = _scene(t=3, h=50, w=45)
    preds = p.predict_observations(bands, fmask, ["L30", "S30", "L30"])
    assert len(preds) == 3 and all(x.probs.shape == (50, 45, 10) for x in preds)


_SHARDED = textwrap.dedent(
    """
    import jax, numpy as np
    from predict_nets import make_conv_net
    from hlsmap.inference.predict import Predictor
    assert len(jax.devices()) == 8, jax.devices()
    net = make_conv_net()
    x = np.random.default_rng(0).normal(size=(3, 70, 60, 6)).astype(np.float32)
    many = Predictor(net, window=32, overlap=8, batch_size=8)
    one = Predictor(net, window=32, overlap=8, batch_size=8, devices=jax.devices()[:1])
    assert many.n_devices == 8 and one.n_devices == 1
    out = jax.device_put(np.zeros((8, 32, 32, 6), np.float32), many._batched)
    assert len(out.sharding.device_set) == 8
    a, b = many.predict_probs(x), one.predict_probs(x)
    np.testing.assert_allclose(a, b, atol=1e-6)
    print("SHARDED-OK", float(np.abs(a - b).max()))
    """
)


def test_eight_forced_cpu_devices_equal_one_device() -> None:
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    here = Path(__file__).parent
    res = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "SHARDED-OK" in res.stdout


def test_blank_pixels_are_not_valid_when_band_names_are_known() -> None:
    names = ("blue", "green", "red", "nir08", "swir16", "swir22")
    p = Predictor(make_rule_net(), normalize=simple_normalize, window=32, overlap=8, bands=names)
    bands, fmask = _scene(t=1, h=16, w=16)
    bands[0, :4, :, :3] = 0  # zero visible reflectance: not a surface observation
    (pred,) = p.predict_observations(bands, fmask, ["L30"])
    assert pred.observed.all() and not pred.valid[:4].any() and pred.valid[4:].all()


def test_bf16_dot_convolutions_match_float32() -> None:
    from flax import nnx

    from hlsmap.inference.fastconv import use_bf16_dots

    net = nnx.Sequential(
        nnx.Conv(6, 16, (3, 3), rngs=nnx.Rngs(0)),
        nnx.relu,
        nnx.Conv(16, 10, (3, 3), rngs=nnx.Rngs(1)),
    )
    fast = use_bf16_dots(net, min_channels=16)  # the second conv switches to bf16 dots
    fast_conv: Any = fast.layers[2]
    orig_conv: Any = net.layers[2]
    assert fast_conv.conv_general_dilated is not orig_conv.conv_general_dilated
    assert orig_conv.conv_general_dilated.__name__ == "conv_general_dilated"  # untouched
    x = np.random.default_rng(0).normal(size=(2, 24, 20, 6)).astype(np.float32)
    a = np.asarray(net(x))
    b = np.asarray(fast(x))
    assert b.dtype == np.float32 and b.shape == a.shape
    np.testing.assert_allclose(b, a, atol=0.05 * np.abs(a).max())
    assert (a.argmax(-1) == b.argmax(-1)).mean() > 0.97


def test_windows_of_only_flagged_pixels_are_not_run(rule: Predictor) -> None:
    bands, fmask = _scene(t=2, h=64, w=64)
    fmask[0] = 0b0000_0010  # observation 0: cloud everywhere (Fmask)
    fmask[1, :32, :32] = 0b0000_1000  # observation 1: one window's area all shadow
    calls = []
    real = rule._forward

    def counting(state, batch, weights):
        calls.append(int(batch.shape[0]))
        return real(state, batch, weights)

    rule._forward = counting
    try:
        preds = rule.predict_observations(bands, fmask, ["L30", "L30"], output="class")
    finally:
        rule._forward = real
    p0, p1 = preds
    assert p0.observed.all() and not p0.valid.any() and (p0.cls == 0).all()
    assert p1.valid[40:, 40:].all() and (p1.cls[40:, 40:] > 0).all()
    # 3x3 windows per observation (32 px, overlap 8 on 64 px); observation 0 runs none and
    # observation 1 skips the one window wholly inside its shadow: 8 of 18 windows run
    assert len(rule.plan(64, 64).origins) == 9
    assert len(calls) == -(-8 // rule.batch_size)


def test_models_with_derived_index_inputs_run() -> None:
    from hlsmap.model import ModelMetadata, build_model

    bands = ("blue", "green", "red", "nir08", "swir16", "swir22")
    net = build_model("tiny", bands=bands, indices=("ndvi", "mndwi"))
    meta = ModelMetadata.for_model(net, bands, preset="tiny", indices=("ndvi", "mndwi"))
    assert meta.num_inputs == 8
    p = Predictor(net, normalize=meta.normalize, window=32, overlap=8, bands=bands)
    scene, fmask = _scene(t=1, h=32, w=32)
    (pred,) = p.predict_observations(scene, fmask, ["S30"])
    assert pred.observed.all() and pred.probs is not None
    assert np.abs(pred.probs.sum(-1).astype(int) - 255).max() <= 6  # an untrained net, but run
