"""Region mosaic memory vs region size: streamed from the tile files vs the region in memory.

Writes synthetic tile files (512 px tiles, one period, the four consensus layers) for square
regions of growing side, then mosaics them into the four region COGs in a fresh process each
time, two ways:

- ``stream``: :func:`hlsmap.inference.mosaic.write_mosaics` (window by window, what runs do);
- ``memory``: the region's layers pasted into arrays (``mosaic_arrays``), then one COG each
  (what the runner did before).

and prints the peak of NumPy's allocations (tracemalloc), the growth of the process's peak RSS
(GDAL's buffers included) and the wall time.

    .venv/bin/python bench/bench_mosaic.py --sides 1024 2048 4096 8192
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_RUN = """
import json, resource, sys, time, tracemalloc
from pathlib import Path
from affine import Affine
from odc.geo.geobox import GeoBox
from hlsmap.inference.mosaic import NODATA, mosaic_arrays, write_mosaics
from hlsmap.inference.runner import RunConfig, plan_tasks
from hlsmap.outputs import cog

args = json.loads(sys.argv[1])
side, root, how = args["side"], Path(args["root"]), args["how"]
gb = GeoBox((side, side), Affine(30, 0, 500000, 0, -30, 4000000), "EPSG:32633")
from hlsmap.model import ModelMetadata, build_model, save_model  # plan_tasks reads its grid
if not (root / "model" / "model.json").exists():
    net = build_model("tiny")
    save_model(root / "model", net, ModelMetadata.for_model(net))
tasks = plan_tasks([], gb, str(root / "model"), root, ["2024"],
                   RunConfig(tile_size=args["tile"], halo=0))
out = root / f"out-{how}"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
if how == "stream":
    write_mosaics(tasks, gb, out, ["2024"])
else:
    arrays = mosaic_arrays(tasks, gb, "2024")
    cog.write_class_cog(out / "2024" / "class.tif", arrays["class"], gb)
    for k in ("confidence", "n_valid", "cloud_share"):
        cog.write_cog(out / "2024" / f"{k}.tif", arrays[k], gb, nodata=NODATA[k])
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
grow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"numpy_mib": peak / 2**20, "rss_mib": grow / 1024, "seconds": seconds}))
"""


def _tiles(root: Path, side: int, tile: int) -> None:
    """Synthetic tile files: patchy classes, smooth quality layers (compress like real maps)."""
    import numpy as np
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from hlsmap.inference.runner import RunConfig, plan_tasks
    from hlsmap.inference.tasks import _write_tile_file
    from hlsmap.model import ModelMetadata, build_model, save_model

    gb = GeoBox((side, side), Affine(30, 0, 500000, 0, -30, 4000000), "EPSG:32633")
    if not (root / "model" / "model.json").exists():  # plan_tasks reads the model's grid
        net = build_model("tiny")
        save_model(root / "model", net, ModelMetadata.for_model(net))
    tasks = plan_tasks([], gb, str(root / "model"), root, ["2024"],
                       RunConfig(tile_size=tile, halo=0))  # fmt: skip
    rng = np.random.default_rng(0)
    for t in tasks:
        h, w = t.geobox.shape
        coarse = rng.integers(1, 10, (h // 8 + 1, w // 8 + 1)).astype(np.uint8)
        cls = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:h, :w]
        yy, xx = np.mgrid[0:h, 0:w]
        layers = {"2024": {
            "class": cls,
            "confidence": (60 + (yy + xx) % 40).astype(np.uint8),
            "n_valid": (20 + (yy // 16 + xx // 16) % 30).astype(np.uint16),
            "cloud_share": (xx % 50).astype(np.uint8),
        }}  # fmt: skip
        _write_tile_file(Path(t.out_path), layers, "{}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--tile", type=int, default=512, help="tile side (px)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="hlsmap-bench-mosaic-"))
    print(f"{'region':>12} {'layers in memory':>16} | {'how':6} {'NumPy peak':>11} "
          f"{'RSS growth':>11} {'time':>7}")  # fmt: skip
    try:
        for side in args.sides:
            root = work / str(side)
            _tiles(root, side, args.tile)
            region_mib = side * side * 5 / 2**20
            for how in ("stream", "memory"):
                payload = json.dumps({"side": side, "root": str(root), "how": how,
                                      "tile": args.tile})  # fmt: skip
                proc = subprocess.run([sys.executable, "-c", _RUN, payload], capture_output=True,
                                      text=True, check=True)  # fmt: skip
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{side:>5}x{side:<6} {region_mib:>12.0f} MiB | {how:6} "
                      f"{r['numpy_mib']:>7.1f} MiB {r['rss_mib']:>7.0f} MiB "
                      f"{r['seconds']:>6.1f}s", flush=True)  # fmt: skip
            shutil.rmtree(root, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
