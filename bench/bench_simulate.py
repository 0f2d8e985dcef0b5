"""Benchmark: write the default synthetic world (512 px, one year) and report time and size.

Usage: ``python bench/bench_simulate.py [--size 512] [--workers 2] [--red-edge] [--out DIR]``.
Prints wall and CPU time, observations per sensor, granules, files, bytes on disk and class
fractions. ``--red-edge`` also writes S30's B05-B08 (``WorldConfig.red_edge``).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from hlsmap.simulate import WorldConfig, simulate_world


def _du(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--climate", default="temperate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--red-edge", action="store_true", help="S30 B05-B08 COGs too")
    args = parser.parse_args()
    config = WorldConfig(
        seed=args.seed, size=args.size, climate=args.climate, red_edge=args.red_edge
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "world"
        t0, c0 = time.perf_counter(), os.times()
        world = simulate_world(config, out, workers=args.workers)
        wall = time.perf_counter() - t0
        c1 = os.times()
        cpu = (
            (c1.user - c0.user)
            + (c1.children_user - c0.children_user)
            + (c1.system - c0.system)
            + (c1.children_system - c0.children_system)
        )
        nfiles, nbytes = _du(out)
        counts = world.manifest["counts"]
        granule_bytes = sum(p.stat().st_size for p in (out / "granules").rglob("*.tif"))
        print(
            f"world: {config.size} px ({config.size * 0.03:.1f} km), {config.climate}, "
            f"{world.period[0]}..{world.period[1]}, red edge {'on' if args.red_edge else 'off'}, "
            f"{args.workers} workers, "
            f"{os.cpu_count()} CPUs"
        )
        print(f"write time: {wall:.1f} s wall, {cpu:.1f} s CPU (all processes)")
        print(
            f"observations: L30 {counts['observations']['L30']}, "
            f"S30 {counts['observations']['S30']}; granules: {counts['granules']}"
        )
        print(
            f"files: {nfiles}, size on disk: {nbytes / 1e6:.0f} MB "
            f"(granule COGs {granule_bytes / 1e6:.0f} MB)"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS (main process): {peak:.0f} MB")
        for year, fr in world.class_fractions.items():
            print(f"annual truth {year}: " + ", ".join(f"{k} {v:.1%}" for k, v in fr.items()))


if __name__ == "__main__":
    main()
