"""`hlsmap demo` on a small world: every step runs and the report holds real figures."""

from __future__ import annotations

import json
from pathlib import Path

from hlsmap.cli import main
from hlsmap.demo import DEMO_MODEL


def test_demo_small_world(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    try:
        main(["demo", "--out", str(out), "--size", "64"])
    except SystemExit as exc:
        assert not exc.code
    report = (out / "report.md").read_text()
    assert "annual consensus 2024" in report and "## Change 2023 -> 2024" in report
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"] == str(DEMO_MODEL)  # the shipped weights
    annual = scores["scores"]["annual"]["overall_accuracy"]
    assert 0.5 < annual <= 1.0  # a trained model on a tiny world: far above chance (~0.15)
    assert (out / "demo.png").stat().st_size > 10_000
    assert (out / "maps" / "collection.json").exists()
    # change: precision and recall per change type, from the decided change products
    change = scores["change"]
    assert set(change["types"]) == {"tree_loss", "new_built", "water_gain", "water_loss",
                                     "rotation"}  # fmt: skip
    assert "| change type | truth px | mapped px | precision | recall |" in report
    lc = change["land_cover"]
    assert lc["precision"] is None or f"precision {lc['precision']:.2f}" in report
    (cdir,) = (out / "maps" / "change").glob("hlsmap-change-*")
    assert (cdir / "change_confidence.tif").exists() and (cdir / "change_stats.json").exists()
