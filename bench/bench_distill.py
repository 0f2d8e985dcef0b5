"""Distillation benchmark on the synthetic world: the shipped demo model as teacher restricted to
S30 (as Dynamic World sees only S30) -> soft-target chips from L30 and S30 -> a student U-Net,
measured against the teacher on held-out tiles. Synthetic spectra: the figures are plumbing
checks of the pipeline, never claims about real places.

    .venv/bin/python bench/bench_distill.py --size 256 --steps 600

The world (``tiles_per_side`` x ``tiles_per_side`` quadrant regions, the last held out) is served
by the tests' local STAC API and range server (``tests/servers.py``), so the code path is the
one that reads Planetary Computer. Prints the held-out consensus agreement (all sensors, L30
only, S30 only) and each model's mapping speed in seconds per km^2 per observation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _serve(world: Any, root: Path) -> Any:
    import contextlib

    sys.path.insert(0, str(ROOT / "tests"))
    import servers

    stack = contextlib.ExitStack()
    _, api = stack.enter_context(servers.served_world(world, root))
    return stack, api


def _speed(model: str, api: str, region: Any, sensors: tuple[str, ...], out: Path) -> float:
    """Seconds per km^2 per observation of one region run (compile included)."""
    from hlsmap.inference.runner import RunConfig, run_region
    from hlsmap.search import search

    geobox = region.region.geobox(resolution=30.0)
    items = search(api, region=region.region, datetime=region.datetime, sensors=sensors)
    t0 = time.perf_counter()
    res = run_region(items, geobox, model, out, [region.period], config=RunConfig(n_workers=1),
                     progress=False, mosaic=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    km2_obs = res.pixel_observations * 0.0009  # one 30 m pixel is 0.0009 km^2
    return seconds / max(km2_obs, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tiles", type=int, default=2, help="regions per side (the last held out)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--work", type=Path, default=Path("/tmp/hlsmap-bench-distill"))
    args = ap.parse_args()

    from hlsmap.demo import DEMO_MODEL
    from hlsmap.simulate import World, WorldConfig, simulate_world
    from hlsmap.training.configs import DISTILL
    from hlsmap.training.distill import DistillConfig, distill
    from hlsmap.training.distill_regions import DistillRegion

    root = args.work / f"world-{args.size}-{args.months}-{args.seed}"
    if not (root / "w" / "manifest.json").exists():
        simulate_world(WorldConfig(seed=args.seed, size=args.size, months=args.months,
                                   coastal=False), root / "w")  # fmt: skip
    world = World.open(root / "w")
    w, s, e, n = world.bbox
    k = args.tiles
    end = f"2024-{args.months:02d}-28"
    regions = []
    for i in range(k):
        for j in range(k):
            box = (w + (e - w) * j / k, s + (n - s) * i / k,
                   w + (e - w) * (j + 1) / k, s + (n - s) * (i + 1) / k)  # fmt: skip
            regions.append(DistillRegion(f"r{i}{j}", "2024-01-01", end, bbox=box,
                                         held_out=(i, j) == (k - 1, k - 1)))  # fmt: skip
    stack, api = _serve(world, root)
    with stack:
        out = args.work / f"run-{args.size}-{args.steps}-{args.preset}"
        cfg = DistillConfig(teacher=str(DEMO_MODEL), source=api, out=str(out),
                            regions=tuple(regions), teacher_sensors=("S30",),
                            train=DISTILL.replace(steps=args.steps, preset=args.preset),
                            chip_size=64, stride=32, n_workers=1)  # fmt: skip
        t0 = time.perf_counter()
        result = distill(cfg)
        total = time.perf_counter() - t0
        held = next(r for r in regions if r.held_out)
        t_speed = _speed(str(DEMO_MODEL), api, held, ("S30",), out / "speed" / "teacher")
        s_speed = _speed(
            str(result.model_dir), api, held, ("L30", "S30"), out / "speed" / "student"
        )
    a = result.agreement
    print(json.dumps({k: a.get(k) for k in ("all", "L30", "S30")}))
    print(f"synthetic world {args.size} px, {args.months} months, {len(regions)} regions "
          f"(1 held out), {args.steps} steps {args.preset}: {total:.0f} s end to end")  # fmt: skip
    print(
        f"held-out consensus agreement with the teacher: all sensors {a.get('all')}, "
        f"L30 only {a.get('L30')}, S30 only {a.get('S30')}  (synthetic plumbing figures)"
    )
    print(
        f"mapping speed (s per km^2 per observation, compile included): teacher {t_speed:.4f},"
        f" student {s_speed:.4f}"
    )


if __name__ == "__main__":
    main()
