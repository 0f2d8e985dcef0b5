"""``hlsmap sensors`` prints the registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hlsmap.cli import app, main


def test_sensors_table() -> None:
    result = CliRunner().invoke(app, ["sensors"])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("L30", "S30", "S2L2A", "LC2L2", "hls2-l30", "HLSS30_2.0", "sentinel-2-l2a"):
        assert text in out
    assert "nir08 -> B8A" in out and "nir08 -> B05" in out and "30 m" in out
    assert "nir -> B08" in out and "rededge071 -> B05" in out and "rededge078 -> B07" in out


def test_sensors_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sensors", "--json"])
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["S30"]["bands"]["nir08"] == "B8A"
    assert rows["S30"]["bands"]["nir"] == rows["S2L2A"]["bands"]["nir"] == "B08"
    assert "nir" not in rows["L30"]["bands"] and "rededge075" not in rows["LC2L2"]["bands"]
    assert rows["LC2L2"]["collections"] == {"pc": "landsat-c2-l2"}
    assert rows["S2L2A"]["qa"] == {"asset": "SCL", "kind": "scl"}
    assert rows["L30"]["resolution"] == 30.0


def test_sensors_help() -> None:
    result = CliRunner().invoke(app, ["sensors", "--help"])
    assert result.exit_code == 0 and "--json" in result.output
