"""Benchmark: train the default CPU config on the synthetic world, report accuracy + throughput.

    python bench/bench_train.py                      # world -> chips -> train -> evaluate
    python bench/bench_train.py --steps 200 --config cpu --work /tmp/hlsmap-bench
    python bench/bench_train.py --throughput-only    # px/s of the train step, no data needed

Targets (DESIGN/issue 3): trained in <= 10 min on 2 CPU cores, >= 90% overall accuracy on
clear pixels of held-out observations and >= 0.8 F1 on every class covering >= 1% of the area.
Figures are printed; nothing is asserted (timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def throughput(preset: str, batch: int, crop: int, steps: int) -> dict[str, object]:
    """Train-step throughput on random data (no chip set needed)."""
    import jax
    import numpy as np

    from hlsmap.training.configs.base import TrainConfig
    from hlsmap.training.train import Trainer

    class _FakeStore:  # just what Trainer reads
        bands = ("blue", "green", "red", "nir08", "swir16", "swir22")
        chip_size = crop
        normalization = {"*": {"mean": [0.0] * 6, "std": [1.0] * 6}}

        @staticmethod
        def class_counts(split: str) -> np.ndarray:
            return np.ones(11, np.int64)

    cfg = TrainConfig(preset=preset, batch_size=batch, crop=crop, steps=steps + 10,
                      warmup_steps=1)  # fmt: skip
    tr = Trainer(cfg, _FakeStore())  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, crop, crop, 6)).astype(np.float32)
    y = rng.integers(1, 11, size=(batch, crop, crop)).astype(np.int32)
    t = time.perf_counter()
    tr.run_step(0, x, y).block_until_ready()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for s in range(1, steps + 1):
        loss = tr.run_step(s, x, y)
    loss.block_until_ready()
    dt = time.perf_counter() - t
    return {"preset": preset, "devices": jax.device_count(), "backend": jax.default_backend(),
            "batch": batch, "crop": crop, "compile_s": round(compile_s, 1),
            "px_per_s": round(steps * batch * crop * crop / dt)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/hlsmap-bench-train"))
    ap.add_argument("--world", type=Path, default=None, help="existing world (else simulated)")
    ap.add_argument("--size", type=int, default=512, help="world size when simulating")
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--every", type=int, default=2, help="use every N-th observation for chips")
    ap.add_argument("--throughput-only", action="store_true")
    ap.add_argument("--preset", default="small")
    args = ap.parse_args()

    if args.throughput_only:
        for batch, crop in ((16, 48), (16, 64)):
            print(json.dumps(throughput(args.preset, batch, crop, steps=30)))
        return

    from hlsmap.model import load_model
    from hlsmap.training.chip_sources import build_chips
    from hlsmap.training.chips import ChipStore
    from hlsmap.training.configs import get_config
    from hlsmap.training.train import train

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    world = args.world or work / "world"
    if not (world / "manifest.json").is_file():
        from hlsmap.simulate import WorldConfig, simulate_world

        t = time.perf_counter()
        simulate_world(WorldConfig(seed=0, size=args.size), world)
        print(f"simulated world {world} in {time.perf_counter() - t:.0f} s")
    chips = work / f"chips-every{args.every}.zarr"
    if not chips.is_dir():
        t = time.perf_counter()
        build_chips(world, chips, every=args.every)
        print(f"built chips {chips} in {time.perf_counter() - t:.0f} s")
    store = ChipStore.open(chips)
    print(f"chips: {len(store)} ({store.indices('train').size} train /"
          f" {store.indices('test').size} test), {store.chip_size} px")  # fmt: skip
    cfg = get_config(args.config).replace(steps=args.steps)
    run = work / f"run-{args.config}-{cfg.steps}"
    t = time.perf_counter()
    res = train(cfg, chips, run, progress=True)
    wall = time.perf_counter() - t
    m = res.metrics
    print(f"\ntrain: {res.step} steps, {res.seconds:.0f} s loop, {wall:.0f} s with evaluation,"
          f" {res.px_per_s:,.0f} px/s (2-core CPU dev box, shared)")  # fmt: skip
    print(f"held-out clear pixels: OA {m['overall_accuracy']:.4f}, kappa {m['kappa']:.4f},"
          f" macro F1 {m['macro_f1']:.4f}, mIoU {m['mean_iou']:.4f}"
          f" ({m['pixels']:,} px)")  # fmt: skip
    print(f"{'class':22s} {'share':>6s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'IoU':>6s}")
    ok_f1 = True
    for c in m["per_class"].values():
        if not c["support"]:
            continue
        print(f"{c['name']:22s} {100 * c['share']:5.1f}% {c['precision'] or 0:6.3f}"
              f" {c['recall'] or 0:6.3f} {c['f1'] or 0:6.3f} {c['iou'] or 0:6.3f}")  # fmt: skip
        if c["share"] >= 0.01 and (c["f1"] or 0) < 0.8:
            ok_f1 = False
    a = m["all"]
    print(f"all labelled pixels incl. cloud class: OA {a['overall_accuracy']:.4f}; cloud F1"
          f" {a['per_class']['10']['f1']}")  # fmt: skip
    print(f"targets: time <= 600 s: {res.seconds <= 600}; OA >= 0.90:"
          f" {m['overall_accuracy'] >= 0.9}; F1 >= 0.8 on classes >= 1%: {ok_f1}")  # fmt: skip
    load_model(res.model_dir)  # the saved model loads
    print(f"model: {res.model_dir}")


if __name__ == "__main__":
    main()
