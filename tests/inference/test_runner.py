"""The region runner: tile tasks, resume after a kill, Dask clusters, read failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from runner_world import CONFIG, EPSG, PERIODS, make_world, region_geobox

pytest.importorskip("hlsmap.consensus")
pytest.importorskip("hlsmap.outputs.cog")

from hlsmap.inference.runner import RunConfig, plan_tasks, run_region
from hlsmap.inference.tasks import read_tile_file, run_tile


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], Path]:
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def client() -> Any:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def read_outputs(out: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for tif in sorted(out.glob("*/*.tif")):
        with rasterio.open(tif) as src:
            arrays[f"{tif.parent.name}/{tif.name}"] = src.read(1)
    return arrays


@pytest.fixture(scope="module")
def reference(world, client, tmp_path_factory) -> tuple[Path, Any]:
    """One uninterrupted run, the reference for the other tests."""
    items, model_dir = world
    out = tmp_path_factory.mktemp("ref")
    res = run_region(items, region_geobox(), model_dir, out, PERIODS, config=CONFIG,
                     client=client, progress=False)  # fmt: skip
    return out, res


def test_a_run_maps_every_tile_and_writes_region_cogs(reference) -> None:
    out, res = reference
    assert res.ok and res.tiles == 4 and res.skipped == 0
    assert res.n_observations == 4 * 5
    assert res.pixel_observations == 80 * 72 * 5
    assert sorted(res.mosaics) == ["2024", "h1"]
    arrays = read_outputs(out)
    assert set(arrays) == {f"{p}/{k}.tif" for p in ("2024", "h1")
                           for k in ("class", "confidence", "n_valid", "cloud_share")}  # fmt: skip
    cls, n_valid = arrays["2024/class.tif"], arrays["2024/n_valid.tif"]
    assert cls.shape == (80, 72) and cls.dtype == np.uint8
    assert ((cls >= 1) & (cls <= 9)).all()  # every pixel has clear observations
    # the cloud (granule 1, region rows 12..42, cols 22..62) and the fill (granule 3, cols < 27)
    # cost valid observations; h1 (Jan-Jun) holds 3 observations
    h1 = arrays["h1/n_valid.tif"]
    assert h1.max() <= 3 and (h1[15:40, 25:60] <= 2).all()
    assert (n_valid[:, :25] <= 4).all() and n_valid.max() <= 5
    with rasterio.open(out / "2024" / "class.tif") as src:
        assert src.crs.to_epsg() == EPSG and src.overviews(1) is not None
    log = (out / "run.log").read_text().splitlines()
    assert sum('"status": "done"' in line for line in log) == 4


def test_region_cogs_are_the_in_memory_mosaic(reference, world, client, tmp_path) -> None:
    # the streamed region COGs hold exactly the tiles pasted into region arrays
    from hlsmap.inference.mosaic import mosaic_arrays

    out, res = reference
    assert len(res.tasks) == 4
    arrays = read_outputs(out)
    for period in ("2024", "h1"):
        ref = mosaic_arrays(res.tasks, region_geobox(), period)
        for k, v in ref.items():
            np.testing.assert_array_equal(arrays[f"{period}/{k}.tif"], v, err_msg=k)
    # without mosaics a rerun leaves the tiles only (what `hlsmap map` streams its products from)
    items, model_dir = world
    again = run_region(items, region_geobox(), model_dir, out, PERIODS, config=CONFIG,
                       client=client, progress=False, mosaic=False)  # fmt: skip
    assert again.skipped == 4 and again.mosaics == {} and len(again.tasks) == 4


def test_tiles_agree_with_one_big_tile(world, reference, client, tmp_path) -> None:
    # seamless tile borders: a run with one tile covering the region gives the same map
    items, model_dir = world
    out, _ = reference
    config = RunConfig(tile_size=128, halo=16, options=CONFIG.options)
    run_region(items, region_geobox(), model_dir, tmp_path, PERIODS, config=config,
               client=client, progress=False)  # fmt: skip
    a, b = read_outputs(out), read_outputs(tmp_path)
    # the model's cloud argmax flips only where two classes tie within float noise
    assert (a["2024/n_valid.tif"] == b["2024/n_valid.tif"]).mean() > 0.995
    agree = (a["2024/class.tif"] == b["2024/class.tif"]).mean()
    assert agree > 0.99, agree
    conf = np.abs(a["2024/confidence.tif"].astype(int) - b["2024/confidence.tif"])
    same = a["2024/n_valid.tif"] == b["2024/n_valid.tif"]
    assert conf[same].max() <= 1 and conf.mean() < 0.1


def test_run_tile_writes_once_and_skips_after(world, tmp_path) -> None:
    items, model_dir = world
    tasks = plan_tasks(items, region_geobox(), model_dir, tmp_path, PERIODS, CONFIG)
    assert [t.index for t in tasks] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(len(t.items) == 5 for t in tasks)
    (tmp_path / "tiles").mkdir()
    rep = run_tile(tasks[1])
    assert not rep.skipped and rep.n_observations == 5 and rep.shape == (40, 32)
    assert rep.predict_s > 0 and rep.read_s > 0
    layers, _ = read_tile_file(tasks[1].out_path)
    assert layers["2024"]["class"].shape == (40, 32)
    again = run_tile(tasks[1])
    assert again.skipped and again.n_observations == 5
    assert [p.name for p in tmp_path.joinpath("tiles").iterdir()] == [Path(tasks[1].out_path).name]


_KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from distributed import Client, LocalCluster
    from hlsmap.cube import load_cube
    from runner_world import CONFIG, PERIODS, make_world, region_geobox
    from hlsmap.inference.runner import run_region, with_options

    items, model_dir = make_world(Path(sys.argv[1]))
    first_row = region_geobox().affine.f
    def loader(items, *, geobox, **kw):
        if geobox.affine.f + 30 * 16 < first_row - 1:  # tiles of the second row hang
            print("HANG", flush=True)
            time.sleep(600)
        return load_cube(items, geobox=geobox, **kw)
    c = Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                            dashboard_address=None))
    run_region(items, region_geobox(), model_dir, sys.argv[2], PERIODS,
               config=with_options(CONFIG, loader=loader), client=c, progress=False)
    """
)


def test_killed_run_resumes_with_identical_outputs(world, reference, client, tmp_path) -> None:
    ref_out, _ = reference
    out = tmp_path / "run"
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path / "w"), str(out)],
        cwd=Path(__file__).parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "tiles").glob("tile_*.npz"))) >= 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        done = sorted(p.name for p in (out / "tiles").glob("tile_*.npz"))
        assert done == ["tile_0000_0000.npz", "tile_0000_0001.npz"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group: a hard kill
        proc.wait()
    assert not (out / "2024").exists()  # killed before the mosaics
    # restart (on the same data, re-made identically, and a fresh cluster connection)
    items, model_dir = make_world(tmp_path / "w")
    res = run_region(items, region_geobox(), model_dir, out, PERIODS, config=CONFIG,
                     client=client, progress=False)  # fmt: skip
    assert res.ok and res.skipped == 2 and res.n_observations == 2 * 5
    a, b = read_outputs(ref_out), read_outputs(out)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_failing_reads_are_retried_then_reported(world, client, tmp_path) -> None:
    from hlsmap.cube import load_cube
    from hlsmap.inference.runner import with_options

    items, model_dir = world
    calls = tmp_path / "calls.txt"  # the loader travels pickled: count in a file
    bad_x = region_geobox().affine.c + 30 * 40  # tiles of the second column start here

    def loader(items: Any, *, geobox: Any, **kw: Any) -> Any:
        if geobox.affine.c > bad_x - 30 * 17:
            with open(calls, "a") as f:
                f.write("call\n")
            # a real read failure: the granules' files are not where the items say
            return load_cube(items, geobox=geobox, patch_url=lambda h: h + ".gone", **kw)
        return load_cube(items, geobox=geobox, **kw)

    # (no read-ahead: the count of loader calls is then exactly one per attempt)
    config = with_options(CONFIG, loader=loader, retries=2, prefetch=0)
    out = tmp_path / "out"
    res = run_region(items, region_geobox(), model_dir, out, PERIODS, config=config,
                     client=client, progress=False)  # fmt: skip
    assert not res.ok and sorted(res.failed) == [(0, 1), (1, 1)]
    # two bad tiles, 1 try + 2 retries each; each try reads the first batch (3 observations)
    # once, then each of its granules alone: all fail, and nothing of the tile was read, so it is
    # the source, not a granule (hlsmap.inference.granules), and the tile is retried
    assert len(calls.read_text().splitlines()) == 2 * 3 * (1 + 3)
    assert "failed after 3 attempts" in res.failed[(0, 1)]
    assert len(res.reports) == 2
    cls = read_outputs(out)["2024/class.tif"]
    assert (cls[:, :40] > 0).all() and (cls[:, 40:] == 0).all()
    log = (out / "run.log").read_text()
    assert log.count('"status": "failed"') == 2
    # a rerun retries only the failed tiles
    res2 = run_region(items, region_geobox(), model_dir, out, PERIODS, config=CONFIG,
                      client=client, progress=False)  # fmt: skip
    assert res2.ok and res2.skipped == 2 and res2.n_observations == 10


def test_local_cluster_with_two_worker_processes(world, reference, tmp_path) -> None:
    from distributed import Client, LocalCluster

    items, model_dir = world
    ref_out, _ = reference
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:  # fmt: skip
        res = run_region(items, region_geobox(), model_dir, tmp_path, PERIODS, config=CONFIG,
                         client=c, progress=False)  # fmt: skip
        workers = {w for w in c.scheduler_info()["workers"]}
    assert res.ok and len(workers) == 2
    a, b = read_outputs(ref_out), read_outputs(tmp_path)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_default_cluster_keeps_glibc_malloc_defaults(monkeypatch) -> None:
    """Dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_=65536 (1.4x slower tile
    tasks, see ``_glibc_malloc_defaults``), and an earlier cluster's nanny leaves it in this
    process's environment; the runner's own cluster starts its workers without it, keeps
    Dask's other worker settings and puts the environment back."""
    from hlsmap.inference.runner import _open_client

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # what an earlier nanny leaves
    client, closing = _open_client(None, RunConfig(n_workers=1, threads_per_worker=1))
    try:
        env = client.run(lambda: {k: os.environ.get(k) for k in
                                  ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})  # fmt: skip
    finally:
        for c in closing:
            c.close()
    assert list(env.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"


def test_one_window_per_tile_by_default(world, tmp_path) -> None:
    from hlsmap.inference.runner import with_options

    items, model_dir = world
    tasks = plan_tasks(items, region_geobox(), model_dir, tmp_path, PERIODS, CONFIG)
    sliding = with_options(CONFIG, window=48, overlap=16)
    windowed = plan_tasks(items, region_geobox(), model_dir, tmp_path / "w", PERIODS, sliding)
    (tmp_path / "tiles").mkdir()
    (tmp_path / "w" / "tiles").mkdir(parents=True)
    assert tasks[0].tile_side == 40
    run_tile(tasks[0])
    run_tile(windowed[0])
    a, _ = read_tile_file(tasks[0].out_path)
    b, _ = read_tile_file(windowed[0].out_path)
    assert (a["2024"]["class"] == b["2024"]["class"]).mean() > 0.99
