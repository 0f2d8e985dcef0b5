"""Inference-kernel benchmark: pixels/second per model preset, JAX vs the same U-Net in PyTorch.

Runs, in one process and on the same inputs:

* hlsmap's jitted kernel (``Predictor.forward_batch``: model + softmax) in float32 on one CPU
  device, float32 with one CPU device per core (batch sharded over a ``('data',)`` mesh),
  bfloat16 compute (sharded; XLA:CPU converts bf16 convolutions back to f32) and wide
  convolutions as bf16 matrix products (``hlsmap.inference.fastconv``, sharded);
* the U-Net exported to OpenVINO (``Predictor(runtime="openvino")``, the fastest CPU kernel)
  in float32 and bfloat16;
* a PyTorch twin of the U-Net (same layers, the JAX weights copied in) in float32 NCHW,
  float32 channels_last and bfloat16 channels_last.

The preset ``dynamicworld`` benchmarks Dynamic World's network instead (converted from the
fixture SavedModel in ``shared/fixtures/dynamicworld``): the JAX port in float32 (one device and
sharded), its OpenVINO export (:mod:`hlsmap.inference.openvino_dynamicworld`) in float32 and
bfloat16, and a PyTorch twin with the same weights (NCHW, channels_last, bf16).

For each it prints pixels/second, the fraction of this machine's peak (FLOPs per pixel from XLA's
cost analysis of the float32 model; the peak is measured at start-up, see ``measure_peak``:
a jitted float32 matrix product, and bfloat16 through OpenVINO's bf16 matmul) and the argmax
agreement with JAX float32 (accuracy check).

    .venv/bin/python bench/bench_kernel.py --presets tiny,small --size 256 --batch 4
    .venv/bin/python bench/bench_kernel.py --presets dynamicworld --size 512 --batch 1

PyTorch is a bench-only extra: ``pip install torch==2.13.0`` (a CPU build). Without it the
PyTorch rows are skipped; without ``openvino`` (``pip install 'hlsmap[openvino]'``) the OpenVINO
rows.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, cast

# One CPU device per core, decided before JAX initializes.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", _CORES)

import numpy as np  # noqa: E402

PEAK_F32 = 0.0  # FLOP/s of this machine, measured by main() (measure_peak)
PEAK_BF16 = 0.0


def measure_peak(seconds: float = 1.0) -> tuple[float, float]:
    """This machine's float32 and bfloat16 FLOP/s, measured, never assumed.

    float32: the best of repeated jitted 1024^3 matrix products on all cores (XLA's Eigen GEMM:
    FMA-bound). bfloat16: the same product compiled by OpenVINO with the bf16 precision hint
    (oneDNN's bf16 dot products: AVX512-BF16, or AMX tiles where the CPU has them; on a CPU
    without bf16 units OpenVINO computes in f32 and the figure says so), the better of that and
    the f32 figure (when OpenVINO is not installed: the f32 figure)."""
    n = 1024
    a_np = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    a = jax.numpy.asarray(a_np)
    mm = jax.jit(lambda m: m @ m)
    f32 = 2 * n**3 / timeit(lambda: mm(a).block_until_ready(), seconds, min_runs=5)
    bf16 = f32
    try:
        import openvino.opset13 as ops

        from hlsmap.inference.openvino_kernel import compile_cpu, require_openvino

        ov = require_openvino()
        x = ops.parameter([n, n], np.float32, name="a")
        compiled = compile_cpu(ov.Model([ops.matmul(x, ops.constant(a_np), False, False)], [x]),
                               "bf16", _CORES)  # fmt: skip
        request = compiled.create_infer_request()
        ov_bf16 = 2 * n**3 / timeit(lambda: request.infer({0: a_np}), seconds, min_runs=5)
        bf16 = max(bf16, ov_bf16)
    except ImportError:
        pass
    return f32, bf16


def timeit(fn: Any, min_seconds: float, min_runs: int = 2) -> float:
    """Best seconds of one call over ``min_seconds`` (after one warm-up call)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 50:
            break
    return float(np.min(times))


def flops_per_pixel(net: Any, x: np.ndarray) -> float:
    """FLOPs of one forward pass per pixel, from XLA's cost analysis."""
    compiled = jax.jit(lambda a: net(a)).lower(x).compile()
    cost: Any = compiled.cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost["flops"]) / (x.shape[0] * x.shape[1] * x.shape[2])


def _torch_conv(c: Any) -> Any:
    """A ``torch.nn.Conv2d`` with the weights of an ``nnx.Conv`` (grouped ones included)."""
    import torch
    from torch import nn

    k = np.asarray(c.kernel[...])  # (kh, kw, cin / groups, cout)
    groups = int(getattr(c, "feature_group_count", 1))
    m = nn.Conv2d(
        k.shape[2] * groups,
        k.shape[3],
        k.shape[:2],
        padding="same",
        groups=groups,
        bias=c.bias is not None,
    )
    m.weight.data = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
    if c.bias is not None:
        m.bias.data = torch.from_numpy(np.asarray(c.bias[...]).copy())  # type: ignore[union-attr]
    return m


def _torch_norm(n: Any) -> Any:
    """The ``torch.nn`` twin of an NNX BatchNorm (inference) or GroupNorm."""
    import torch
    from flax import nnx
    from torch import nn

    if n is None:
        return nn.Identity()
    if isinstance(n, nnx.BatchNorm):  # inference: running statistics
        n = cast(Any, n)
        bn = nn.BatchNorm2d(n.scale.shape[0], eps=n.epsilon)
        bn.weight.data = torch.from_numpy(np.asarray(n.scale[...]).copy())
        bn.bias.data = torch.from_numpy(np.asarray(n.bias[...]).copy())
        bn.running_mean = torch.from_numpy(np.asarray(n.mean[...]).copy())
        bn.running_var = torch.from_numpy(np.asarray(n.var[...]).copy())
        return bn
    g = nn.GroupNorm(n.num_groups, n.scale.shape[0], eps=n.epsilon)
    g.weight.data = torch.from_numpy(np.asarray(n.scale[...]).copy())
    g.bias.data = torch.from_numpy(np.asarray(n.bias[...]).copy())
    return g


def torch_twin(net: Any) -> Any:
    """The same U-Net in PyTorch, with the JAX model's weights."""
    import torch
    from torch import nn

    conv, norm = _torch_conv, _torch_norm

    def block(b: Any) -> nn.Sequential:
        return nn.Sequential(
            conv(b.conv1), norm(b.norm1), nn.ReLU(), conv(b.conv2), norm(b.norm2), nn.ReLU()
        )

    def up(u: Any) -> nn.ConvTranspose2d:
        k = np.asarray(u.kernel[...])  # (2, 2, cin, cout); flax applies it unflipped
        m = nn.ConvTranspose2d(k.shape[2], k.shape[3], 2, stride=2)
        m.weight.data = torch.from_numpy(k[::-1, ::-1].transpose(2, 3, 0, 1).copy())
        m.bias.data = torch.from_numpy(np.asarray(u.bias[...]).copy())  # type: ignore[union-attr]
        return m

    class TwinUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.ModuleList([block(b) for b in net.down])
            self.up = nn.ModuleList([up(u) for u in net.up])
            self.dec = nn.ModuleList([block(b) for b in net.dec])
            self.head = conv(net.head)

        def forward(self, x: Any) -> Any:
            skips = []
            for i, b in enumerate(self.down):
                if i > 0:
                    x = nn.functional.max_pool2d(x, 2)
                x = b(x)
                skips.append(x)
            for i in reversed(range(len(self.dec))):
                x = self.up[i](x)
                x = self.dec[i](torch.cat([x, skips[i]], dim=1))
            return torch.softmax(self.head(x).float(), dim=1)

    return TwinUNet().eval()


def torch_dynamicworld_twin(net: Any) -> Any:
    """Dynamic World's network in PyTorch, with the port's weights (softmax over 9 classes).

    The resizes use the port's taps (``hlsmap.model.resize``): per axis and tap an
    ``index_select`` times a weight, as in JAX and OpenVINO.
    """
    import torch
    from torch import nn

    from hlsmap.model.resize import antialias_taps, bilinear_taps

    def cbm(layer: Any) -> nn.Sequential:
        return nn.Sequential(_torch_conv(layer.conv), _torch_norm(layer.norm), nn.Mish())

    class Block(nn.Module):
        def __init__(self, block: Any) -> None:
            super().__init__()
            self.layers = nn.Sequential(*[cbm(layer) for layer in block.layers])
            self.shortcut = cbm(block.shortcut)

        def forward(self, x: Any) -> Any:
            return self.layers(x) + self.shortcut(x)

    def taps(x: Any, t: tuple[np.ndarray, np.ndarray], dim: int) -> Any:
        idx, w = t
        shape = [1, 1, 1, 1]
        shape[dim] = idx.shape[0]
        out = None
        for k in range(idx.shape[1]):
            wk = torch.from_numpy(w[:, k].reshape(shape).copy()).to(x.dtype)
            term = x.index_select(dim, torch.from_numpy(idx[:, k].astype(np.int64))) * wk
            out = term if out is None else out + term
        return out

    class TwinDW(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = cbm(net.stem)
            self.skip = nn.Sequential(cbm(net.skip_pw), cbm(net.skip_dw))
            self.block1, self.block2 = Block(net.block1), Block(net.block2)
            self.block3 = Block(net.block3)
            self.head = _torch_conv(net.head)

        def forward(self, x: Any) -> Any:
            h, w = x.shape[2], x.shape[3]
            x = self.stem(x)
            x = taps(taps(x, antialias_taps(h, h // 2), 2), antialias_taps(w, w // 2), 3)
            x = self.block3(torch.cat([self.block2(self.block1(x)), self.skip(x)], dim=1))
            x = taps(taps(x, bilinear_taps(h // 2, h), 2), bilinear_taps(w // 2, w), 3)
            # TF's l2_normalize: x / sqrt(max(sum x^2, 1e-12)) == x / max(|x|, 1e-6)
            x = nn.functional.normalize(x.float(), dim=1, eps=1e-6).to(x.dtype)
            return torch.softmax(self.head(x).float(), dim=1)

    return TwinDW().eval()


def _dynamicworld(fixtures: str) -> Any:
    """Dynamic World converted from the fixture SavedModel and loaded like any model."""
    import tempfile
    from pathlib import Path

    from hlsmap.model import load_model
    from hlsmap.model.dw_import import import_dynamicworld

    src = Path(fixtures)
    with tempfile.TemporaryDirectory() as tmp:
        net, _ = load_model(import_dynamicworld(src / "forward", Path(tmp) / "dw", src))
    return net


def _torch_variants(twin: Any, x: np.ndarray, classes: int) -> list[tuple[str, Any, Any, float]]:
    """(name, call, output NHWC with hlsmap's 10 classes, peak) of a PyTorch twin's configs."""
    import copy

    import torch

    torch.set_num_threads(_CORES)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    variants: list[tuple[str, Any, Any, float]] = []
    for name, dtype, fmt, peak in [
        ("torch f32 NCHW", torch.float32, torch.contiguous_format, PEAK_F32),
        ("torch f32 channels_last", torch.float32, torch.channels_last, PEAK_F32),
        ("torch bf16 channels_last", torch.bfloat16, torch.channels_last, PEAK_BF16),
    ]:
        m = copy.deepcopy(twin).to(dtype=dtype, memory_format=fmt)
        xi = xt.to(dtype=dtype, memory_format=fmt)

        def run(m: Any = m, xi: Any = xi) -> Any:
            with torch.inference_mode():
                return m(xi)

        out = run().float().numpy().transpose(0, 2, 3, 1)
        if out.shape[-1] < classes:  # Dynamic World: no cloud class, probability 0
            out = np.concatenate(
                [out, np.zeros((*out.shape[:-1], classes - out.shape[-1]), np.float32)], -1
            )
        variants.append((name, run, out, peak))
    return variants


def bench_dynamicworld(
    size: int, batch: int, seconds: float, fixtures: str
) -> list[dict[str, Any]]:
    """Dynamic World's variants on one ``batch x size x size`` input (see the module doc)."""
    from hlsmap.inference.predict import Predictor

    net = _dynamicworld(fixtures)
    rng = np.random.default_rng(0)
    # inputs in the network's range (normalize_dn gives (0, 1)), smooth enough to be land-like
    x = rng.uniform(0.2, 0.8, size=(batch, size, size, 9)).astype(np.float32)
    fpp = flops_per_pixel(net, x)
    devices = jax.devices()
    variants: list[tuple[str, Any, Any, float]] = []
    configs: list[tuple[str, dict[str, Any]]] = [("jax f32, 1 device", dict(devices=devices[:1]))]
    if batch % len(devices) == 0 and len(devices) > 1:
        configs.append((f"jax f32, {len(devices)} devices", {}))
    for name, kw in configs:
        p = Predictor(net, batch_size=batch, **kw)
        variants.append((name, lambda p=p: p.forward_batch(x), p.forward_batch(x), PEAK_F32))
    variants += _runtime_variants(net, x, batch, lambda: torch_dynamicworld_twin(net.inner))
    return _time_variants("dynamicworld", variants, batch * size * size, fpp, seconds)


def _runtime_variants(
    net: Any, x: np.ndarray, batch: int, twin: Any
) -> list[tuple[str, Any, Any, float]]:
    """OpenVINO f32/bf16 rows (the Predictor's runtime='openvino') and the PyTorch twin's rows
    (``twin()`` builds it), each skipped with a line when its package is not installed."""
    from hlsmap.inference.predict import Predictor

    variants: list[tuple[str, Any, Any, float]] = []
    try:
        import openvino  # noqa: F401
    except ImportError:
        print("  (openvino not installed: OpenVINO rows skipped)")
    else:
        for dtype, peak in [(None, PEAK_F32), (jax.numpy.bfloat16, PEAK_BF16)]:
            p = Predictor(net, batch_size=batch, compute_dtype=dtype, runtime="openvino")
            name = f"hlsmap openvino {'bf16' if dtype else 'f32'}"
            variants.append((name, lambda p=p: p.forward_batch(x), p.forward_batch(x), peak))
    try:
        import torch  # noqa: F401
    except ImportError:
        print("  (torch not installed: PyTorch rows skipped)")
    else:
        variants += _torch_variants(twin(), x, 10)
    return variants


def _time_variants(
    preset: str,
    variants: list[tuple[str, Any, Any, float]],
    pixels: int,
    fpp: float,
    seconds: float,
) -> list[dict[str, Any]]:
    # Each variant is timed in a block of consecutive calls (interleaving single calls would
    # charge one runtime for the other's spinning worker threads), in two passes, best call kept:
    # the CPU is shared, so the best call is the least disturbed one.
    best = {name: float("inf") for name, *_ in variants}
    for _ in range(2):
        for name, call, _, _ in variants:
            best[name] = min(best[name], timeit(call, seconds / 2))
    ref = variants[0][2]
    return [
        _row(preset, name, pixels / best[name], fpp, peak, out, ref)
        for name, _, out, peak in variants
    ]


def bench_preset(preset: str, size: int, batch: int, seconds: float) -> list[dict[str, Any]]:
    """Time every variant on one preset, round-robin (fair under a shared, noisy CPU)."""
    from hlsmap.inference.fastconv import use_bf16_dots
    from hlsmap.inference.predict import Predictor
    from hlsmap.model import BANDS, build_model

    net = build_model(preset, bands=BANDS, seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, len(BANDS))).astype(np.float32)
    fpp = flops_per_pixel(net, x)
    devices = jax.devices()
    # (name, call, output, peak) per variant
    variants: list[tuple[str, Any, np.ndarray, float]] = []
    for name, kw, peak in [
        ("jax f32, 1 device", dict(devices=devices[:1]), PEAK_F32),
        (f"jax f32, {len(devices)} devices", {}, PEAK_F32),
        (f"jax bf16 convs, {len(devices)} dev", dict(compute_dtype=jax.numpy.bfloat16), PEAK_BF16),
    ]:
        p = Predictor(net, batch_size=batch, **kw)
        variants.append((name, lambda p=p: p.forward_batch(x), p.forward_batch(x), peak))
    # wide convolutions as bf16 matrix products that XLA keeps (hlsmap.inference.fastconv)
    p = Predictor(use_bf16_dots(net), batch_size=batch)
    name = f"jax bf16 dots>=128ch, {len(devices)} dev"
    variants.append((name, lambda p=p: p.forward_batch(x), p.forward_batch(x), PEAK_BF16))
    # the U-Net exported to OpenVINO (hlsmap.inference.openvino_kernel), the runtime='openvino'
    # path of the Predictor, and the PyTorch twin
    variants += _runtime_variants(net, x, batch, lambda: torch_twin(net))
    return _time_variants(preset, variants, batch * size * size, fpp, seconds)


def _row(
    preset: str, name: str, pps: float, fpp: float, peak: float, out: np.ndarray, ref: Any
) -> dict[str, Any]:
    agree = float((out.argmax(-1) == ref.argmax(-1)).mean())
    return {
        "preset": preset,
        "variant": name,
        "px_per_s": pps,
        "gflops": pps * fpp / 1e9,
        "peak": pps * fpp / peak,
        "agree": agree,
        "max_dp": float(np.abs(out - ref).max()),
        "flops_px": fpp,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,small,standard")
    ap.add_argument("--size", type=int, default=256, help="window side (px)")
    ap.add_argument("--batch", type=int, default=4, help="windows per call")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing budget per variant")
    ap.add_argument(
        "--dw-fixtures",
        default=str(Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dynamicworld"),
        help="folder of Dynamic World's SavedModel (forward/) with LICENSE and NOTICE",
    )
    args = ap.parse_args()
    global PEAK_F32, PEAK_BF16
    PEAK_F32, PEAK_BF16 = measure_peak()
    print(f"CPU: {_cpu_model()}")
    print(f"{_CORES} CPU cores, {len(jax.devices())} JAX CPU devices, jax {jax.__version__}")
    print(f"window {args.size}x{args.size}, batch {args.batch}; measured peak "
          f"{PEAK_F32 / 1e9:.0f} GFLOP/s f32 (jit matmul), {PEAK_BF16 / 1e9:.0f} bf16 "
          f"(OpenVINO bf16 matmul; bf16 flags: {_bf16_flags()})")  # fmt: skip
    header = (f"{'preset':9} {'variant':28} {'px/s':>11} {'GFLOP/s':>8} {'of peak':>8} "
              f"{'argmax=':>8} {'max|dp|':>8}")  # fmt: skip
    print(header)
    for preset in args.presets.split(","):
        if preset.strip() == "dynamicworld":
            rows = bench_dynamicworld(args.size, args.batch, args.seconds, args.dw_fixtures)
        else:
            rows = bench_preset(preset.strip(), args.size, args.batch, args.seconds)
        for r in rows:
            print(f"{r['preset']:9} {r['variant']:28} {r['px_per_s']:11,.0f} {r['gflops']:8.1f} "
                  f"{r['peak']:8.1%} {r['agree']:8.2%} {r['max_dp']:8.4f}")  # fmt: skip
        print(f"{preset}: {r['flops_px'] / 1e3:,.1f} kFLOP/pixel (XLA cost analysis)")


def _cpuinfo(key: str) -> str:
    """The first ``key`` line of ``/proc/cpuinfo`` (``""`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _bf16_flags() -> str:
    """The CPU's bf16 feature flags (``avx512_bf16``, ``amx_bf16``), or ``none``."""
    flags = set(_cpuinfo("flags").split())
    return ",".join(f for f in ("avx512_bf16", "amx_bf16") if f in flags) or "none"


def _cpu_model() -> str:
    """The CPU's model name, for the record."""
    import platform

    return _cpuinfo("model name") or platform.processor() or "unknown"


if __name__ == "__main__":
    main()
