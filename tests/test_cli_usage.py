"""Usage errors through the installed console script: click's short usage + one error line,
exit 2, never a traceback (typer vendors click as ``typer._click``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HLSMAP = Path(sys.executable).with_name("hlsmap")


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["map", "--tile", "T15TVH", "--yera", "2024"],
        ["map", "--year", "abc", "--tile", "T15TVH", "--model", "m", "--out", "o"],
        ["models", "fetch"],
        ["models", "no-such-subcommand"],
    ],
)
def test_usage_errors_exit_2_in_one_line(args: list[str]) -> None:
    res = subprocess.run([str(HLSMAP), *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
