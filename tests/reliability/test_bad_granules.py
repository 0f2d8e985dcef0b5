"""One bad granule costs one observation: 404, 500, a reset connection, a truncated or garbage
COG, an item without a band or without Fmask, each on a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fault_world import ReadsWorld, tile_task

from hlsmap.errors import TileFailedError
from hlsmap.inference.tasks import read_tile_file, run_tile

import servers

BAD = 1  # the S30 granule of May
FAULTS = [
    ("404", "B04", servers.Fault("status", 404)),
    ("500", "Fmask", servers.Fault("status", 500)),
    ("reset", "B04", servers.Fault("reset")),
    ("truncate", "B8A", servers.Fault("truncate")),
    ("garbage", "Fmask", servers.Fault("garbage")),
    ("no-band", "B04", None),
    ("no-fmask", "Fmask", None),
]
CAUSE = {
    "404": "404",
    "500": "500",
    "reset": "CURL error",  # "Empty reply from server" or "Connection reset by peer"
    "truncate": "B8A",
    "garbage": "not recognized",
    "no-band": "lacks asset B04",
    "no-fmask": "lacks asset Fmask",
}


@pytest.fixture(scope="module")
def reference(reads_world: ReadsWorld, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tile made from the four good granules only."""
    items = [i for k, i in enumerate(reads_world.items) if k != BAD]
    task = tile_task(items, reads_world.model, tmp_path_factory.mktemp("ref"))
    rep = run_tile(task)
    assert rep.n_observations == 4
    return read_tile_file(task.out_path)[0]


def _faulty(reads_world: ReadsWorld, http: servers.RangeServer, name: str, asset: str, fault):
    items = reads_world.served(http)
    bad = items[BAD]
    if fault is None:
        del bad.assets[asset]  # an incomplete item
    else:
        http.faults[reads_world.rel(http, bad.assets[asset].href)] = fault
    return items, bad


@pytest.mark.parametrize(("name", "asset", "fault"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_bad_granule_is_skipped_counted_and_named(
    reads_world: ReadsWorld, reference: dict, tmp_path: Path, name: str, asset: str, fault
) -> None:
    with servers.range_server(reads_world.root) as http:
        items, bad = _faulty(reads_world, http, name, asset, fault)
        task = tile_task(items, reads_world.model, tmp_path)
        rep = run_tile(task)
        if name in ("500", "reset"):  # retried (GDAL's retries, then the granule's own)
            assert http.hits[reads_world.rel(http, bad.assets[asset].href)] > 2
    assert rep.n_observations == 4
    assert [d["item"] for d in rep.dropped_granules] == [bad.id]
    reason = rep.dropped_granules[0]["reason"]
    assert CAUSE[name] in reason, reason
    assert "see previous exception" not in reason.lower()
    # the tile is exactly the one made without that granule
    got = read_tile_file(task.out_path)[0]
    for layer, arr in reference["2024"].items():
        np.testing.assert_array_equal(got["2024"][layer], arr, err_msg=layer)
    # resumed, the stored report still says what was skipped
    again = run_tile(task)
    assert again.skipped and again.dropped_granules == rep.dropped_granules


@pytest.mark.parametrize("status", [404, 503])
def test_a_transient_fault_is_retried_not_skipped(
    reads_world: ReadsWorld, tmp_path: Path, status: int
) -> None:
    """A granule that fails a few times, then reads: nothing is skipped, and the retry really
    asks the server again (GDAL remembers a URL's failure unless told to forget it)."""
    with servers.range_server(reads_world.root) as http:
        items = reads_world.served(http)
        rel = reads_world.rel(http, items[BAD].assets["B04"].href)
        # (GDAL retries a 503 3 times itself: the 5th request is the first to succeed)
        http.faults[rel] = servers.Fault("status", status, times=1 if status == 404 else 4)
        rep = run_tile(tile_task(items, reads_world.model, tmp_path))
        assert http.hits[rel] >= (2 if status == 404 else 5)
    assert rep.n_observations == 5 and rep.dropped_granules == [] and rep.attempts == 1


def test_strict_fails_the_tile_on_a_bad_granule(reads_world: ReadsWorld, tmp_path: Path) -> None:
    with servers.range_server(reads_world.root) as http:
        items, bad = _faulty(reads_world, http, "404", "B04", servers.Fault("status", 404))
        task = tile_task(items, reads_world.model, tmp_path, strict=True)
        with pytest.raises(TileFailedError, match=f"{bad.id}.B04.tif"):
            run_tile(task)
    assert not Path(task.out_path).exists()


def test_too_few_observations_left_fails_the_tile(reads_world: ReadsWorld, tmp_path) -> None:
    """Five observations, min_valid=5 and one unreadable granule: no pixel can be mapped."""
    with servers.range_server(reads_world.root) as http:
        items, bad = _faulty(reads_world, http, "404", "B04", servers.Fault("status", 404))
        task = tile_task(items, reads_world.model, tmp_path, min_valid=5)
        with pytest.raises(TileFailedError, match=rf"min_valid=5.*|{bad.id}") as err:
            run_tile(task)
    assert "min_valid=5" in str(err.value) and bad.id in str(err.value)
    assert not Path(task.out_path).exists()


def test_map_lists_the_skipped_granule_in_its_stac_items(
    reads_world: ReadsWorld, tmp_path: Path
) -> None:
    """A real ``hlsmap map`` process with one granule gone: exit 0, and every product's STAC
    item says which granule it lacks and why (``hlsmap:dropped_granules``)."""
    import json
    import os
    import subprocess
    import sys

    from fault_world import bbox_of_region, write_items

    with servers.range_server(reads_world.root) as http:
        items, bad = _faulty(reads_world, http, "404", "B04", servers.Fault("status", 404))
        source = write_items(items, tmp_path / "items.json")
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "hlsmap", "map", *bbox_of_region(), "--year", "2024",
               "--model", str(reads_world.model), "--out", str(out), "--source", str(source),
               "--season", "wet=01-06", "--season", "dry=07-12", "--tile-size", "48"]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("hlsmap-*/*.json"))]
    features = [d for d in docs if d.get("type") == "Feature"]
    assert len(features) == 3  # annual, wet, dry
    for doc in features:
        (entry,) = doc["properties"]["hlsmap:dropped_granules"]
        assert entry["item"] == bad.id and "404" in entry["reason"] and entry["tiles"]


def test_map_config_passes_strict_to_the_tiles(tmp_path: Path) -> None:
    from hlsmap.mapping import _run_config
    from hlsmap.runconfig import resolve_config

    cfg = resolve_config(None, year=2024, model=tmp_path, out=tmp_path, tile="13RCN", strict=True)
    assert _run_config(cfg).options.strict
    assert not _run_config(resolve_config(None, year=2024, model=tmp_path, out=tmp_path,
                                          tile="13RCN")).options.strict  # fmt: skip
