"""`hlsmap distill` usage errors: one line and exit 2, before any search or training."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsmap.cli import main


def run(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give the regions"),
        (("--region", "T15TVH"), "TILE:PERIOD"),
        (("--held-out", "T15TVH:2024"), "every region is held out"),
        (("--region", "T15TVH:2024", "--config", "nope"), "unknown training config"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, capsys, extra: tuple[str, ...], message: str) -> None:
    code = run("distill", "teacher", "src", str(tmp_path / "out"), *extra)
    assert code == 2
    assert message in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "out").exists()
