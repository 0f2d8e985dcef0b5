"""`hlsmap search` / `hlsmap cube` end to end against the local STAC API, and CLI errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hlsmap.cli import main
from hlsmap.cubestore import open_cube


def run(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cube_command_writes_zarr(archive, tmp_path: Path) -> None:
    w, s, e, n = (str(v) for v in archive.bbox)
    out = tmp_path / "cube.zarr"
    code = run(
        "cube",
        str(out),
        "--source",
        archive.api,
        "--bbox",
        w,
        s,
        e,
        n,
        "--datetime",
        "2024",
        "--chunk",
        "32",
    )
    assert code == 0
    cube = open_cube(out)
    assert cube.sizes["time"] == 3
    assert cube.sensor.values.tolist() == ["S30", "L30", "S30"]
    assert cube.odc.geobox.crs.epsg == 32613
    assert int(np.asarray(cube.blue.isel(time=2)).max()) == 4000
    assert not any(p.name.startswith(".cube.zarr") for p in tmp_path.iterdir())  # no leftovers


def test_search_command_saves_items(archive, tmp_path: Path, capsys) -> None:
    w, s, e, n = (str(v) for v in archive.bbox)
    out = tmp_path / "items.json"
    assert (
        run(
            "search",
            "--source",
            archive.api,
            "--bbox",
            w,
            s,
            e,
            n,
            "--dates",
            "2024-05",
            "--max-cloud",
            "30",
            "--out",
            str(out),
        )
        == 0
    )
    assert out.exists()
    assert "hls2-s30: 2 items" in capsys.readouterr().err


def test_user_mistakes_exit_2_without_traceback(tmp_path: Path) -> None:
    hlsmap = [sys.executable, "-m", "hlsmap"]
    common = ["cube", str(tmp_path / "c.zarr"), "--dates", "2024", "--source", str(tmp_path)]
    inverted = [*common, "--bbox", "10", "10", "9", "11"]
    out = subprocess.run([*hlsmap, *inverted], capture_output=True, text=True)
    assert out.returncode == 2
    assert "inverted" in out.stderr and "Traceback" not in out.stderr
    twice = [*common, "--tile", "T13RCN", "--bbox", "1", "2", "3", "4"]
    out = subprocess.run([*hlsmap, *twice], capture_output=True, text=True)
    assert out.returncode == 2 and "exactly once" in out.stderr
    debug = subprocess.run([*hlsmap, "--debug", *inverted], capture_output=True, text=True)
    assert "Traceback" in debug.stderr and "InvalidRegionError" in debug.stderr


@pytest.mark.parametrize("command", ["search", "cube", "sensors"])
def test_every_command_has_help(command: str) -> None:
    from typer.testing import CliRunner

    from hlsmap.cli import app

    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
