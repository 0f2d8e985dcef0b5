"""Read a Keras-made TensorFlow SavedModel without TensorFlow: named weights and layer config.

``saved_model.pb`` is a ``SavedModel`` message -> ``MetaGraphDef`` (field 2) ->
``SavedObjectGraph`` (field 7): a list of ``SavedObject`` nodes (field 1), node 0 the root. Each
node has ``children`` (``ObjectReference``: node_id = 1, local_name = 2) and is one of a
``user_object`` (4: identifier = 1, Keras' JSON ``metadata`` = 3) or a ``variable`` (7:
``SavedVariable``, name = 6), among others. The checkpoint in ``variables/`` names each variable
by its first path from the root in breadth-first order (``variables/17``); the Keras layer that
owns the variable (the user object whose child it is, under ``kernel``, ``gamma`` ...) gives it a
stable name, ``<layer name>/<attribute>`` (``conv2d_3/kernel``). The Keras metadata of a
functional model holds its config: every layer with its class, settings and inbound nodes, from
which the topology is read.

Also the pinned Dynamic World release: :data:`KNOWN_RELEASE`, :data:`SOURCE`,
:func:`check_release`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ModelError
from hlsmap.model import protowire as pw
from hlsmap.model.tfbundle import read_bundle

VARIABLE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

KNOWN_RELEASE: dict[str, str] = {
    "saved_model.pb": "e47c4eafa62656b688893a4d86f67f0ad9e08baaf5b5b1ce2f320208b08d4b18",
    "variables/variables.data-00000-of-00001": (
        "c4a38299f2c0a741682cbe48810d55afdc832ff451e3d3708082751fe655fcb1"
    ),
    "variables/variables.index": (
        "f27000c6a3d7dcd3e76e333331b108697712c734d5d5ef11b3f34571027c8436"
    ),
}
"""Dynamic World's forward SavedModel: path relative to the SavedModel directory -> sha256."""

SOURCE: dict[str, str] = {
    "repository": "https://github.com/google/dynamicworld",
    "commit": "0dd288fae5fb5291d988e5ea3c12eb91df481ec5",
    # The repository keeps the SavedModels under model/ (its README: "./model/forward and
    # ./model/backward"); a raw URL is
    # https://raw.githubusercontent.com/google/dynamicworld/<commit>/model/forward/<file>.
    "path": "model/forward",
}
"""Where :data:`KNOWN_RELEASE` is published: ``<repository>/<commit>/<path>/<relative path>``."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_release(path: str | Path) -> dict[str, str]:
    """Check that a directory holds exactly the known Dynamic World forward SavedModel.

    Args:
        path: the SavedModel directory (the one holding ``saved_model.pb``).

    Returns:
        ``{relative path: sha256}`` for the files of :data:`KNOWN_RELEASE`.

    Raises:
        ModelError: a file is missing or its hash differs.
    """
    root = Path(path)
    out: dict[str, str] = {}
    for rel, want in KNOWN_RELEASE.items():
        f = root / rel
        if not f.is_file():
            raise ModelError(
                f"{f} is missing: {root} is not the known Dynamic World release; download"
                f" {SOURCE['path']}/{rel} from {SOURCE['repository']} at {SOURCE['commit']}."
            )
        got = sha256_file(f)
        if got != want:
            raise ModelError(
                f"{f} has sha256 {got}, not {want}: not the known Dynamic World release"
                " (corrupt or different file); download it again."
            )
        out[rel] = got
    return out


@dataclass
class SavedNode:
    """One node of a SavedObjectGraph (only what naming and topology need)."""

    children: list[tuple[int, str]] = field(default_factory=list)
    identifier: str = ""  # user objects: "_tf_keras_layer", "_tf_keras_network", ...
    metadata: str = ""  # user objects: Keras JSON metadata
    variable: str | None = None  # variables: the SavedVariable's name ("conv2d/kernel")
    shape: tuple[int, ...] | None = None


def _pb_path(path: str | Path) -> Path:
    p = Path(path)
    return p / "saved_model.pb" if p.is_dir() else p


def read_object_graph(path: str | Path) -> list[SavedNode]:
    """The nodes of a SavedModel's object graph.

    Args:
        path: the SavedModel directory or its ``saved_model.pb``.

    Raises:
        ModelError: the file is missing, truncated, corrupt or holds no object graph.
    """
    pb = _pb_path(path)
    try:
        data = pb.read_bytes()
    except OSError as e:
        raise ModelError(f"{pb}: cannot read the SavedModel ({e.strerror}).") from None
    try:
        metas = pw.all_bytes(pw.fields(data), 2)
        if not metas:
            raise ModelError(f"{pb}: no MetaGraphDef; not a TensorFlow SavedModel.")
        graph = pw.first_bytes(pw.fields(metas[0]), 7)
        if not graph:
            raise ModelError(
                f"{pb}: no object graph (a TF1 SavedModel?); only TF2/Keras SavedModels are read."
            )
        nodes = []
        for raw in pw.all_bytes(pw.fields(graph), 1):
            f = pw.fields(raw)
            node = SavedNode()
            for ref in pw.all_bytes(f, 1):
                r = pw.fields(ref)
                node.children.append((pw.first_int(r, 1), pw.first_bytes(r, 2).decode("utf-8")))
            if 4 in f:
                u = pw.fields(pw.first_bytes(f, 4))
                node.identifier = pw.first_bytes(u, 1).decode("utf-8")
                node.metadata = pw.first_bytes(u, 3).decode("utf-8")
            if 7 in f:
                v = pw.fields(pw.first_bytes(f, 7))
                node.variable = pw.first_bytes(v, 6).decode("utf-8")
                dims = pw.all_bytes(pw.fields(pw.first_bytes(v, 2)), 2)
                node.shape = tuple(pw.signed64(pw.first_int(pw.fields(d), 1)) for d in dims)
            nodes.append(node)
    except pw.WireError as e:
        raise ModelError(
            f"{pb}: malformed protobuf ({e}); the file is truncated or corrupt."
        ) from None
    except UnicodeDecodeError:
        raise ModelError(f"{pb}: a name is not UTF-8; the file is corrupt.") from None
    if not nodes or any(c >= len(nodes) for n in nodes for c, _ in n.children):
        raise ModelError(f"{pb}: the object graph is empty or refers to missing nodes; corrupt.")
    return nodes


def checkpoint_paths(nodes: list[SavedNode]) -> dict[int, str]:
    """Each node's checkpoint path: its first path from the root in breadth-first order.

    This is how TensorFlow's object-based checkpoints name objects (children in their stored
    order), so a variable node ``i`` is saved under ``paths[i] + VARIABLE_SUFFIX``.
    """
    paths: dict[int, str] = {0: ""}
    queue = deque([0])
    while queue:
        i = queue.popleft()
        for child, name in nodes[i].children:
            if child not in paths:
                paths[child] = f"{paths[i]}/{name}" if paths[i] else name
                queue.append(child)
    return paths


def _layer_name(node: SavedNode) -> str | None:
    if not node.identifier.startswith("_tf_keras_") or not node.metadata:
        return None
    try:
        meta = json.loads(node.metadata)
    except json.JSONDecodeError:
        return None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def variable_names(nodes: list[SavedNode]) -> dict[int, str]:
    """``{variable node: "<keras layer>/<attribute>"}`` from the layers that own them.

    A variable's owner is the Keras layer (not a network: networks list every variable of their
    layers again) that holds it as a direct child; the child's local name is the attribute.
    """
    out: dict[int, str] = {}
    for node in nodes:
        if node.identifier != "_tf_keras_layer":
            continue
        layer = _layer_name(node)
        if layer is None:
            continue
        for child, local in node.children:
            if nodes[child].variable is not None:
                out.setdefault(child, f"{layer}/{local}")
    return out


def read_savedmodel(path: str | Path, *, verify: bool = True) -> dict[str, np.ndarray]:
    """Every variable of a Keras SavedModel, named ``<layer name>/<variable>``.

    Args:
        path: the SavedModel directory (``saved_model.pb`` + ``variables/``).
        verify: check the checkpoint's CRC-32Cs (see :func:`~hlsmap.model.tfbundle.read_bundle`).

    Returns:
        ``{"conv2d_3/kernel": array, "batch_normalization_5/moving_mean": array, ...}``.

    Raises:
        ModelError: a missing, corrupt or foreign file, or a graph and checkpoint that disagree.
    """
    root = Path(path)
    nodes = read_object_graph(root)
    tensors = read_bundle(root / "variables" / "variables", verify=verify)
    paths = checkpoint_paths(nodes)
    names = variable_names(nodes)
    out: dict[str, np.ndarray] = {}
    pb = root / "saved_model.pb"
    for i, node in enumerate(nodes):
        if node.variable is None:
            continue
        if i not in paths or i not in names:
            raise ModelError(f"{pb}: variable {node.variable!r} belongs to no Keras layer.")
        key = paths[i] + VARIABLE_SUFFIX
        if key not in tensors:
            raise ModelError(
                f"{pb}: variable {names[i]!r} is not in the checkpoint (no {key!r}); the"
                " variables/ folder belongs to another SavedModel."
            )
        arr = tensors.pop(key)
        if node.shape is not None and tuple(arr.shape) != node.shape:
            raise ModelError(
                f"{pb}: variable {names[i]!r} has shape {node.shape} in the graph but"
                f" {tuple(arr.shape)} in the checkpoint; the files do not belong together."
            )
        out[names[i]] = arr
    if tensors:
        raise ModelError(
            f"{pb}: the checkpoint holds {len(tensors)} tensors the graph does not name (e.g."
            f" {next(iter(tensors))!r}); the files do not belong together."
        )
    return out


def keras_layers(path: str | Path) -> list[dict[str, Any]]:
    """The layer configs of the SavedModel's functional network that owns weighted layers.

    Keras wraps models: the root may be a network whose only layer is another network. This
    returns the ``config["layers"]`` list (each with ``class_name``, ``name``, ``config`` and
    ``inbound_nodes``) of the network with the most layers.

    Raises:
        ModelError: no functional network config in the object graph.
    """
    best: list[dict[str, Any]] = []
    for node in read_object_graph(path):
        if node.identifier != "_tf_keras_network" or not node.metadata:
            continue
        try:
            layers = json.loads(node.metadata)["config"]["layers"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        if isinstance(layers, list) and len(layers) > len(best):
            best = layers
    if not best:
        raise ModelError(
            f"{_pb_path(path)}: no Keras functional network config; not a Keras SavedModel."
        )
    return best
