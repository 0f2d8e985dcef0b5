"""Throughput of the sensor adapters' pixel conversions on one full 3660 x 3660 granule.

Run: ``.venv/bin/python bench/bench_sensors.py``. Prints megapixels per second for each
adapter's ``harmonize`` (one band) and ``to_fmask``; the HLS Fmask is the real L30 fixture.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hlsmap.sensors import get_sensor

SIZE = 3660
FMASK = (
    Path(__file__).resolve().parents[2]
    / "shared/fixtures/hls/HLS.L30.T06WVS.2024120T211159.v2.0.Fmask.tif"
)


def _rate(func: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return SIZE * SIZE / best / 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    dn16 = rng.integers(0, 20000, (SIZE, SIZE), dtype=np.uint16)
    hls = rng.integers(-100, 10000, (SIZE, SIZE), dtype=np.int16)
    scl = rng.integers(0, 12, (SIZE, SIZE), dtype=np.uint8)
    qa_pixel = rng.choice(np.array([1, 21824, 21952, 22280, 23888, 55052], np.uint16), (SIZE, SIZE))
    if FMASK.exists():
        import rasterio

        with rasterio.open(FMASK) as ds:
            fmask = ds.read(1)
    else:
        fmask = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    props = {"s2:processing_baseline": "05.10"}
    cases = {
        "L30": (hls, fmask),
        "S2L2A": (dn16, scl),
        "LC2L2": (dn16, qa_pixel),
    }
    print(f"sensor conversions, one {SIZE}x{SIZE} granule, Mpx/s (best of 3)")
    for name, (band, qa) in cases.items():
        a = get_sensor(name)
        h = _rate(lambda a=a, band=band: a.harmonize("red", band, props))
        f = _rate(lambda a=a, qa=qa: a.to_fmask(qa))
        print(f"  {name:6s} harmonize {h:8.1f}   to_fmask {f:8.1f}")


if __name__ == "__main__":
    main()
