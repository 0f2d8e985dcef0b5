"""Items 2-6 of the user-facing CLI issue, through the installed ``hlsmap`` console script.

Sources point at a closed local port (``http://127.0.0.1:9/``): a check that runs before any
network work fails with its own message, one that comes after would report the connection.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

HLSMAP = Path(sys.executable).with_name("hlsmap")
NOWHERE = "http://127.0.0.1:9/"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # rich wraps help to the terminal width
    return subprocess.run(
        [str(HLSMAP), *args], capture_output=True, text=True, timeout=120, env=env
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", ["map", "predict"])
def test_runtime_help_keeps_the_openvino_extra(command: str) -> None:
    res = run(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "hlsmap[openvino]" in res.stdout


def test_map_help_shows_effective_defaults_and_required() -> None:
    from hlsmap.runconfig import MapConfig

    defaults = {f.name: f.default for f in dataclasses.fields(MapConfig)}
    out = one_line(run("map", "--help").stdout)
    for name in ("precision", "runtime", "rule", "balance", "license", "source", "tile_size"):
        assert f"[default: ({defaults[name]})]" in out, name
    assert "[default: (L30,S30)]" in out
    assert out.count("[required: here or in --config]") == 3  # --year, --model, --out


def test_map_takes_the_options_other_commands_have(tmp_path: Path) -> None:
    # accepted by the parser and MapConfig: the run stops at the missing model, before search
    res = run("map", "--plan", "--tile", "T15TVH", "--year", "2024", "--model",
              str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--source", NOWHERE,
              "--crs", "EPSG:32615", "--workers", "2", "--halo", "8", "--resolution", "30",
              "--season-wrap", "span", "--precision", "bf16-dots")  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "does not exist" in one_line(res.stderr) and "Connection" not in res.stderr


def test_map_refuses_bf16_dots_on_openvino(tmp_path: Path) -> None:
    res = run("map", "--tile", "T15TVH", "--year", "2024", "--model", "m", "--out",
              str(tmp_path), "--runtime", "openvino", "--precision", "bf16-dots")  # fmt: skip
    assert res.returncode == 2
    assert "bf16-dots is for runtime jax" in one_line(res.stderr)


@pytest.mark.parametrize("command", ["map", "predict"])
def test_year_before_hls_says_when_hls_starts(command: str, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "o")]
    res = run(command, *out, "--tile", "T15TVH", "--year", "2010", "--model",
              str(tmp_path / "nope"), "--source", NOWHERE)  # fmt: skip
    assert res.returncode == 2, res.stderr
    err = one_line(res.stderr)
    assert "HLS starts in 2013 (L30 2013-04, S30 2015-11)" in err
    assert not (tmp_path / "o").exists()


def test_year_before_one_sensor_warns(tmp_path: Path) -> None:
    res = run("map", "--plan", "--tile", "T15TVH", "--year", "2014", "--model",
              str(tmp_path / "nope"), "--out", str(tmp_path / "o"))  # fmt: skip
    assert "S30 starts in 2015-11: 2014 has no S30 observations" in one_line(res.stderr)


def test_empty_search_before_hls_start_adds_the_dates() -> None:
    from hlsmap.cli.options import with_hls_hint
    from hlsmap.errors import EmptySearchError

    exc = EmptySearchError("no L30/S30 items")
    assert "HLS starts in 2013" in str(with_hls_hint(exc, ["L30", "S30"], 2015))
    assert with_hls_hint(exc, ["L30", "S30"], 2020) is exc


def test_map_plan_checks_the_model_before_the_search(tmp_path: Path) -> None:
    model = str(tmp_path / "nope")
    res = run("map", "--plan", "--tile", "T15TVH", "--year", "2024", "--model", model,
              "--out", str(tmp_path / "o"), "--source", NOWHERE)  # fmt: skip
    assert res.returncode == 2
    assert "model directory" in res.stderr and "does not exist" in one_line(res.stderr)


def test_predict_positional_out_is_deprecated_but_works(tmp_path: Path) -> None:
    res = run("predict", str(tmp_path / "o"), "--model", str(tmp_path / "nope"), "--tile",
              "T15TVH", "--year", "2024", "--source", NOWHERE)  # fmt: skip
    err = one_line(res.stderr)
    assert res.returncode == 2
    assert "deprecated:" in err and f"--out {tmp_path / 'o'}" in err
    assert "does not exist" in err  # then the model check, still before any search


def test_predict_out_given_twice(tmp_path: Path) -> None:
    res = run("predict", "a", "--out", "b", "--model", "m", "--year", "2024", "--tile", "T15TVH")
    assert res.returncode == 2 and "give the output once" in one_line(res.stderr)


def test_predict_season_through_period_is_deprecated(tmp_path: Path) -> None:
    res = run("predict", "--out", str(tmp_path / "o"), "--model", str(tmp_path / "nope"),
              "--tile", "T15TVH", "--year", "2024", "--period", "wet=11-04", "--source",
              NOWHERE)  # fmt: skip
    err = one_line(res.stderr)
    assert "deprecated: --period wet=11-04: write --season wet=11-04" in err
    assert res.returncode == 2 and "does not exist" in err


def test_predict_season_needs_a_year(tmp_path: Path) -> None:
    res = run("predict", "--out", str(tmp_path), "--model", "m", "--tile", "T15TVH",
              "--season", "wet=11-04", "--period", "2024")  # fmt: skip
    assert res.returncode == 2 and "--season needs --year" in one_line(res.stderr)


@pytest.mark.parametrize("command", ["simulate", "cube", "predict"])
def test_every_output_takes_out(command: str) -> None:
    res = run(command, "--help")
    assert res.returncode == 0
    assert "--out" in res.stdout and "Deprecated" in res.stdout
