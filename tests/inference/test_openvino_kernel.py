"""The U-Net exported to OpenVINO equals the JAX kernel (every layer kind, BatchNorm folded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hlsmap.errors import ConfigError

pytest.importorskip("openvino")

DEMO_MODEL = Path(__file__).parents[2] / "hlsmap" / "data" / "demo-model"


def _net(norm: str, widths: tuple[int, ...] = (8, 16, 32), seed: int = 0):
    from hlsmap.model import UNetConfig, build_model

    net = build_model(UNetConfig(widths=widths, norm=norm), seed=seed)
    if norm == "batch":
        # non-trivial running statistics, so a wrong fold would show
        rng = np.random.default_rng(seed)
        from flax import nnx

        for _, node in nnx.iter_graph(net):
            if isinstance(node, nnx.BatchNorm):
                c = node.mean.shape[0]
                node.mean[...] = rng.normal(0, 0.5, c).astype(np.float32)
                node.var[...] = rng.uniform(0.3, 2.0, c).astype(np.float32)
                node.scale[...] = rng.uniform(0.5, 1.5, c).astype(np.float32)
                node.bias[...] = rng.normal(0, 0.2, c).astype(np.float32)
    net.eval()
    return net


def _inputs(net, batch: int = 2, size: int = 64, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, size, size, net.config.in_channels)).astype(np.float32)
    w = rng.uniform(0.1, 1.0, size=(size, size)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_openvino_f32_equals_jax(norm: str) -> None:
    from hlsmap.inference.openvino_kernel import OpenVINOKernel
    from hlsmap.inference.predict import Predictor

    net = _net(norm)
    x, w = _inputs(net)
    ref = Predictor(net, batch_size=2).forward_batch(x, w)
    out = OpenVINOKernel(net, "f32")(x, w)
    assert out.shape == ref.shape == (2, 64, 64, 10)
    np.testing.assert_allclose(out, ref, atol=2e-5)


def test_openvino_bf16_keeps_the_argmax_of_the_shipped_model() -> None:
    from hlsmap.inference.openvino_kernel import OpenVINOKernel
    from hlsmap.inference.predict import Predictor
    from hlsmap.model import load_model

    net, _ = load_model(DEMO_MODEL)
    x, w = _inputs(net, size=96)
    ref = Predictor(net, batch_size=2).forward_batch(x, w)
    f32 = OpenVINOKernel(net, "f32")(x, w)
    np.testing.assert_allclose(f32, ref, atol=5e-5)  # real BatchNorm statistics, folded
    bf16 = OpenVINOKernel(net, "bf16")(x, w)
    assert (bf16.argmax(-1) == ref.argmax(-1)).mean() > 0.99
    assert np.abs(bf16 - ref).max() < 0.1


def test_predictor_on_openvino_runtime_tiles_like_jax() -> None:
    from hlsmap.inference.predict import Predictor

    net = _net("batch", widths=(8, 16))
    rng = np.random.default_rng(2)
    images = rng.normal(size=(3, 70, 90, net.config.in_channels)).astype(np.float32)
    skip = np.zeros(images.shape[:3], bool)
    skip[1] = True  # a whole observation that needs no prediction
    kw = dict(window=48, overlap=16, batch_size=4)
    ref = Predictor(net, **kw).predict_probs(images, skip=skip)
    ov = Predictor(net, runtime="openvino", **kw)
    out = ov.predict_probs(images, skip=skip)
    np.testing.assert_allclose(out, ref, atol=2e-5)
    assert not out[1].any()
    # OpenVINO runs each call on every core: no mesh and no jitted JAX function behind it
    assert ov.mesh is None and ov.n_devices == 1 and not hasattr(ov, "_forward")


def test_openvino_runtime_refuses_what_it_cannot_run(conv_net) -> None:
    from hlsmap.inference.openvino_kernel import OpenVINOKernel
    from hlsmap.inference.predict import Predictor

    with pytest.raises(ConfigError, match="runtime 'jax'"):
        OpenVINOKernel(conv_net)(*_inputs(_net("none")))  # not an hlsmap UNet
    with pytest.raises(ConfigError, match="precision"):
        OpenVINOKernel(_net("none"), "int4")
    with pytest.raises(ConfigError, match="runtime"):
        Predictor(_net("none"), runtime="tensorrt")
