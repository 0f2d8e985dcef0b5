"""End-to-end region benchmark: COG read -> predict -> consensus -> write on the synthetic world.

Simulates (or reuses) a synthetic HLS world, then runs the region runner over it on a Dask
``LocalCluster`` and prints pixel-observations per second from COG read to consensus write,
where the task time goes (read, predict, consensus, write), and the peak memory of one tile task
for the world's year of observations (measured in a fresh process: ``ru_maxrss`` growth and the
peak of NumPy's host allocations, which tracemalloc sees).

    .venv/bin/python bench/bench_region.py --size 256 --tile-size 128 --preset small
    # Dynamic World at 10 m on S30 (a converted model: `hlsmap models fetch dynamicworld`)
    .venv/bin/python bench/bench_region.py --size 128 --tile-size 384 --red-edge \
        --model dynamicworld --runtime openvino

``--profile`` runs the tiles on an in-process Dask client (same tasks, threads instead of a
worker process) with :mod:`hlsmap.inference.predict_profile` on, and prints where the "predict"
time goes (fmask, normalise, float copy, windows, kernel, blend, uint8). Every run also times the
bare kernel on the run's own compiled window shape and batch (``Predictor.forward_batch``,
softmax included) and prints kernel px/s, end-to-end px-obs/s and their ratio (issue 19's
measure: the e2e figure counts tile pixels only, the kernel's its whole window, halo included).
``--scaling`` adds rows for 1, 2 and 4 tiles and 40 / 80 / 160 observations (px-obs/s and one
tile task's peak memory).

The world is kept in ``--work`` (default ``/tmp/hlsmap-bench-region``) and reused on reruns;
the predictions are recomputed every run (the output folder is cleared first).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _world(work: Path, size: int, months: int | None, seed: int, red_edge: bool = False) -> Any:
    from hlsmap.simulate import World, WorldConfig, simulate_world

    wdir = work / f"world-{size}-{months or 12}-{seed}{'-re' if red_edge else ''}"
    if (wdir / "manifest.json").exists():
        return World.open(wdir)
    t0 = time.perf_counter()
    cfg = WorldConfig(seed=seed, size=size, months=months, red_edge=red_edge)
    world = simulate_world(cfg, wdir)
    print(f"simulated a {size}x{size} world in {time.perf_counter() - t0:.0f} s -> {wdir}")
    return world


def _model(work: Path, preset: str, model: str | None) -> str:
    if model:
        from hlsmap.model.zoo import resolve_known

        return str(resolve_known(model))  # a known model's name: its cached converted copy
    from hlsmap.model import BANDS, ModelMetadata, build_model, save_model

    path = work / f"model-{preset}"
    if not (path / "model.json").exists():
        net = build_model(preset, bands=BANDS, seed=0, dtype="float32")
        save_model(path, net, ModelMetadata.for_model(net, BANDS, preset=preset))
    return str(path)


def kernel_px_per_s(model: str, options: dict[str, Any], side: int, seconds: float = 3.0) -> float:
    """px/s of the bare kernel on the region run's window (``side`` px) and batch, median of
    timed calls after a warm-up (the region's compiled shape: same model, runtime, precision)."""
    import numpy as np

    from hlsmap.inference.tasks import TileOptions, get_predictor

    predictor, meta = get_predictor(model, TileOptions(**options), side)
    channels = len(meta.bands)
    x = np.random.default_rng(0).uniform(0.0, 1.0, (predictor.batch_size, side, side, channels))
    x = x.astype(np.float32)
    predictor.forward_batch(x)
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        predictor.forward_batch(x)
        times.append(time.perf_counter() - t0)
    return predictor.batch_size * side * side / float(np.median(times))


def _print_profile(tasks_s: float, timings: dict[str, float]) -> None:
    from hlsmap.inference.predict_profile import snapshot

    stages = snapshot()
    predict = timings.get("predict", 0.0)
    print(f"  inside predict ({predict:.1f} task-s; % of task time / of predict):")
    for name, (sec, calls) in stages.items():
        print(f"    {name:11} {sec:8.2f} s  {sec / max(tasks_s, 1e-9):6.1%}  "
              f"{sec / max(predict, 1e-9):6.1%}  ({calls} calls)")  # fmt: skip
    rest = predict - sum(sec for sec, _ in stages.values())
    print(f"    {'other':11} {rest:8.2f} s  {rest / max(tasks_s, 1e-9):6.1%}  "
          f"{rest / max(predict, 1e-9):6.1%}  (lists, crops, Python)")  # fmt: skip


_TILE_MEMORY = """
import json, resource, sys, tracemalloc
from pathlib import Path
from hlsmap.inference.runner import RunConfig, plan_tasks
from hlsmap.inference.tasks import TileOptions, get_predictor, run_tile
from hlsmap.periods import Period
from hlsmap.simulate import World

args = json.loads(sys.argv[1])
world = World.open(args["world"])
opts = TileOptions(**args["options"])
config = RunConfig(tile_size=args["tile_size"], halo=args["halo"], options=opts)
geobox = world.geobox.zoom_out(args["resolution"] / abs(world.geobox.resolution.x))
items = world.items()
if args.get("n_obs"):
    from hlsmap.inference.tasks import observation_batches
    items = [i for g in observation_batches(items, 1)[: args["n_obs"]] for i in g]
tasks = plan_tasks(items, geobox, args["model"], args["out"],
                   [Period.year(world.year)], config)
Path(args["out"], "tiles").mkdir(parents=True, exist_ok=True)
get_predictor(args["model"], opts)  # load + build the predictor first: not the task's memory
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
rep = run_tile(tasks[0])
peak_np = tracemalloc.get_traced_memory()[1]
grow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"obs": rep.n_observations, "shape": rep.shape, "numpy_peak_mb": peak_np / 2**20,
                  "rss_growth_mb": grow / 1024,
                  "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _tile_memory(payload: dict[str, Any]) -> dict[str, Any]:
    """One tile task's memory, measured in a fresh process (see ``_TILE_MEMORY``)."""
    shutil.rmtree(payload["out"], ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", _TILE_MEMORY, json.dumps(payload)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _scaling(world: Any, model: str, geobox: Any, config: Any, payload: dict[str, Any]) -> None:
    """px-obs/s for 1, 2 and 4 tiles at once, and px-obs/s + one tile task's peak memory for
    40 / 80 / 160 observations (the first ones of the world's year)."""
    from hlsmap.inference.runner import run_region
    from hlsmap.inference.tasks import observation_batches
    from hlsmap.periods import Period

    ts = config.tile_size
    items = world.items()
    periods = [Period.year(world.year)]
    out = Path(payload["out"]).parent / "scaling"

    def rate(its: list[Any], gb: Any) -> tuple[float, int]:
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        res = run_region(its, gb, model, out, periods, config=config, progress=False)
        assert res.ok, res.failed
        return res.pixel_observations / (time.perf_counter() - t0), res.tiles

    print("scaling (same model and options):")
    for rows, cols in [(1, 1), (1, 2), (2, 2)]:
        if geobox.shape[0] < rows * ts or geobox.shape[1] < cols * ts:
            print(f"  {rows * cols} tiles: world too small (needs {rows * ts}x{cols * ts} px)")
            continue
        pps, n = rate(items, geobox[: rows * ts, : cols * ts])
        print(f"  {n} tile(s) of {ts} px, all observations: {pps:,.0f} px-obs/s")
    groups = observation_batches(items, 1)
    for n_obs in (40, 80, 160):
        if len(groups) < n_obs:
            print(f"  {n_obs} observations: the world has only {len(groups)}")
            continue
        sub = [i for g in groups[:n_obs] for i in g]
        pps, _ = rate(sub, geobox[:ts, :ts])
        mem = _tile_memory({**payload, "n_obs": n_obs})
        print(f"  1 tile, {n_obs} observations ({mem['obs']} predicted): {pps:,.0f} px-obs/s, "
              f"RSS growth {mem['rss_growth_mb']:.0f} MiB, NumPy peak "
              f"{mem['numpy_peak_mb']:.0f} MiB")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="world side (px)")
    ap.add_argument("--months", type=int, default=None, help="months simulated (default 12)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile-size", type=int, default=128)
    ap.add_argument("--halo", type=int, default=None, help="default: the model's field")
    ap.add_argument("--resolution", type=float, default=None, help="default: the model's")
    ap.add_argument("--red-edge", action="store_true", help="S30 with B05-B08 (Dynamic World)")
    ap.add_argument("--window", type=int, default=None, help="default: tile + halo")
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--time-batch", type=int, default=8)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--model", default=None, help="a saved model (default: untrained preset)")
    ap.add_argument("--precision", default=None, help="None, bfloat16 or bf16_dots")
    ap.add_argument("--runtime", default="jax", help="jax or openvino")
    ap.add_argument("--no-fmask-first", action="store_true", help="read every band of every obs")
    ap.add_argument("--prefetch", type=int, default=1, help="time batches read ahead")
    ap.add_argument("--reader", default="auto", help="auto (paste on-grid granules) or odc")
    ap.add_argument("--threads", type=int, default=None, help="tiles at once (1 worker)")
    ap.add_argument("--work", default="/tmp/hlsmap-bench-region")
    ap.add_argument("--no-memory", action="store_true", help="skip the tile-memory run")
    ap.add_argument("--profile", action="store_true", help="per-stage breakdown of predict")
    ap.add_argument("--no-kernel", action="store_true", help="skip the kernel px/s and ratio")
    ap.add_argument("--scaling", action="store_true", help="1/2/4 tiles, 40/80/160 obs rows")
    args = ap.parse_args()

    from hlsmap.inference.runner import RunConfig, run_region
    from hlsmap.inference.tasks import TileOptions
    from hlsmap.periods import Period

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    world = _world(work, args.size, args.months, args.seed, args.red_edge)
    model = _model(work, args.preset, args.model)
    from hlsmap.model import read_metadata

    meta = read_metadata(model)
    res_m = args.resolution or meta.resolution
    geobox = world.geobox.zoom_out(res_m / abs(world.geobox.resolution.x))
    items = world.items()
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    options = dict(window=args.window, overlap=args.overlap, time_batch=args.time_batch,
                   compute_dtype=args.precision, runtime=args.runtime,
                   fmask_first=not args.no_fmask_first, prefetch=args.prefetch,
                   reader=args.reader)  # fmt: skip
    config = RunConfig(tile_size=args.tile_size, halo=args.halo, options=TileOptions(**options),
                       threads_per_worker=args.threads)  # fmt: skip
    precision = f" {args.precision}" if args.precision else ""
    precision += f", runtime {args.runtime}" + (", all bands" if args.no_fmask_first else "")
    precision += f", reader {args.reader}, prefetch {args.prefetch}"
    name = meta.architecture if args.model else args.preset
    print(f"{len(items)} granules, grid {geobox.shape} at {res_m:g} m, tiles of {args.tile_size}"
          f" px (+{args.halo or 'model'} halo), model {name}{precision}")  # fmt: skip
    client = None
    if args.profile:
        from distributed import Client

        from hlsmap.inference import predict_profile

        # the tasks in this process (threads), so the stopwatch sees them
        client = Client(processes=False, n_workers=1, threads_per_worker=args.threads or 1)
        predict_profile.enable()
    t0 = time.perf_counter()
    res = run_region(items, geobox, model, out, [Period.year(world.year)], config=config,
                     progress=True, client=client)  # fmt: skip
    wall = time.perf_counter() - t0
    assert res.ok, res.failed
    px = res.pixel_observations
    h, w = geobox.shape
    print(f"{res.tiles} tiles, {res.n_observations} tile-observations, {px:,} pixel-observations")
    print(f"end to end (cluster start, COG read -> consensus write, mosaics): {wall:.1f} s "
          f"-> {px / wall:,.0f} pixel-observations/s")  # fmt: skip
    tasks_s = sum(r.seconds for r in res.reports)
    for k, v in res.timings().items():
        print(f"  {k:10} {v:8.1f} task-s  {v / max(tasks_s, 1e-9):6.1%}")
    region_obs = px / (h * w)
    print(f"  ({region_obs:.0f} observations per pixel on average; task time {tasks_s:.1f} s)")
    if args.profile:
        _print_profile(tasks_s, res.timings())
        client.close()  # type: ignore[union-attr]
    if not args.no_kernel:
        from hlsmap.inference.runner import plan_tasks

        task = plan_tasks(items, geobox, model, work / "plan", [Period.year(world.year)], config)[0]
        side = args.window or ((task.tile_side or max(task.geobox.shape)) + 2 * task.halo)
        side *= task.factor
        kps = kernel_px_per_s(model, options, side)
        print(f"kernel ({side} px window, same model/runtime/precision): {kps:,.0f} px/s; "
              f"end to end {px / wall:,.0f} px-obs/s; ratio {px / wall / kps:.2f}")  # fmt: skip
    payload = {"world": str(world.root), "model": model, "out": str(work / "mem"),
               "tile_size": args.tile_size, "halo": args.halo, "options": options,
               "resolution": res_m}  # fmt: skip
    if args.scaling:
        _scaling(world, model, geobox, config, payload)
    if args.no_memory:
        return
    mem = _tile_memory(payload)
    print(f"one tile task ({mem['shape'][0]}x{mem['shape'][1]} px, {mem['obs']} observations): "
          f"RSS growth {mem['rss_growth_mb']:.0f} MiB, NumPy peak {mem['numpy_peak_mb']:.0f} MiB, "
          f"process peak {mem['rss_peak_mb']:.0f} MiB")  # fmt: skip
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
