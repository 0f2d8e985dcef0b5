"""``hlsmap train`` / ``hlsmap evaluate`` / ``hlsmap chips`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toychips import make_toy_chips

from hlsmap.cli import main


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chips = make_toy_chips(tmp_path / "chips.zarr").path
    run = tmp_path / "run"
    main(["train", str(chips), str(run), "--config", "tiny", "--steps", "6",
          "--warmup-steps", "1", "--checkpoint-every", "3"])  # fmt: skip
    assert (run / "model" / "model.json").is_file()
    assert (run / "eval" / "metrics.json").is_file() and (run / "eval" / "confusion.png").is_file()
    assert (run / "checkpoints").is_dir()
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["config"]["steps"] == 6 and resolved["config"]["preset"] == "tiny"
    lines = (run / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 6
    meta = json.loads((run / "model" / "model.json").read_text())
    assert meta["provenance"]["steps"] == 6 and "overall_accuracy" in meta["provenance"]["metrics"]
    capsys.readouterr()
    main(["evaluate", str(run), str(chips), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["overall_accuracy"] <= 1.0 and len(report["confusion_matrix"]) == 10
    assert (run / "eval" / "metrics.json").is_file()


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())  # rich wraps long lines


def test_user_mistakes_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notaworld").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["chips", str(tmp_path / "notaworld"), str(tmp_path / "c.zarr")])
    assert e.value.code == 2 and "not a synthetic world" in _err(capsys)
    with pytest.raises(SystemExit) as e:
        main(["train", str(tmp_path / "nochips"), str(tmp_path / "run")])
    assert e.value.code == 2 and "hlsmap chips" in _err(capsys)
    with pytest.raises(SystemExit) as e:
        main(["train", str(tmp_path), str(tmp_path / "run"), "--config", "huge"])
    assert e.value.code == 2 and "unknown training config" in _err(capsys)
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(tmp_path / "nomodel"), str(tmp_path)])
    assert e.value.code == 2 and "does not exist" in _err(capsys)


def test_config_overrides() -> None:
    from hlsmap.errors import ConfigError
    from hlsmap.training.configs import CPU, get_config

    cfg = get_config("cpu").with_settings(
        ["class_weight_power=0.25", "indices=ndvi,ndwi", "augment.sensor_mix=0", "crop=null"]
    )
    assert cfg.class_weight_power == 0.25 and cfg.indices == ("ndvi", "ndwi")
    assert cfg.augment.sensor_mix == 0 and cfg.augment.flips == CPU.augment.flips
    assert cfg.crop == CPU.crop  # None means "unset" for replace(); whole chips need crop=64
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown training options"):
        CPU.with_settings(["nope=1"])
    with pytest.raises(ConfigError, match="key=value"):
        CPU.with_settings(["lr"])
