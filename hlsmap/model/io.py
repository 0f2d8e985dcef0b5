"""Save and load a model directory: ``weights.npz`` (plain arrays, read with
``allow_pickle=False`` so loading never executes code) + ``model.json`` (format version,
architecture, bands, classes, normalization, provenance)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ModelError
from hlsmap.model.classmap import ClassMapped, is_identity
from hlsmap.model.metadata import ModelMetadata
from hlsmap.model.registry import get_architecture
from hlsmap.model.unet import assign_state, flat_state, flat_state_shapes

WEIGHTS_FILE = "weights.npz"
METADATA_FILE = "model.json"


def save_model(
    path: str | os.PathLike[str],
    net: Any,
    meta: ModelMetadata,
    *,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write ``net`` and ``meta`` to the directory ``path`` atomically.

    The directory is assembled next to ``path`` and renamed into place, so an interrupted save
    never leaves a half-written model; an existing model directory at ``path`` is replaced.

    Args:
        path: the model directory.
        net: the network (a :class:`ClassMapped` wrapper is saved as its inner network).
        meta: its metadata.
        extra_files: more files written into the directory before it is renamed into place
            (for converted models: LICENSE, NOTICE, a note saying they were converted).

    Returns:
        The model directory.
    """
    meta.validate()
    if isinstance(net, ClassMapped):
        net = net.inner  # the class mapping is rebuilt from the metadata on load
    net_config = getattr(net, "config", None)
    if type(net_config) is type(meta.config) and net_config != meta.config:
        raise ModelError("metadata architecture differs from the network's: build metadata with"
                         " ModelMetadata.for_model(net, ...).")  # fmt: skip
    dest = Path(path)
    if dest.exists() and not dest.is_dir():
        raise ModelError(f"{dest} exists and is not a directory: choose another model path.")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / METADATA_FILE).exists():
        raise ModelError(f"{dest} is a non-empty directory that is not a model: refusing to"
                         " overwrite it; choose an empty or new path.")  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with open(tmp / WEIGHTS_FILE, "wb") as f:
            np.savez(f, allow_pickle=False, **flat_state(net))
        (tmp / METADATA_FILE).write_text(json.dumps(meta.to_dict(), indent=2) + "\n")
        for name, data in (extra_files or {}).items():
            if Path(name).name != name or name in (WEIGHTS_FILE, METADATA_FILE):
                raise ModelError(f"extra file name {name!r} must be a plain, new file name.")
            (tmp / name).write_bytes(data)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _model_dir(path: str | os.PathLike[str]) -> Path:
    from hlsmap.model.zoo import resolve_known

    d = resolve_known(path)
    if not (d / METADATA_FILE).exists() and (d / "model" / METADATA_FILE).is_file():
        return d / "model"  # a training run folder
    return d


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """Read only ``model.json`` of a model directory (no JAX work).

    ``path`` may also be a ``hlsmap train`` run folder holding the model in ``model/``, or
    the name of a known model (``"dynamicworld"``: its converted copy in the cache, fetched
    and converted on first use; see :mod:`hlsmap.model.zoo`).
    """
    d = _model_dir(path)
    if not d.is_dir():
        raise ModelError(f"model directory {d} does not exist: train one with `hlsmap train` or"
                         " pass the path of a saved model.")  # fmt: skip
    mfile = d / METADATA_FILE
    if not mfile.is_file():
        raise ModelError(f"{d} is not an hlsmap model: it has no {METADATA_FILE}.")
    try:
        doc = json.loads(mfile.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mfile} is not valid JSON ({exc}): the model is corrupt.") from None
    return ModelMetadata.from_dict(doc, where=str(mfile))


def load_model(path: str | os.PathLike[str]) -> tuple[Any, ModelMetadata]:
    """Load a model directory written by :func:`save_model` (or a known model's name).

    Weights are read with ``allow_pickle=False``: loading never executes code. Every weight
    and every normalization parameter must be finite: a NaN would silently blank or scramble a
    map, so it is refused here.

    Returns:
        ``(net, meta)`` with ``net`` in evaluation mode, returning logits in hlsmap's class
        order (a model with other classes is wrapped in :class:`ClassMapped`).

    Raises:
        ModelError: the directory is missing, foreign, corrupt, not finite or from a newer
            format, or names an unknown architecture.
    """
    meta = read_metadata(path)
    wfile = _model_dir(path) / WEIGHTS_FILE
    if not wfile.is_file():
        raise ModelError(f"{wfile.parent} has no {WEIGHTS_FILE}: the model is incomplete.")
    try:
        with np.load(wfile, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"{wfile} cannot be read ({exc}): the weights are corrupt.") from None
    net = get_architecture(meta.architecture).build(meta.config, meta.num_inputs)
    expected = flat_state_shapes(net)
    if set(arrays) != set(expected):
        missing = sorted(set(expected) - set(arrays))[:3]
        extra = sorted(set(arrays) - set(expected))[:3]
        raise ModelError(f"{wfile} does not match the architecture in {METADATA_FILE} (missing"
                         f" {missing}, unexpected {extra}): the model is corrupt.")  # fmt: skip
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ModelError(f"{wfile}: {k} has shape {arrays[k].shape}, expected {shape}.")
        if arrays[k].dtype.kind != "f" or not np.isfinite(arrays[k]).all():
            raise ModelError(
                f"{wfile}: {k} holds NaN, infinite or non-float values: the weights are corrupt;"
                " re-save, re-train or re-import the model."
            )
    assign_state(net, arrays)
    net.eval()
    if not is_identity(meta.class_codes):
        net = ClassMapped(net, meta.class_codes)
        net.eval()
    return net, meta
