"""The U-Net exported to OpenVINO: the fast CPU kernel.

Why an export path: XLA's CPU backend wraps every bfloat16 convolution in converts to float32
and its direct convolutions are slow for the narrow layers of a land-cover U-Net, while CPUs
with AVX512-BF16/AMX (Zen 4, Sapphire Rapids) run bf16 convolutions at twice the float32 rate
through oneDNN. OpenVINO's CPU plugin is oneDNN with a graph compiler (fused conv + bias +
ReLU, blocked layouts), so the same network runs 1.5x faster in float32 and ~3x faster in
bfloat16 than the jitted JAX function on the 2-core dev box (``bench/bench_kernel.py``).

The graph is built from the NNX model's weights with OpenVINO's op set, layer for layer, so
nothing is traced and no file is executed: convolutions (BatchNorm folded into their weights
and bias), GroupNorm, ReLU, 2x2 max pooling, transposed convolutions, concatenation, softmax
and the blend-weight product the JAX kernel also does inside its jitted function.
``openvino`` is an optional extra: ``pip install 'hlsmap[openvino]'``.

Networks are exported through a registry keyed by their NNX class (:func:`register_exporter`):
built-in are the U-Net (:func:`unet_logits`), the ``ClassMapped`` wrapper
(:func:`classmapped_logits`) and Dynamic World (:mod:`hlsmap.inference.openvino_dynamicworld`).
An exporter emits logits; :func:`export_model` adds the input transpose, softmax, blend weights
and output transpose around it, the same for every network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError

PRECISIONS = ("f32", "bf16")
"""``INFERENCE_PRECISION_HINT`` values: ``bf16`` runs on the CPU's bf16 units where it has
them (OpenVINO falls back to f32 where it does not)."""


def require_openvino() -> Any:
    """The ``openvino`` module, or a clear error saying how to install it."""
    try:
        import openvino
    except ImportError as exc:
        raise ConfigError(
            "runtime 'openvino' needs the openvino package: pip install 'hlsmap[openvino]' "
            "(or use runtime 'jax')"
        ) from exc
    return openvino


def _array(value: Any) -> np.ndarray:
    return np.asarray(value[...] if hasattr(value, "__getitem__") else value, np.float32)


def conv_weights(conv: Any, norm: Any) -> tuple[np.ndarray, np.ndarray]:
    """OIHW weights and a bias for ``conv`` followed by ``norm`` (BatchNorm is folded in)."""
    from flax import nnx

    kernel = _array(conv.kernel)  # (kh, kw, cin, cout)
    cout = kernel.shape[3]
    bias = _array(conv.bias) if conv.bias is not None else np.zeros(cout, np.float32)
    if isinstance(norm, nnx.BatchNorm):
        # inference BatchNorm is a per-channel affine map: fold it into the convolution
        # (one pass over the activations fewer)
        scale = _array(norm.scale) / np.sqrt(_array(norm.var) + np.float32(norm.epsilon))
        kernel = kernel * scale
        bias = (bias - _array(norm.mean)) * scale + _array(norm.bias)
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), bias.astype(np.float32)


class Builder:
    """Emits OpenVINO nodes (NCHW) for NNX layers; network exporters share it."""

    def __init__(self) -> None:
        import openvino.opset13 as ops

        self.ops = ops

    def const(self, a: np.ndarray) -> Any:
        return self.ops.constant(np.ascontiguousarray(a, np.float32))

    def conv(self, x: Any, conv: Any, norm: Any = None) -> Any:
        from flax import nnx

        w, b = conv_weights(conv, norm)
        kh, kw = w.shape[2:]
        y = self.ops.convolution(
            x, self.const(w), [1, 1], [(kh - 1) // 2, (kw - 1) // 2], [kh // 2, kw // 2], [1, 1]
        )
        y = self.ops.add(y, self.const(b.reshape(1, -1, 1, 1)))
        if isinstance(norm, nnx.GroupNorm):
            y = self.ops.group_normalization(
                y,
                self.const(_array(norm.scale)),
                self.const(_array(norm.bias)),
                int(norm.num_groups),
                float(norm.epsilon),
            )
        return y

    def block(self, x: Any, block: Any) -> Any:
        x = self.ops.relu(self.conv(x, block.conv1, block.norm1))
        return self.ops.relu(self.conv(x, block.conv2, block.norm2))

    def up(self, x: Any, up: Any) -> Any:
        k = _array(up.kernel)  # (2, 2, cin, cout); flax applies it unflipped
        w = np.ascontiguousarray(k[::-1, ::-1].transpose(2, 3, 0, 1))
        y = self.ops.convolution_backprop_data(
            x, self.const(w), [2, 2], pads_begin=[0, 0], pads_end=[0, 0]
        )
        return self.ops.add(y, self.const(_array(up.bias).reshape(1, -1, 1, 1)))

    def max_pool(self, x: Any) -> Any:
        import openvino.opset14 as ops14

        return ops14.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)


Exporter = Callable[[Builder, Any, Any, int, int], Any]
"""``(builder, net, x, height, width) -> logits``: OpenVINO nodes for one network type, from
``x`` float32 NCHW ``(batch, C, height, width)`` to logits NCHW ``(batch, 10, height, width)``
(or the inner network's own classes, for a network a wrapper maps onto hlsmap's classes)."""

_EXPORTERS: dict[str, Exporter | str] = {
    "hlsmap.model.unet:UNet": "hlsmap.inference.openvino_kernel:unet_logits",
    "hlsmap.model.classmap:ClassMapped": "hlsmap.inference.openvino_kernel:classmapped_logits",
    "hlsmap.model.dynamicworld:DynamicWorldNet": (
        "hlsmap.inference.openvino_dynamicworld:dynamicworld_logits"
    ),
}


def _type_key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_exporter(network_type: type | str, exporter: Exporter | str) -> None:
    """Teach runtime ``openvino`` a network type.

    Args:
        network_type: the NNX module class, or its ``"module:QualName"``.
        exporter: an :data:`Exporter`, or ``"module:function"`` naming one (imported when a
            network of that type is first exported, so registering costs no imports).
    """
    key = network_type if isinstance(network_type, str) else _type_key(network_type)
    _EXPORTERS[key] = exporter


def find_exporter(net: Any) -> Exporter:
    """The exporter registered for ``net``'s class (or its nearest base class).

    Raises:
        ConfigError: no exporter is registered for it.
    """
    import importlib

    for cls in type(net).__mro__:
        found = _EXPORTERS.get(_type_key(cls))
        if found is None:
            continue
        if isinstance(found, str):
            module, _, name = found.partition(":")
            found = getattr(importlib.import_module(module), name)
            _EXPORTERS[_type_key(cls)] = found
        return found
    raise ConfigError(
        f"runtime 'openvino' cannot export {type(net).__name__}: register an exporter with"
        " hlsmap.inference.openvino_kernel.register_exporter, or use runtime 'jax'"
    )


def unet_logits(b: Builder, net: Any, x: Any, height: int, width: int) -> Any:
    """Logits of hlsmap's :class:`~hlsmap.model.unet.UNet` (an :data:`Exporter`)."""
    if height % net.multiple or width % net.multiple:
        raise ConfigError(
            f"window {height}x{width} must be a multiple of the model's {net.multiple}"
        )
    skips = []
    for i, block in enumerate(net.down):
        if i > 0:
            x = b.max_pool(x)
        x = b.block(x, block)
        skips.append(x)
    for i in reversed(range(len(net.dec))):
        x = b.up(x, net.up[i])
        x = b.block(b.ops.concat([x, skips[i]], 1), net.dec[i])
    return b.conv(x, net.head)


def classmapped_logits(b: Builder, net: Any, x: Any, height: int, width: int) -> Any:
    """A :class:`~hlsmap.model.classmap.ClassMapped` network: inner logits on hlsmap's codes.

    Classes the inner network does not predict get the constant ``ABSENT_LOGIT``, as in JAX
    (a Gather from the inner logits plus one constant channel: values are copied, not mixed).
    """
    from hlsmap.classes import NUM_CLASSES
    from hlsmap.model.classmap import ABSENT_LOGIT

    ops = b.ops
    logits = find_exporter(net.inner)(b, net.inner, x, height, width)
    n = len(net.codes)
    batch = int(x.get_output_partial_shape(0)[0].get_length())
    absent = ops.broadcast(
        b.const(np.full((1, 1, 1, 1), ABSENT_LOGIT, np.float32)),
        ops.constant(np.array([batch, 1, height, width], np.int64)),
    )
    index = np.full(NUM_CLASSES, n, np.int64)  # every class absent ...
    index[np.asarray(net.codes) - 1] = np.arange(n)  # ... but the inner network's own
    return ops.gather(
        ops.concat([logits, absent], 1), ops.constant(index), ops.constant(np.int64(1))
    )


def export_model(net: Any, batch: int, height: int, width: int) -> Any:
    """An ``openvino.Model`` computing blended softmax probabilities of ``net``.

    Inputs: ``x`` float32 ``(batch, height, width, C)`` (normalized, NHWC like the JAX model)
    and ``weights`` float32 ``(height, width)``; output float32 ``(batch, height, width, 10)``
    = ``softmax(net(x)) * weights``, exactly what the JAX kernel returns. The network's layers
    come from the exporter registered for its type (:func:`register_exporter`).

    Raises:
        ConfigError: no exporter for ``net``, or a window the network cannot take.
    """
    ov = require_openvino()
    exporter = find_exporter(net)
    b = Builder()
    ops = b.ops
    channels = _in_channels(net)
    x_in = ops.parameter([batch, height, width, channels], np.float32, name="x")
    w_in = ops.parameter([height, width], np.float32, name="weights")
    x = ops.transpose(x_in, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    logits = exporter(b, net, x, height, width)
    probs = ops.multiply(
        ops.softmax(logits, 1),
        ops.reshape(w_in, ops.constant(np.array([1, 1, height, width], np.int64)), False),
    )
    out = ops.transpose(probs, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    name = "hlsmap-unet" if type(net).__name__ == "UNet" else f"hlsmap-{type(net).__name__}"
    return ov.Model([out], [x_in, w_in], name)


def export_logits(net: Any, batch: int, height: int, width: int) -> Any:
    """An ``openvino.Model`` of ``net``'s raw logits: ``x`` NHWC in, logits NHWC out.

    For checks against a reference network's logits (``softmax`` would hide small errors)
    and for benchmarks; the kernel itself runs :func:`export_model`.
    """
    ov = require_openvino()
    exporter = find_exporter(net)
    b = Builder()
    ops = b.ops
    x_in = ops.parameter([batch, height, width, _in_channels(net)], np.float32, name="x")
    x = ops.transpose(x_in, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    logits = exporter(b, net, x, height, width)
    out = ops.transpose(logits, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return ov.Model([out], [x_in], f"hlsmap-{type(net).__name__}-logits")


def compile_cpu(model: Any, precision: str = "f32", threads: int | None = None) -> Any:
    """``model`` compiled for the CPU with an explicit precision hint (the default is bf16
    on CPUs that have it) and latency mode (one inference spread over every thread)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"openvino precision {precision!r}: use one of {PRECISIONS}")
    ov = require_openvino()
    return ov.Core().compile_model(
        model,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": int(threads or default_threads()),
            "PERFORMANCE_HINT": "LATENCY",
        },
    )


def _in_channels(net: Any) -> int:
    """Input channels of ``net`` (a wrapper's from its inner network)."""
    while hasattr(net, "inner"):
        net = net.inner
    if isinstance(getattr(net, "in_channels", None), int):
        return int(net.in_channels)
    config = getattr(net, "config", None)
    if config is not None and hasattr(config, "in_channels"):
        return int(config.in_channels)
    raise ConfigError(
        f"runtime 'openvino' cannot tell the input channels of {type(net).__name__}: give it"
        " an in_channels attribute or config.in_channels"
    )


def export_unet(net: Any, batch: int, height: int, width: int) -> Any:
    """:func:`export_model` for hlsmap's U-Net only (kept for callers that name it).

    Raises:
        ConfigError: ``net`` is not an hlsmap U-Net, or the window is not a multiple of its
            ``multiple``.
    """
    from hlsmap.model.unet import UNet

    if not isinstance(net, UNet):
        raise ConfigError(
            f"runtime 'openvino' exports hlsmap's UNet, not {type(net).__name__}; use runtime 'jax'"
        )
    return export_model(net, batch, height, width)


def default_threads() -> int:
    """CPU cores this process may use (``sched_getaffinity``: respects containers/taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class OpenVINOKernel:
    """Compiled OpenVINO models of one network, one per input shape (compiled on first use).

    Args:
        net: a network with a registered exporter (:func:`find_exporter`): hlsmap's U-Net,
            Dynamic World, either wrapped in ``ClassMapped`` (in eval mode).
        precision: ``"f32"`` or ``"bf16"`` (OpenVINO's inference precision hint).
        threads: CPU threads (default: the cores this process may use).
    """

    def __init__(self, net: Any, precision: str = "f32", threads: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"openvino precision {precision!r}: use one of {PRECISIONS}")
        self.ov = require_openvino()
        self.net = net
        self.precision = precision
        self.threads = int(threads or default_threads())
        self._core = self.ov.Core()
        self._compiled: dict[tuple[int, ...], Any] = {}
        # one inference at a time: a request is not reentrant, and one inference already
        # uses every core (the runner's other threads read and write meanwhile)
        self._lock = threading.Lock()

    def _request(self, shape: tuple[int, ...]) -> Any:
        if shape not in self._compiled:
            batch, height, width = shape
            model = export_model(self.net, batch, height, width)
            compiled = self._core.compile_model(
                model,
                "CPU",
                {
                    "INFERENCE_PRECISION_HINT": self.precision,
                    "INFERENCE_NUM_THREADS": self.threads,
                    "PERFORMANCE_HINT": "LATENCY",
                },
            )
            self._compiled[shape] = compiled.create_infer_request()
        return self._compiled[shape]

    def __call__(self, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``softmax(net(x)) * weights`` for a float32 ``(B, H, W, C)`` batch."""
        inputs = {
            0: np.ascontiguousarray(x, np.float32),
            1: np.ascontiguousarray(weights, np.float32),
        }
        with self._lock:
            request = self._request((int(x.shape[0]), int(x.shape[1]), int(x.shape[2])))
            # The request would write into one output buffer it reuses, which the caller would
            # have to copy (7% of a tile's predict time); instead every call gets a fresh array
            # to write into, and the inputs are read in place rather than copied in.
            out = np.empty(tuple(request.get_output_tensor(0).shape), np.float32)
            request.set_output_tensor(0, self.ov.Tensor(out, shared_memory=True))
            request.infer(inputs, share_inputs=True)
            return out
