"""The README's ``hlsmap ...`` commands exist with the options they use (click's command tree),
and every --model they name exists: a known model or a folder a README command writes."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    cmds = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("hlsmap "):
                cmds.append(shlex.split(line)[1:])
    return cmds


def test_readme_commands_and_options_exist() -> None:
    import typer

    from hlsmap.cli import app

    root = typer.main.get_command(app)
    cmds = readme_commands()
    assert len(cmds) >= 10
    for args in cmds:
        cmd, rest = root, list(args)
        while rest and hasattr(cmd, "commands") and rest[0] in cmd.commands:
            cmd = cmd.commands[rest.pop(0)]
        assert not hasattr(cmd, "commands") or not rest or rest[0].startswith("-"), args
        opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for tok in rest:
            if tok.startswith("--"):
                assert tok.split("=")[0] in opts, f"{' '.join(args)}: {tok}"


def test_readme_models_exist() -> None:
    from hlsmap.model import KNOWN_MODELS

    cmds = readme_commands()
    # run folders README commands write: `train CHIPS OUT`, `distill TEACHER SOURCE OUT`
    runs = {a[2] for a in cmds if a[0] == "train" and len(a) > 2}
    runs |= {a[3] for a in cmds if a[0] == "distill" and len(a) > 3}
    trained = runs | {f"{r}/model" for r in runs}
    for a in cmds:
        if "--model" in a:
            model = a[a.index("--model") + 1]
            assert model in KNOWN_MODELS or model in trained, f"{' '.join(a)}: {model}"
        if a[0] == "distill" and len(a) > 1 and not a[1].startswith("-"):
            assert a[1] in KNOWN_MODELS or a[1] in trained, f"{' '.join(a)}: {a[1]}"


def test_as_uint8_probs_refuses_nan() -> None:
    from hlsmap.errors import ModelError
    from hlsmap.predictions import as_uint8_probs

    assert as_uint8_probs(np.array([0.0, 1.0])).tolist() == [0, 255]
    with pytest.raises(ModelError, match="NaN"):
        as_uint8_probs(np.array([0.5, np.nan]))


def test_read_bar_needs_no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)  # importing tqdm now fails
    from hlsmap.cube import _progress

    class Sized(list[int]):
        pass

    assert list(_progress()(Sized([1, 2, 3]))) == [1, 2, 3]


def test_pixel_climatology_without_empty_slice_warnings() -> None:
    import pandas as pd
    import xarray as xr

    from hlsmap.seasons import pixel_climatology

    t = pd.date_range("2024-01-15", periods=12, freq="MS") + pd.Timedelta(days=14)
    red = np.full((12, 4, 4), 500, np.int16)
    nir = np.full((12, 4, 4), 3000, np.int16)
    fmask = np.zeros((12, 4, 4), np.uint8)
    fmask[5] = 2  # June: every pixel cloudy
    cube = xr.Dataset(
        {
            n: (("time", "y", "x"), v)
            for n, v in (
                ("red", red),
                ("green", red),
                ("swir16", red),
                ("nir08", nir),
                ("fmask", fmask),
            )
        },
        # fmt: skip
        coords={"time": t},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clim = pixel_climatology(cube)
    assert clim.shape == (12,)
