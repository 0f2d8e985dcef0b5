"""One run per output folder (issue 16, item 12) and no leftovers of killed writes (item 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hlsmap.cli import main
from hlsmap.outputs.lock import LOCK_NAME


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def map_args(served_world, out: Path) -> list[str]:
    return ["map", "--bbox", *(str(v) for v in served_world.world.bbox), "--year", "2024",
            "--model", str(served_world.model), "--out", str(out), "--source", served_world.api,
            "--season", "wet=01-02", "--tile-size", "48"]  # fmt: skip


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from hlsmap.outputs.lock import out_lock
    with out_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_second_run_into_a_locked_folder_is_refused(served_world, tmp_path: Path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        start = time.perf_counter()
        assert cli(*map_args(served_world, out)) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"another hlsmap run (process {holder.pid} on" in err and "another --out" in err
        assert time.perf_counter() - start < 30  # refused at once, nothing computed
        assert not (out / "work").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="module")
def done_run(served_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("locked") / "out"
    assert cli(*map_args(served_world, out)) == 0
    assert not (out / LOCK_NAME).exists()  # released at the end
    return out


def test_stale_lock_is_taken_over_and_leftovers_removed(served_world, done_run: Path, caplog):
    out = done_run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a run killed with -9 leaves its lock with a pid that is gone
    host = os.uname().nodename
    (out / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": host}))
    # what kill -9 during writes leaves: atomic_path temporaries, a COG staging file, a
    # predictions store being written, a config being written
    tiles = out / "work" / "2024" / "tiles"
    ours = [
        tiles / ".tile_0000_0001.1a2b3c4d.tmp.npz",
        out / "hlsmap-annual-2024" / ".class.0f0e0d0c.tmp.tif",
        out / "hlsmap-annual-2024" / ".class.0f0e0d0c.tmp.stage.tif",
        out / ".run-config.json.tmp",
    ]
    for p in ours:
        p.write_bytes(b"half")
    store = tiles / ".tile_0000_0000.predictions.zarr.tmp-99999"
    (store / "probs").mkdir(parents=True)
    users = [out / ".my-notes.tmp", out / "notes.1a2b3c4d.tmp.npz", tiles / "keep.txt"]
    for p in users:
        p.write_text("mine")
    with caplog.at_level("WARNING", logger="hlsmap"):
        assert cli(*map_args(served_world, out)) == 0
    assert f"taking over the stale lock of {out} (process {dead.pid} is gone)" in caplog.text
    assert not any(p.exists() for p in [*ours, store])
    assert all(p.exists() for p in users)
    assert not (out / LOCK_NAME).exists()
