"""SavedModel reading, release hashes and the Keras -> NNX weight conversion."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from dwfixture import FORWARD, needs_fixtures

from hlsmap.errors import ModelError
from hlsmap.model.dw_convert import (
    LAYER_MAP,
    check_topology,
    convert_keras_weights,
    convert_savedmodel,
)
from hlsmap.model.savedmodel import (
    KNOWN_RELEASE,
    SOURCE,
    check_release,
    keras_layers,
    read_savedmodel,
)

pytestmark = needs_fixtures


@pytest.fixture(scope="module")
def keras_weights() -> dict[str, np.ndarray]:
    return read_savedmodel(FORWARD)


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "forward"
    shutil.copytree(FORWARD, dst)
    for f in dst.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)
    return dst


def test_names_every_variable_by_layer(keras_weights):
    assert len(keras_weights) == 146
    assert sum(a.size for a in keras_weights.values()) == 231_209
    assert keras_weights["conv2d/kernel"].shape == (3, 3, 9, 64)
    assert keras_weights["conv2d_3/kernel"].shape == (1, 1, 96, 96)
    assert keras_weights["conv2d_14/kernel"].shape == (1, 1, 144, 9)
    assert keras_weights["depthwise_conv2d/depthwise_kernel"].shape == (3, 3, 48, 1)
    assert keras_weights["batch_normalization_5/moving_mean"].shape == (96,)
    layers = {k.split("/")[0] for k in keras_weights}
    assert len(layers) == 15 + 10 + 24  # convs, depthwise convs, BatchNorms
    variances = [v for k, v in keras_weights.items() if k.endswith("moving_variance")]
    assert len(variances) == 24 and all((v > 0).all() for v in variances)


def test_release_hashes():
    assert check_release(FORWARD) == KNOWN_RELEASE
    assert SOURCE["commit"] == "0dd288fae5fb5291d988e5ea3c12eb91df481ec5"
    assert SOURCE["path"] == "model/forward"


def test_release_wrong_hash_and_missing_file(tmp_path):
    root = _copy(tmp_path)
    index = root / "variables" / "variables.index"
    index.write_bytes(index.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="not the known Dynamic World release"):
        check_release(root)
    with pytest.raises(ModelError, match="not the known Dynamic World release"):
        convert_savedmodel(root, check_hashes=True)
    (root / "saved_model.pb").unlink()
    with pytest.raises(ModelError, match="saved_model.pb is missing"):
        check_release(root)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_saved_model_pb(tmp_path, damage):
    root = _copy(tmp_path)
    pb = root / "saved_model.pb"
    data = bytearray(pb.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data[5] ^= 0xFF  # inside the MetaGraphDef's length prefix
    pb.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="saved_model.pb"):
        read_savedmodel(root)


def test_foreign_saved_model_pb(tmp_path):
    root = _copy(tmp_path)
    (root / "saved_model.pb").write_bytes(b"\x08\x01")  # a valid message without a graph
    with pytest.raises(ModelError, match="not a TensorFlow SavedModel"):
        read_savedmodel(root)


def test_topology_matches_the_port():
    layers = keras_layers(FORWARD)
    check_topology(layers)  # the real graph is wired as LAYER_MAP says
    assert len(LAYER_MAP) == 24  # one entry per conv + BatchNorm pair


def _rewire(layers, name, source):
    layers = copy.deepcopy(layers)
    layer = next(layer for layer in layers if layer["name"] == name)
    layer["inbound_nodes"][0][0][0] = source
    return layers


@pytest.mark.parametrize(
    ("name", "source", "match"),
    [
        ("conv2d_3", "tf.math.multiply_3", "conv2d_3 .* reads"),  # skip a depthwise CBM
        ("conv2d_10", "tf.__operators__.add_1", "conv2d_10 .* reads"),  # concat bypassed
        ("batch_normalization_7", "conv2d_5", "does not read conv2d_4"),
        ("conv2d_14", "tf.image.resize_1", "conv2d_14 does not read"),  # no L2 normalisation
    ],
)
def test_topology_rejects_other_wiring(name, source, match):
    with pytest.raises(ModelError, match=match):
        check_topology(_rewire(keras_layers(FORWARD), name, source))


def test_topology_rejects_other_settings():
    layers = copy.deepcopy(keras_layers(FORWARD))
    next(la for la in layers if la["name"] == "batch_normalization_4")["config"]["epsilon"] = 1e-5
    with pytest.raises(ModelError, match="epsilon"):
        check_topology(layers)
    layers = copy.deepcopy(keras_layers(FORWARD))
    resize = next(la for la in layers if la["name"] == "tf.image.resize")
    resize["inbound_nodes"][0][3]["antialias"] = False
    with pytest.raises(ModelError, match="antialiased"):
        check_topology(layers)
    layers = [la for la in keras_layers(FORWARD) if la["name"] != "tf.concat"]
    with pytest.raises(ModelError, match="tf.concat"):
        check_topology(layers)


def test_conversion_uses_every_variable(keras_weights):
    out = convert_keras_weights(keras_weights)
    assert len(out) == 146 and sum(a.size for a in out.values()) == 231_209
    # Depthwise kernels become grouped-conv kernels: (3, 3, C, 1) -> (3, 3, 1, C).
    k = keras_weights["depthwise_conv2d/depthwise_kernel"]
    np.testing.assert_array_equal(out["skip_dw/conv/kernel"][:, :, 0, :], k[:, :, :, 0])
    var = keras_weights["batch_normalization_23/moving_variance"]
    np.testing.assert_array_equal(out["block3/shortcut/norm/var"], var)
    extra = dict(keras_weights, **{"dense/kernel": np.zeros(3, np.float32)})
    with pytest.raises(ModelError, match="does not use"):
        convert_keras_weights(extra)
    missing = {k: v for k, v in keras_weights.items() if k != "conv2d_7/bias"}
    with pytest.raises(ModelError, match="conv2d_7/bias"):
        convert_keras_weights(missing)


def test_weights_round_trip_through_the_network(keras_weights):
    from hlsmap.model.dynamicworld import assign_weights, build_dynamicworld, flat_weights

    arrays = convert_keras_weights(keras_weights)
    net = build_dynamicworld(arrays)
    back = flat_weights(net)
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
    bad = dict(arrays, **{"head/bias": np.zeros(10, np.float32)})
    with pytest.raises(ModelError, match="head/bias"):
        assign_weights(net, bad)
    with pytest.raises(ModelError, match="missing"):
        assign_weights(net, {k: v for k, v in arrays.items() if k != "stem/conv/kernel"})
