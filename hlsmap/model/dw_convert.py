"""Convert Dynamic World's SavedModel into weights of the NNX port (``DynamicWorldNet``).

The Keras layer names (``conv2d_3``, ``batch_normalization_5``, ...) follow creation order, not
the network's, so :data:`LAYER_MAP` places each (conv, BatchNorm) pair of the port, and
:func:`check_topology` proves the map against the SavedModel's own Keras config (every conv
reads the Mish of the BatchNorm the port says, or the resize / sum / concat it says) before any
weight is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ModelError
from hlsmap.model.savedmodel import check_release, keras_layers, read_savedmodel

# Port module prefix -> (Keras conv layer, Keras BatchNormalization layer, what the conv reads).
# "Reads" is the BatchNorm whose Mish feeds the conv, or an op: "input", "resize" (the
# antialiased half-size resize), "add", "add_1" (block sums), "concat".
LAYER_MAP: dict[str, tuple[str, str, str]] = {
    "stem": ("conv2d", "batch_normalization", "input"),
    "skip_pw": ("conv2d_1", "batch_normalization_1", "resize"),
    "skip_dw": ("depthwise_conv2d", "batch_normalization_2", "batch_normalization_1"),
}


def _add_block(prefix: str, conv: int, dw: int, bn: int, source: str) -> None:
    """Map one residual block: convs ``conv2d_<conv>`` .. +2 (shortcut +3), depthwise
    ``depthwise_conv2d_<dw>`` .. +2, BatchNorms ``batch_normalization_<bn>`` .. +5 (shortcut +6).
    """
    prev = source
    for i in range(3):
        pw_bn, dw_bn = f"batch_normalization_{bn + 2 * i}", f"batch_normalization_{bn + 2 * i + 1}"
        LAYER_MAP[f"{prefix}/layers/{2 * i}"] = (f"conv2d_{conv + i}", pw_bn, prev)
        LAYER_MAP[f"{prefix}/layers/{2 * i + 1}"] = (f"depthwise_conv2d_{dw + i}", dw_bn, pw_bn)
        prev = dw_bn
    LAYER_MAP[f"{prefix}/shortcut"] = (
        f"conv2d_{conv + 3}",
        f"batch_normalization_{bn + 6}",
        source,
    )


_add_block("block1", conv=2, dw=1, bn=3, source="resize")
_add_block("block2", conv=6, dw=4, bn=10, source="add")
_add_block("block3", conv=10, dw=7, bn=17, source="concat")

HEAD = "conv2d_14"  # reads the L2-normalised, bilinearly up-sampled block3 sum

# Ops whose output the port names by a token, by Keras TFOpLambda / layer name.
_OPS = {
    "tf.image.resize": "resize",
    "tf.__operators__.add": "add",
    "tf.__operators__.add_1": "add_1",
    "tf.__operators__.add_2": "add_2",
    "tf.concat": "concat",
    "tf.image.resize_1": "resize_1",
    "tf.math.l2_normalize": "l2_normalize",
}


def _inputs(layer: dict[str, Any]) -> list[str]:
    """Names of the layers feeding ``layer`` (first call's positional and tensor kwargs)."""
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    node = nodes[0]
    # Keras writes a node either as [[name, i, j, kwargs], ...] or, for TF-op layers, as a
    # flat [name, i, j, kwargs] list.
    entries = node if node and isinstance(node[0], list) else [node]
    out = []
    for e in entries:
        out.append(e[0])
        kwargs = e[3] if len(e) > 3 and isinstance(e[3], dict) else {}
        for v in kwargs.values():
            if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
                out.append(v[0])
    return out


def _function(layer: dict[str, Any]) -> str | None:
    """The TF function a ``TFOpLambda`` layer calls (``math.multiply``), else ``None``."""
    if layer.get("class_name") != "TFOpLambda":
        return None
    f = layer.get("config", {}).get("function")
    return f if isinstance(f, str) else None


def check_topology(layers: list[dict[str, Any]]) -> None:
    """Check :data:`LAYER_MAP` against a Keras functional config.

    Raises:
        ModelError: a layer is missing, has the wrong class or settings, or is wired
            differently from the port.
    """
    by_name = {layer["name"]: layer for layer in layers}

    def source(name: str) -> str:
        # Follow Mish (multiply(bn, tanh(softplus(bn)))) back to its BatchNorm.
        layer = by_name.get(name)
        if layer is None:
            raise ModelError(f"Dynamic World graph: layer {name!r} is missing.")
        if layer["class_name"] == "InputLayer":
            return "input"
        if name in _OPS:
            return _OPS[name]
        if _function(layer) == "math.multiply":
            return source(_inputs(layer)[0])
        return name

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ModelError(
                f"Dynamic World graph: {what}; this SavedModel is not the network the port"
                " implements (check_release names the known files)."
            )

    consumers: dict[str, list[str]] = {}
    for layer in layers:
        for src in _inputs(layer):
            consumers.setdefault(src, []).append(layer["name"])
    for prefix, (conv, bn, feeds) in LAYER_MAP.items():
        need(conv in by_name and bn in by_name, f"{prefix}: layers {conv}/{bn} are missing")
        cls = by_name[conv]["class_name"]
        depthwise = prefix == "skip_dw" or prefix.endswith(("/1", "/3", "/5"))
        need(cls == ("DepthwiseConv2D" if depthwise else "Conv2D"), f"{conv} is a {cls}")
        cfg = by_name[conv]["config"]
        need(
            cfg.get("use_bias") is True and cfg.get("activation") == "linear",
            f"{conv} is not a linear conv with bias",
        )
        need(
            cfg.get("padding") == "same" or cfg["kernel_size"]["items"] == [1, 1],
            f"{conv} is not SAME-padded",
        )
        need(_inputs(by_name[bn]) == [conv], f"{bn} does not read {conv}")
        eps = by_name[bn]["config"].get("epsilon")
        need(eps == 1e-3, f"{bn} has epsilon {eps}, not 0.001")
        got = [source(s) for s in _inputs(by_name[conv])]
        need(got == [feeds], f"{conv} ({prefix}) reads {got}, the port feeds it {feeds!r}")
        after = {_function(by_name[c]) for c in consumers.get(bn, [])}
        need(after == {"math.softplus", "math.multiply"}, f"{bn} is not followed by Mish")

    def op(name: str) -> dict[str, Any]:
        need(name in by_name, f"layer {name!r} is missing")
        return by_name[name]

    def reads(name: str) -> list[str]:
        return [source(s) for s in _inputs(op(name))]

    def kwargs(name: str) -> dict[str, Any]:
        node = op(name)["inbound_nodes"][0]
        kw = node[3] if node and not isinstance(node[0], list) and len(node) > 3 else {}
        return kw if isinstance(kw, dict) else {}

    for token, block in (("add", "block1"), ("add_1", "block2"), ("add_2", "block3")):
        name = next(n for n, t in _OPS.items() if t == token)
        want = sorted([LAYER_MAP[f"{block}/layers/5"][1], LAYER_MAP[f"{block}/shortcut"][1]])
        need(sorted(reads(name)) == want, f"{name} does not sum {want}")
    need(
        reads("tf.image.resize")[:1] == ["batch_normalization"]
        and kwargs("tf.image.resize").get("antialias") is True
        and kwargs("tf.image.resize").get("method", "bilinear") == "bilinear",
        "the down-sampling resize is not the antialiased resize of the stem",
    )
    need(
        reads("tf.concat") == ["add_1", "batch_normalization_2"],
        "the concat is not [block2 sum, skip branch]",
    )
    need(
        reads("tf.image.resize_1")[:1] == ["add_2"]
        and kwargs("tf.image.resize_1").get("method") == "bilinear"
        and not kwargs("tf.image.resize_1").get("antialias", False),
        "the up-sampling resize is not a plain bilinear resize of block3's sum",
    )
    need(
        reads("tf.math.l2_normalize") == ["resize_1"]
        and kwargs("tf.math.l2_normalize").get("axis") == -1,
        "the embedding is not the channel-wise L2 normalisation of the up-sampled features",
    )
    need(reads(HEAD) == ["l2_normalize"], f"{HEAD} does not read the L2-normalised embedding")


def convert_keras_weights(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras ``layer/variable`` arrays -> :func:`~hlsmap.model.dynamicworld.flat_weights` names.

    Depthwise kernels go from Keras' ``(3, 3, C, 1)`` to NNX's grouped ``(3, 3, 1, C)``.

    Raises:
        ModelError: a variable is missing or left over.
    """
    left = dict(weights)

    def take(key: str) -> np.ndarray:
        if key not in left:
            raise ModelError(f"Dynamic World weights: variable {key!r} is missing.")
        return np.asarray(left.pop(key), np.float32)

    out: dict[str, np.ndarray] = {}
    for prefix, (conv, bn, _) in LAYER_MAP.items():
        if conv.startswith("depthwise"):
            k = take(f"{conv}/depthwise_kernel")
            out[f"{prefix}/conv/kernel"] = k.reshape(k.shape[0], k.shape[1], 1, k.shape[2])
        else:
            out[f"{prefix}/conv/kernel"] = take(f"{conv}/kernel")
        out[f"{prefix}/conv/bias"] = take(f"{conv}/bias")
        out[f"{prefix}/norm/scale"] = take(f"{bn}/gamma")
        out[f"{prefix}/norm/bias"] = take(f"{bn}/beta")
        out[f"{prefix}/norm/mean"] = take(f"{bn}/moving_mean")
        out[f"{prefix}/norm/var"] = take(f"{bn}/moving_variance")
    out["head/kernel"] = take(f"{HEAD}/kernel")
    out["head/bias"] = take(f"{HEAD}/bias")
    if left:
        raise ModelError(
            f"Dynamic World weights: {len(left)} variables the port does not use"
            f" (e.g. {next(iter(left))!r}); this is not the known network."
        )
    return out


def convert_savedmodel(path: str | Path, *, check_hashes: bool = False) -> dict[str, np.ndarray]:
    """Dynamic World's SavedModel directory -> arrays keyed like ``flat_weights``.

    Args:
        path: the SavedModel directory (``saved_model.pb``, ``variables/``).
        check_hashes: also require the exact known release (:func:`check_release`).

    Raises:
        ModelError: missing, corrupt or foreign files, or a graph wired unlike the port.
    """
    if check_hashes:
        check_release(path)
    check_topology(keras_layers(path))
    return convert_keras_weights(read_savedmodel(path))
