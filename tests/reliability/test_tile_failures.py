"""A tile never fails silently (issue 16, item 2): the thread race that failed tiles is gone,
and a tile that does fail makes the run exit non-zero and is named in the STAC and report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import rasterio

from hlsmap.cli import main

# Many threads of a fresh process parse items at once, the way tile tasks of one Dask worker do
# (pystac registers its extension hooks lazily on the first parse; see hlsmap.items). Unguarded,
# `pystac.Item.from_dict` failed here in every run with "dictionary changed size during
# iteration".
_HAMMER = textwrap.dedent(
    """
    import sys, threading
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    from hlsmap.items import items_from_dicts
    d = {"type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": None,
         "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [], "assets": {},
         "stac_extensions": []}
    barrier, errors = threading.Barrier(8), []
    def parse():
        barrier.wait()
        try:
            for _ in range(2000):
                items_from_dicts([d])
        except Exception as exc:
            errors.append(repr(exc))
    threads = [threading.Thread(target=parse) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert d["properties"] == {"datetime": "2024-01-01T00:00:00Z"}  # input not mutated
    print(len(errors), errors[:1])
    """
)


def test_items_parse_from_many_threads_of_a_fresh_process() -> None:
    for _ in range(2):  # the race is on a process's first parses: fresh processes each time
        run = subprocess.run([sys.executable, "-c", _HAMMER], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.stdout.strip() == "0 []", run.stdout


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_failed_tile_exits_non_zero_and_is_reported(served_world, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    # a fault on one tile only: a file where its predictions store must go
    tiles = out / "work" / "2024" / "tiles"
    tiles.mkdir(parents=True)
    (tiles / "tile_0000_0001.predictions.zarr").write_text("in the way")
    args = ["map", "--bbox", *(str(v) for v in served_world.world.bbox), "--year", "2024",
            "--model", str(served_world.model), "--out", str(out), "--source", served_world.api,
            "--season", "wet=01-02", "--tile-size", "48", "--save-predictions"]  # fmt: skip
    assert cli(*args) == 2
    err = capsys.readouterr().err
    assert "1 tile(s) failed" in err and "(0, 1)" in err and "rerun" in err
    report = json.loads((out / "work" / "2024" / "run-report.json").read_text())
    assert [t["index"] for t in report["missing_tiles"]] == [[0, 1]]
    assert "is a file" in report["missing_tiles"][0]["error"]
    assert report["computed"] == 3
    for period in ("annual-2024", "wet-2024"):
        item = json.loads((out / f"hlsmap-{period}" / f"hlsmap-{period}.json").read_text())
        missing = item["properties"]["hlsmap:missing_tiles"]
        assert [m["index"] for m in missing] == [[0, 1]] and len(missing[0]["bbox"]) == 4
    with rasterio.open(out / "hlsmap-annual-2024" / "class.tif") as src:
        codes = src.read(1)
    assert (codes[:48, 48:] == 0).all() and (codes[:48, :48] > 0).any()  # the hole, the rest
