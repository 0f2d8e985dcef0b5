"""Ctrl-C (issue 16, item 4): a real ``hlsmap`` process and a real SIGINT to its process group
(what a terminal sends) stop the cluster, say how to resume, exit 130 and free the folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hlsmap.outputs.lock import LOCK_NAME


def _tiles_done(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(json.loads(ln).get("status") == "done" for ln in log.read_text().splitlines())


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_the_cluster_and_says_how_to_resume(served_world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    hlsmap = Path(sys.executable).with_name("hlsmap")
    args = [str(hlsmap), "predict", str(out), "--model", str(served_world.model), "--year",
            "2024", "--source", served_world.api, "--bbox",
            *(str(v) for v in served_world.world.bbox), "--tile-size", "8", "--halo", "8",
            "--overlap", "4", "--threads", "1", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if _tiles_done(out / "run.log") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    said = " ".join(err.split())
    assert "interrupted; finished work is kept" in said
    assert f"run the same command again: hlsmap predict {out}" in said
    deadline = time.monotonic() + 30  # the workers exit with the run, not after it
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid), "worker processes outlived the run"
    assert not (out / LOCK_NAME).exists()
    events = [json.loads(ln) for ln in (out / "run.log").read_text().splitlines()]
    assert events[-1]["event"] == "interrupted" and events[-1]["done"] >= 1
    assert events[-1]["done"] < events[-1]["tiles"]
