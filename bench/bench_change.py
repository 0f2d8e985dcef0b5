"""Benchmark: change precision and recall on synthetic worlds, overall and per change type.

Usage: ``python bench/bench_change.py [--out bench-change] [--size 512] [--worlds ...]``.
Runs ``hlsmap demo`` (world -> shipped demo model -> annual maps of two years -> change) on
each world (``climate:seed``; default: the demo world ``tropical:0``, ``tropical:2``,
``tropical:3``, ``temperate:0``, ``snow:0``), reusing a world's maps when its folder holds them,
and prints per world the precision / recall of the decided land-cover change (rotation
excluded) and of each change type, then the same for a sweep of change thresholds (the
evidence layers re-read from the annual maps), which is how
:data:`hlsmap.change_rule.CHANGE_THRESHOLD` was chosen. Synthetic spectra: these figures check
the plumbing and the rule on a world whose truth is known, not accuracy on real places.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.change import apply_mmu, mmu_pixels
from hlsmap.change_rule import CHANGE_THRESHOLD, CHANGE_TYPES, change_confidence, decide_change
from hlsmap.change_scores import change_scores, score_change_products

WORLDS = ("tropical:0", "tropical:2", "tropical:3", "temperate:0", "snow:0")
SWEEP = (1, 20, 30, 35, 40, 45, 50, 60)


def _f(v: float | None) -> str:
    return "  –  " if v is None else f"{v:.2f}"


def _row(name: str, s: dict[str, Any]) -> str:
    lc = s["land_cover"]
    cells = [f"{_f(lc['precision'])}/{_f(lc['recall'])} ({lc['true_px']})"]
    for t in CHANGE_TYPES:
        v = s["types"][t]
        cells.append(f"{_f(v['precision'])}/{_f(v['recall'])} ({v['true_px']})")
    return f"| {name} | " + " | ".join(cells) + " |"


def _sweep(maps: Path, world: Any, year: int) -> dict[int, dict[str, Any]]:
    """Scores of the annual maps' change at each threshold of :data:`SWEEP` (MMU 1 ha)."""
    from hlsmap.outputs import cog

    def rd(y: int, k: str) -> np.ndarray:
        return cog.read_cog(maps / f"hlsmap-annual-{y}" / f"{k}.tif")[0]

    mb, ma = rd(year - 1, "class"), rd(year, "class")
    conf = change_confidence(
        mb, ma, rd(year - 1, "confidence"), rd(year, "confidence"),
        rd(year - 1, "n_valid"), rd(year, "n_valid"),
    )  # fmt: skip
    mmu = mmu_pixels(1.0, world.geobox)
    tb = np.asarray(world.truth_annual(year - 1).values)
    ta = np.asarray(world.truth_annual(year).values)
    out = {}
    for th in SWEEP:
        changed = apply_mmu(decide_change(conf, th) & (mb != ma), mmu)
        out[th] = change_scores(tb, ta, mb, ma, changed)
    return out


def main() -> None:
    from hlsmap.demo import DemoConfig, run_demo
    from hlsmap.simulate import World

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-change"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--worlds", nargs="*", default=list(WORLDS), help="climate:seed ...")
    args = parser.parse_args()
    results: dict[str, tuple[Path, Any, int]] = {}
    for spec in args.worlds:
        climate, seed = spec.split(":")
        out = args.out / f"{climate}-{seed}"
        if not (out / "report.md").exists():
            run_demo(DemoConfig(out=out, seed=int(seed), size=args.size, climate=climate))
        world = World.open(out / "world")
        results[spec] = (out / "maps", world, world.years[-1])
    head = " | ".join(["land-cover change", *CHANGE_TYPES])
    sep = "|---" * (len(CHANGE_TYPES) + 2) + "|"
    print(f"change precision/recall (true px), threshold {CHANGE_THRESHOLD}%, MMU 1 ha")
    print(f"| world | {head} |\n{sep}")
    for spec, (maps, world, year) in results.items():
        print(_row(spec, score_change_products(maps, world, year)))
    print("\nthreshold sweep, land-cover change precision/recall per world")
    print("| threshold | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    sweeps = {spec: _sweep(*r) for spec, r in results.items()}
    for th in SWEEP:
        cells = [
            f"{_f(s[th]['land_cover']['precision'])}/{_f(s[th]['land_cover']['recall'])}"
            for s in sweeps.values()
        ]
        print(f"| {th} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
