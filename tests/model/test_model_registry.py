"""Architectures as plug-ins, the input contract in model.json, and finite-weight checks."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hlsmap.errors import ModelError
from hlsmap.model import (
    BANDS,
    ModelMetadata,
    build_model,
    get_architecture,
    list_architectures,
    load_model,
    read_metadata,
    register_architecture,
    save_model,
)


def _saved(tmp_path: Path) -> Path:
    net = build_model("tiny", seed=0)
    return save_model(tmp_path / "m", net, ModelMetadata.for_model(net, BANDS, preset="tiny"))


def test_builtins_are_registered() -> None:
    assert {"unet", "dynamicworld"} <= set(list_architectures())
    assert get_architecture("unet").receptive_radius(build_model("tiny").config) == 32


def test_unknown_architecture_names_the_known_ones_and_how_to_register(tmp_path: Path) -> None:
    d = _saved(tmp_path)
    doc = json.loads((d / "model.json").read_text())
    doc["architecture"]["name"] = "prithvi"
    (d / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError) as err:
        read_metadata(d)
    msg = str(err.value)
    assert "'prithvi'" in msg and "dynamicworld" in msg and "unet" in msg
    assert "register_architecture" in msg and "hlsmap.architectures" in msg


def test_contract_round_trips_through_model_json(tmp_path: Path) -> None:
    d = _saved(tmp_path)
    doc = json.loads((d / "model.json").read_text())
    assert doc["format_version"] == 2
    assert doc["input"] == {"resolution": 30.0, "normalization_kind": "zscore", "sensor_bands": {}}
    meta = read_metadata(d)
    assert (meta.architecture, meta.resolution, meta.halo, meta.alignment) == ("unet", 30.0, 32, 2)


def test_format_1_models_still_load(tmp_path: Path) -> None:
    """Models saved before the input contract existed (format 1) load as 30 m z-score U-Nets."""
    d = _saved(tmp_path)
    doc = json.loads((d / "model.json").read_text())
    doc["format_version"] = 1
    del doc["input"]
    (d / "model.json").write_text(json.dumps(doc))
    net, meta = load_model(d)
    assert meta.normalization_kind == "zscore" and meta.resolution == 30.0
    x = np.zeros((1, 16, 16, len(BANDS)), np.float32)
    assert np.asarray(net(x)).shape == (1, 16, 16, 10)


@pytest.mark.parametrize("where", ["weight", "mean", "std"])
def test_nan_in_weights_or_statistics_is_refused_at_load(tmp_path: Path, where: str) -> None:
    d = _saved(tmp_path)
    if where == "weight":
        with np.load(d / "weights.npz") as z:
            arrays = {k: z[k] for k in z.files}
        key = sorted(arrays)[0]
        arrays[key] = arrays[key].copy()
        arrays[key].flat[0] = np.nan
        np.savez(d / "weights.npz", **arrays)
    else:
        doc = json.loads((d / "model.json").read_text())
        doc["normalization"]["*"][where][2] = float("nan")
        (d / "model.json").write_text(json.dumps(doc))  # json writes NaN, as a buggy tool would
    with pytest.raises(ModelError, match="NaN"):
        load_model(d)


def test_a_registered_architecture_loads_through_model_json(tmp_path: Path) -> None:
    """A third-party architecture is a registration: model.json names it, load_model builds it."""
    from flax import nnx

    from hlsmap.model.unet import UNet, UNetConfig

    @dataclass(frozen=True)
    class Cfg:
        in_channels: int = 6

    class Plugin:
        name = "test-plugin"
        title = "a U-Net under another name"

        def config_from_dict(self, d: dict) -> Cfg:
            return Cfg(**d)

        def config_to_dict(self, config: Cfg) -> dict:
            return {"in_channels": config.in_channels}

        def build(self, config: Cfg, in_channels: int) -> UNet:
            cfg = UNetConfig(in_channels=in_channels, widths=(8, 16))
            return nnx.eval_shape(lambda: UNet(cfg, rngs=nnx.Rngs(0)))

        def receptive_radius(self, config: Cfg) -> int:
            return 5

        def alignment(self, config: Cfg) -> int:
            return 4

    register_architecture(Plugin(), overwrite=True)
    with pytest.raises(ModelError, match="already registered"):
        register_architecture(Plugin())
    net = build_model("tiny", seed=3)
    meta = ModelMetadata.for_model(net, BANDS)
    meta.architecture, meta.config = "test-plugin", Cfg()
    d = save_model(tmp_path / "p", net, meta)
    loaded, lmeta = load_model(d)
    assert lmeta.architecture == "test-plugin" and lmeta.halo == 8  # 5 rounded up to 4s
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(net(x)), atol=1e-6)


def test_not_an_architecture_is_refused() -> None:
    with pytest.raises(ModelError, match="is not an architecture"):
        register_architecture(object())


def test_entry_point_plugins_are_found(tmp_path: Path) -> None:
    """The entry-point group is read (a broken plugin warns instead of breaking hlsmap)."""
    dist = tmp_path / "plug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hlsmap.architectures]\nbroken = plug_missing_module:ARCH\n"
    )
    code = (
        "import sys, warnings; sys.path.insert(0, sys.argv[1]);"
        "from hlsmap.model.registry import list_architectures;"
        "warnings.simplefilter('always');"
        "print(list_architectures())"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert "'unet'" in res.stdout
    assert "skipped architecture plugin 'broken'" in res.stderr
