"""Dynamic World exported to OpenVINO reproduces TensorFlow's golden logits and the JAX kernel."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from hlsmap.errors import ConfigError

pytest.importorskip("openvino")

# tests/inference/<file> -> parents[3] is the folder holding the checkout and shared/.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
FORWARD = FIXTURES / "forward"
GOLDEN = FIXTURES / "golden" / "golden.npz"
SETS = ("random_even", "random_odd", "bigearthnet")

pytestmark = pytest.mark.skipif(
    not (FORWARD / "saved_model.pb").is_file() or not GOLDEN.is_file(),
    reason=f"Dynamic World fixtures not found under {FIXTURES} (shared/fixtures/dynamicworld)",
)


@functools.cache
def _net():
    from hlsmap.model.dw_convert import convert_savedmodel
    from hlsmap.model.dynamicworld import build_dynamicworld

    return build_dynamicworld(convert_savedmodel(FORWARD, check_hashes=True))


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _logits(x: np.ndarray, precision: str) -> np.ndarray:
    from hlsmap.inference.openvino_kernel import compile_cpu, export_logits

    b, h, w, _ = x.shape
    compiled = compile_cpu(export_logits(_net(), b, h, w), precision)
    return np.asarray(compiled(np.ascontiguousarray(x))[0])


@pytest.mark.parametrize("name", SETS)
def test_openvino_f32_reproduces_tensorflow_logits(golden, name: str) -> None:
    x, ref = golden[f"{name}_x"], golden[f"{name}_logits"]
    got = _logits(x, "f32")
    assert got.shape == ref.shape and got.dtype == np.float32
    # Achieved: 4.8e-6 (random_even, random_odd), 1.4e-5 (bigearthnet), as the JAX port.
    assert np.abs(got - ref).max() <= 1e-4
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))


def test_openvino_bf16_argmax_agreement(golden, capsys) -> None:
    # bf16 is a speed option: its argmax agreement is reported, and must stay high (on CPUs
    # without bf16 units OpenVINO runs f32 and agrees fully).
    for name in SETS:
        ref = golden[f"{name}_logits"].argmax(-1)
        agree = float((_logits(golden[f"{name}_x"], "bf16").argmax(-1) == ref).mean())
        with capsys.disabled():
            print(f"\n  openvino bf16 argmax agreement with TensorFlow, {name}: {agree:.4%}")
        assert agree >= 0.95


def test_predictor_openvino_equals_jax_on_converted_model(tmp_path: Path, golden) -> None:
    from hlsmap.inference.predict import Predictor
    from hlsmap.model import load_model
    from hlsmap.model.dw_import import import_dynamicworld

    net, meta = load_model(import_dynamicworld(FORWARD, tmp_path / "dw", FIXTURES))
    # the real patches, two windows of 64 px with a blend zone over a 120 px image
    images = golden["bigearthnet_x"][:2]
    kw = dict(window=64, overlap=8, batch_size=2)
    ref = Predictor(net, **kw).predict_probs(images)
    got = Predictor(net, runtime="openvino", **kw).predict_probs(images)
    assert got.shape == ref.shape == (2, 120, 120, 10)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    # clouds: Dynamic World has no cloud class, its probability is exactly 0 on both runtimes
    assert np.all(got[..., 9] == 0.0) and np.all(ref[..., 9] == 0.0)


def test_unknown_network_is_refused_and_exporters_register() -> None:
    from flax import nnx

    from hlsmap.inference import openvino_kernel as ovk

    class Plain(nnx.Module):
        def __init__(self) -> None:
            self.in_channels = 3

    with pytest.raises(ConfigError, match="register_exporter"):
        ovk.export_model(Plain(), 1, 4, 4)

    def zeros(b, net, x, height, width):  # 3 + 3 + 3 + 1 channels, all 0: ten equal logits
        first = b.ops.gather(x, b.ops.constant(np.array([0], np.int64)), b.ops.constant(1))
        return b.ops.multiply(b.ops.concat([x, x, x, first], 1), b.const(np.zeros(1)))

    ovk.register_exporter(Plain, zeros)
    try:
        x = np.ones((1, 4, 4, 3), np.float32)
        probs = ovk.OpenVINOKernel(Plain())(x, np.full((4, 4), 2.0, np.float32))
        np.testing.assert_allclose(probs, 0.2, rtol=1e-6)  # softmax of equal logits x weight 2
    finally:
        ovk._EXPORTERS.pop(ovk._type_key(Plain))


@pytest.mark.parametrize("size", [(2, 2), (4, 6), (10, 8), (34, 18)])
def test_even_sides_resize_by_convolution_as_the_taps_do(size: tuple[int, int]) -> None:
    # even sides take the depthwise-convolution resizes (no Gathers); they must equal the
    # tap lists of hlsmap.model.resize, the edges' renormalised spans included
    import functools

    from hlsmap.inference import openvino_dynamicworld as odw
    from hlsmap.inference import openvino_kernel as ovk

    key = "hlsmap.model.dynamicworld:DynamicWorldNet"
    h, w = size
    x = np.random.default_rng(1).uniform(0.0, 1.0, (2, h, w, 9)).astype(np.float32)
    outs = {}
    for resize in ("taps", "auto"):
        ovk._EXPORTERS[key] = functools.partial(odw.dynamicworld_logits, resize=resize)
        try:
            outs[resize] = np.asarray(ovk.compile_cpu(ovk.export_logits(_net(), 2, h, w))(x)[0])
        finally:
            ovk._EXPORTERS[key] = odw.dynamicworld_logits
    assert np.abs(outs["auto"] - outs["taps"]).max() <= 2e-5
    np.testing.assert_array_equal(outs["auto"].argmax(-1), outs["taps"].argmax(-1))
    # the graphs differ: the fast one has no Gather (a test of a no-op path would always pass)
    model = ovk.export_logits(_net(), 2, h, w)
    assert not [op for op in model.get_ops() if op.get_type_name() == "Gather"]
