"""What a region run tells afterwards: ``run.log`` (JSON lines) and ``run-report.json``.

``run-report.json`` says, for the run that wrote it, how many tiles were reused from an earlier
run, how many were computed (again, and why), and which tiles are missing: their index, bounds
and error. A map with missing tiles has no data there; rerunning the same command retries them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hlsmap.inference.runner import RunResult
    from hlsmap.inference.tasks import TileTask


def log_event(out: Path, event: dict[str, Any]) -> None:
    """Append one JSON line to ``out/run.log``."""
    event = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}
    with open(out / "run.log", "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


def write_run_report(result: RunResult) -> Path:
    """``run-report.json`` in the run's folder: tiles done, reused, recomputed and missing."""
    from hlsmap.outputs.atomic import write_text

    doc: dict[str, Any] = {
        "tiles": result.tiles,
        "reused": result.skipped,
        "computed": result.tiles - result.skipped - len(result.failed),
        "recomputed": result.recomputed,
        "missing_tiles": [
            {"index": list(k), "bounds": list(_bounds(result.tasks, k)), "error": v}
            for k, v in sorted(result.failed.items())
        ],
        "pixel_observations": result.pixel_observations,
        "sensors": result.sensors,
        "seconds": round(result.seconds, 3),
    }
    return write_text(result.out_dir / "run-report.json", json.dumps(doc, indent=2) + "\n")


def _bounds(tasks: Sequence[TileTask], index: tuple[int, int]) -> tuple[float, ...]:
    for t in tasks:
        if t.index == index:
            return tuple(float(v) for v in t.geobox.boundingbox)
    return ()
