"""Bad configuration values stop a run at once with one line and exit 2 (issue 16, items 10
and 13): config-file values are checked like command-line options, and a corrupt model fails
before any search or cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hlsmap.cli import main


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), err
    return " ".join(err.split())  # rich wraps long lines on narrow terminals


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("n_workers = -1", "n_workers must be at least 1"),  # hung forever before
        ('year = "abc"', "year = 'abc' is not a whole number"),
        ('sensors = ","', "sensors is empty"),
        ("max_cloud = -10", "not a percentage"),
        ("tile_size = 0", "tile_size must be at least 1"),
        ('seasons = ["wet"]', "season 'wet' is not NAME=FIRST-LAST"),
        ("change = 3", "change = 3 is not true or false"),
    ],
)
def test_config_file_values(tmp_path: Path, capsys, toml: str, says: str) -> None:
    cfg = tmp_path / "run.toml"
    lines = {"tile": '"T13RCN"', "model": '"m"', "out": '"o"', "year": "2024"}
    key, value = (part.strip() for part in toml.split("=", 1))
    lines[key] = value
    cfg.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    assert cli("map", "--config", str(cfg), "--plan") == 2
    assert says in one_line_error(capsys)


def test_command_line_values(served_world, tmp_path: Path, capsys) -> None:
    base = ["--year", "2024", "--model", "m", "--out", str(tmp_path / "o")]
    assert cli("map", "--tile", "T13RCN", *base, "--max-cloud", "-10", "--plan") == 2
    assert "not a percentage" in one_line_error(capsys)
    assert cli("map", "--tile", "T13RCN", *base, "--sensors", ",", "--plan") == 2
    assert "sensors is empty" in one_line_error(capsys)
    predict = ["predict", "--out", str(tmp_path / "p"), "--model", str(served_world.model),
               "--year", "2024", "--tile", "T13RCN"]  # fmt: skip
    assert cli(*predict, "--max-cloud", "-10") == 2
    assert "not a percentage" in one_line_error(capsys)
    assert cli(*predict, "--workers", "-1") == 2
    assert "n_workers must be a whole number >= 1" in one_line_error(capsys)


def test_antimeridian_box_says_how_to_split(served_world, tmp_path: Path, capsys) -> None:
    code = cli("map", "--bbox", "170", "-10", "-170", "10", "--year", "2024", "--model",
               str(served_world.model), "--out", str(tmp_path / "o"), "--plan")  # fmt: skip
    assert code == 2
    err = one_line_error(capsys)
    assert "crosses the antimeridian" in err and "--bbox 170 -10 180 10" in err


def test_truncated_items_file(served_world, tmp_path: Path, capsys) -> None:
    whole = (Path(served_world.http.root) / "world-items.json").read_text()
    cut = tmp_path / "items.json"
    cut.write_text(whole[: len(whole) // 2])
    code = cli("map", "--bbox", *(str(v) for v in served_world.world.bbox), "--year", "2024",
               "--model", str(served_world.model), "--out", str(tmp_path / "o"),
               "--source", str(cut), "--plan")  # fmt: skip
    assert code == 2
    assert "is not valid JSON" in one_line_error(capsys)


@pytest.mark.parametrize("command", ["map", "predict"])
def test_corrupt_weights_fail_before_search(served_world, tmp_path: Path, capsys, command) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(served_world.model, model)
    weights = model / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:200])  # a truncated download
    http = served_world.http
    source = f"{http.url}/world-items.json"  # served by the range server, which counts hits
    before = sum(http.hits.values())
    region = ["--bbox", *(str(v) for v in served_world.world.bbox)]
    if command == "map":
        args = ["map", *region, "--year", "2024", "--model", str(model), "--out",
                str(tmp_path / "o"), "--source", source]  # fmt: skip
    else:
        args = ["predict", "--out", str(tmp_path / "o"), *region, "--year", "2024", "--model",
                str(model), "--source", source]  # fmt: skip
    start = time.perf_counter()
    assert cli(*args) == 2
    assert "weights are corrupt" in one_line_error(capsys)
    assert time.perf_counter() - start < 30  # no cluster was started
    assert sum(http.hits.values()) == before  # no search reached the source
