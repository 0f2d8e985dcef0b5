"""Region mosaics stream from the tile files: the same COGs as in memory, bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox

from hlsmap.inference.mosaic import NODATA, TileMosaic, mosaic_arrays, write_mosaics
from hlsmap.inference.runner import RunConfig, plan_tasks
from hlsmap.inference.tasks import LAYERS, _write_tile_file
from hlsmap.outputs import cog

PERIODS = ("2024", "h1")


def region(h: int, w: int) -> Any:
    return GeoBox((h, w), Affine(30, 0, 500000, 0, -30, 4_000_020), "EPSG:32633")


def tiny_model(tmp: Path) -> str:
    """A saved model for plan_tasks (its grid and receptive field size the tiling)."""
    from hlsmap.model import ModelMetadata, build_model, save_model

    path = tmp / "model"
    if not (path / "model.json").exists():
        net = build_model("tiny")
        save_model(path, net, ModelMetadata.for_model(net))
    return str(path)


def tile_files(
    tmp: Path, gb: Any, tile: int, periods: tuple[str, ...] = PERIODS, fail: tuple = ()
) -> list[Any]:
    """Tasks of a region cut into ``tile`` px tiles, with synthetic tile files (``fail``: none)."""
    tasks = plan_tasks([], gb, tiny_model(tmp), tmp, periods, RunConfig(tile_size=tile, halo=0))
    rng = np.random.default_rng(0)
    for t in tasks:
        if t.index in fail:
            continue
        h, w = t.geobox.shape
        layers = {}
        for k, p in enumerate(periods):
            cls = np.full((h, w), 1 + (t.index[0] * 3 + t.index[1] + k) % 9, np.uint8)
            cls[rng.random((h, w)) < 0.05] = 0
            layers[p] = {
                "class": cls,
                "confidence": rng.integers(40, 100, (h, w)).astype(np.uint8),
                "n_valid": rng.integers(0, 300, (h, w)).astype(np.uint16),
                "cloud_share": np.full((h, w), 10 * k + t.index[1], np.uint8),
            }
        _write_tile_file(Path(t.out_path), layers, "{}")
    return tasks


def test_streamed_mosaics_are_the_in_memory_files(tmp_path: Path) -> None:
    # tiles of 100 px against 128 px COG blocks: windows straddle tiles; one tile failed
    gb = region(300, 250)
    tasks = tile_files(tmp_path, gb, 100, fail=((1, 1),))
    written = write_mosaics(tasks, gb, tmp_path / "new", PERIODS, blocksize=128)
    assert sorted(written) == sorted(PERIODS)
    for p in PERIODS:
        ref = mosaic_arrays(tasks, gb, p)
        assert (ref["class"][100:200, 100:200] == 0).all()  # the failed tile: no data
        assert (ref["cloud_share"][100:200, 100:200] == 255).all()
        # what the runner wrote before: the region in memory, then one COG per layer
        old = tmp_path / "old" / p
        cog.write_class_cog(old / "class.tif", ref["class"], gb, blocksize=128)
        for k in LAYERS[1:]:
            cog.write_cog(old / f"{k}.tif", ref[k], gb, nodata=NODATA[k], blocksize=128)
        for k in LAYERS:
            new = written[p][k]
            with rasterio.open(new) as src:
                np.testing.assert_array_equal(src.read(1), ref[k], err_msg=f"{p}/{k}")
                assert src.overviews(1) == [2, 4] and src.block_shapes == [(128, 128)]
            assert new.read_bytes() == (old / f"{k}.tif").read_bytes(), f"{p}/{k}"
    assert not list(tmp_path.joinpath("new").rglob(".*"))  # no staging file left behind


def test_tile_mosaic_reads_any_window(tmp_path: Path) -> None:
    gb = region(230, 170)
    tasks = tile_files(tmp_path, gb, 48, fail=((0, 2),))
    ref = mosaic_arrays(tasks, gb, "h1")
    mosaic = TileMosaic(tasks, gb, "h1")
    rng = np.random.default_rng(1)
    for _ in range(30):
        r, c = int(rng.integers(0, 230)), int(rng.integers(0, 170))
        h, w = int(rng.integers(1, 231 - r)), int(rng.integers(1, 171 - c))
        got = mosaic.read((r, c, h, w))
        for k in LAYERS:
            np.testing.assert_array_equal(got[k], ref[k][r : r + h, c : c + w], err_msg=k)
    whole = mosaic.read((0, 0, 230, 170))
    assert all((whole[k] == ref[k]).all() for k in LAYERS)


def test_cog_stream_leaves_nothing_on_error(tmp_path: Path) -> None:
    gb = region(200, 200)
    with pytest.raises(RuntimeError), cog.cog_stream(tmp_path / "x.tif", gb, np.uint8) as w:
        w.write((0, 0, 128, 128), np.ones((128, 128), np.uint8))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_mosaic_memory_is_bounded_by_the_tiles_not_the_region(tmp_path: Path) -> None:
    # a 4096 x 4096 region of 64 tiles of 512 px: its four layers take 80 MiB in memory
    side, tile = 4096, 512
    gb = region(side, side)
    tasks = tile_files(tmp_path, gb, tile, periods=("2024",))
    region_bytes = side * side * sum(np.dtype(d).itemsize for d in ("u1", "u1", "u2", "u1"))
    start = time.perf_counter()
    tracemalloc.start()
    try:
        written = write_mosaics(tasks, gb, tmp_path / "out", ["2024"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - start
    tile_bytes = tile * tile * 5
    assert peak < 12 * tile_bytes and peak < region_bytes / 8, (peak, region_bytes)
    with rasterio.open(written["2024"]["n_valid"]) as src:
        assert src.shape == (side, side) and len(src.overviews(1)) == 3
        corner = src.read(1, window=((3584, 4096), (3584, 4096)))
    assert corner.shape == (512, 512) and corner.max() > 0
    assert seconds < 30, seconds
