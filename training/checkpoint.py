"""Training checkpoints: the whole train state (weights + optimizer) as plain arrays.

A checkpoint is a directory ``step_000123/`` holding ``state.npz`` (every leaf of the state
pytree, keyed by its path; read with ``allow_pickle=False``) and ``meta.json`` (step, config).
Directories are written under a temporary name and renamed, so an interruption never leaves a
half-written checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hlsmap.errors import ConfigError


def _leaves(state: Any) -> tuple[list[str], list[Any], Any]:
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    keys = [jax.tree_util.keystr(p) for p, _ in flat]
    return keys, [v for _, v in flat], treedef


def save_checkpoint(
    root: str | os.PathLike[str], step: int, state: Any, meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write the state of ``step`` under ``root`` and keep only the ``keep`` newest."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    keys, values, _ = _leaves(state)
    arrays = {f"a{i}": np.asarray(jax.device_get(v)) for i, v in enumerate(values)}
    dest = root / f"step_{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".ckpt.", dir=root))
    try:
        with open(tmp / "state.npz", "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        doc = {"step": step, "keys": keys, **meta}
        (tmp / "meta.json").write_text(json.dumps(doc, default=str))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def list_checkpoints(root: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if (p / "meta.json").is_file())


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint under ``root``, or None."""
    ckpts = list_checkpoints(root)
    return ckpts[-1] if ckpts else None


def restore_checkpoint(path: str | os.PathLike[str], like: Any) -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint into the structure of ``like`` (a freshly built train state).

    Returns:
        ``(state, meta)``; the state's leaves are numpy arrays (put them on devices yourself).

    Raises:
        ConfigError: the checkpoint belongs to a different model/optimizer setup.
    """
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    keys, values, treedef = _leaves(like)
    if meta.get("keys") != keys:
        raise ConfigError(
            f"checkpoint {path} does not match this run's model/optimizer (different preset or"
            " options): resume with the original configuration or start a new output folder."
        )
    with np.load(path / "state.npz", allow_pickle=False) as z:
        arrays = [np.asarray(z[f"a{i}"]) for i in range(len(keys))]
    for k, a, v in zip(keys, arrays, values, strict=True):
        if a.shape != tuple(np.shape(v)):
            raise ConfigError(f"checkpoint {path}: {k} has shape {a.shape}, expected {v.shape}.")
    return jax.tree_util.tree_unflatten(treedef, arrays), meta
