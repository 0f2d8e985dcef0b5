"""The U-Net, its metadata and save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hlsmap.errors import ModelError
from hlsmap.model import (
    BANDS,
    FORMAT_VERSION,
    PRESETS,
    ModelMetadata,
    UNetConfig,
    build_model,
    load_model,
    read_metadata,
    save_model,
)


@pytest.fixture(scope="module")
def tiny():
    net = build_model("tiny", bands=BANDS, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, len(BANDS))).astype(np.float32)
    return net, x, np.asarray(net(x))


def test_forward_shape_and_presets(tiny) -> None:
    net, x, y = tiny
    assert y.shape == (2, 16, 16, 10) and y.dtype == np.float32
    assert net.multiple == 2
    assert PRESETS["small"].multiple == 4
    assert set(PRESETS) >= {"tiny", "small", "standard"}


def test_bad_input_shapes(tiny) -> None:
    net, x, _ = tiny
    with pytest.raises(ModelError, match="multiples of 2"):
        net(x[:, :15, :16])
    with pytest.raises(ModelError, match="normalized"):
        net(x[..., :4])


def test_save_load_identical_predictions(tiny, tmp_path: Path) -> None:
    net, x, y = tiny
    meta = ModelMetadata.for_model(net, preset="tiny", provenance={"steps": 0})
    save_model(tmp_path / "m", net, meta)
    net2, meta2 = load_model(tmp_path / "m")
    np.testing.assert_array_equal(np.asarray(net2(x)), y)
    assert meta2.bands == BANDS and meta2.preset == "tiny"
    assert meta2.provenance == {"steps": 0}
    assert meta2.config == net.config
    # overwrite in place keeps a single, valid model
    save_model(tmp_path / "m", net2, meta2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_batchnorm_dropout_roundtrip(tmp_path: Path) -> None:
    from flax import nnx

    net = build_model(UNetConfig(widths=(4, 8), norm="batch", dropout=0.5), seed=3)
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 6)).astype(np.float32)
    ev = np.asarray(net(x, rngs=nnx.Rngs(dropout=0)))  # built in evaluation mode
    np.testing.assert_array_equal(ev, np.asarray(net(x)))
    net.train()
    a = np.asarray(net(x, rngs=nnx.Rngs(dropout=0)))
    b = np.asarray(net(x, rngs=nnx.Rngs(dropout=1)))
    assert not np.allclose(a, b)  # dropout active with rngs
    save_model(tmp_path / "bn", net, ModelMetadata.for_model(net))
    net2, _ = load_model(tmp_path / "bn")
    net.eval()
    np.testing.assert_allclose(np.asarray(net2(x)), np.asarray(net(x)), rtol=1e-6, atol=1e-6)


def test_normalize_masks_fill_and_nan(tiny) -> None:
    net, _, _ = tiny
    meta = ModelMetadata.for_model(
        net,
        normalization={
            "L30": {"mean": [100.0] * 6, "std": [10.0] * 6},
            "*": {"mean": [0.0] * 6, "std": [1.0] * 6},
        },
    )
    x = np.full((2, 3, 6), 200, np.int16)
    x[0, 0, 3] = -9999
    out = meta.normalize(x, "L30")
    assert out.dtype == np.float32 and out.shape == (2, 3, 6)
    assert np.all(out[0, 0] == 0.0) and np.allclose(out[1, 1], 10.0)
    assert np.allclose(meta.normalize(x, "S30")[1, 1], 200.0)  # unknown sensor: pooled stats
    xf = x.astype(np.float32)
    xf[1, 2, 0] = np.nan
    outf = meta.normalize(xf, "L30")
    assert np.all(np.isfinite(outf)) and np.all(outf[1, 2] == 0.0)
    with pytest.raises(ModelError, match="expects 6"):
        meta.normalize(x[..., :5], "L30")


def test_indices_channels() -> None:
    net = build_model("tiny", indices=("ndvi",))
    meta = ModelMetadata.for_model(net, indices=("ndvi",))
    x = np.zeros((1, 1, 6), np.int16)
    x[..., 2], x[..., 3] = 1000, 3000  # red, nir
    out = meta.normalize(x)
    assert out.shape == (1, 1, 7) and np.isclose(out[0, 0, 6], 0.5)
    with pytest.raises(ModelError, match="unknown index"):
        build_model("tiny", indices=("nope",))


def test_missing_dir_and_foreign_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "absent")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ModelError, match="not an hlsmap model"):
        load_model(tmp_path / "foreign")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.json").write_text(json.dumps({"format": "keras"}))
    with pytest.raises(ModelError, match="not an hlsmap model description"):
        load_model(tmp_path / "other")


def test_corrupt_and_too_new(tiny, tmp_path: Path) -> None:
    net, _, _ = tiny
    d = save_model(tmp_path / "m", net, ModelMetadata.for_model(net))
    doc = json.loads((d / "model.json").read_text())

    (d / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(d)

    d2 = save_model(tmp_path / "m2", net, ModelMetadata.for_model(net))
    (d2 / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(d2)

    newer = dict(doc, format_version=FORMAT_VERSION + 1)
    (d2 / "model.json").write_text(json.dumps(newer))
    with pytest.raises(ModelError, match="upgrade hlsmap"):
        read_metadata(d2)

    # architecture says something other than the weights hold
    other = dict(doc, architecture=dict(doc["architecture"], widths=[4, 8]))
    (d2 / "model.json").write_text(json.dumps(other))
    with pytest.raises(ModelError, match="does not match|has shape"):
        load_model(d2)


def test_weights_need_no_pickle(tiny, tmp_path: Path) -> None:
    net, _, _ = tiny
    d = save_model(tmp_path / "m", net, ModelMetadata.for_model(net))
    with np.load(d / "weights.npz", allow_pickle=False) as z:
        assert all(z[k].dtype == np.float32 for k in z.files)


def test_refuses_to_overwrite_non_model_dir(tiny, tmp_path: Path) -> None:
    net, _, _ = tiny
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="not a model"):
        save_model(tmp_path / "data", net, ModelMetadata.for_model(net))
    assert (tmp_path / "data" / "keep.txt").exists()


def test_invalid_config() -> None:
    with pytest.raises(ModelError):
        UNetConfig(widths=(8,))
    with pytest.raises(ModelError, match="unknown model preset"):
        build_model("huge")
