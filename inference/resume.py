"""Resume keys: what made a tile file, so a rerun reuses only tiles made from the same inputs.

A tile's result is determined by the model (its weights and metadata), the STAC items over the
tile (ids, asset hrefs, ``updated``), the consensus periods, the consensus rule and thresholds,
the tile's grid and halo, the compute path (runtime, precision, model window), whether
per-observation predictions are kept, and the hlsmap version. Each of these is hashed on its
own into the tile's *key*, which :func:`hlsmap.inference.tasks.run_tile` stores inside the tile
file. A rerun compares the stored
key with the new one part by part: equal -> the tile is reused as it is (byte-identical
outputs); different -> the tile is computed again, and the run says why ("model changed").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hlsmap.inference.tasks import TileTask

KEY_ENTRY = "resume_key"
"""Name of the resume key inside a tile file (an ``.npz`` entry holding JSON)."""

REASONS = {
    "model": "model changed",
    "items": "input items changed",
    "periods": "periods changed",
    "consensus": "consensus rule or thresholds changed",
    "grid": "tile grid changed",
    "compute": "runtime, precision or model window changed",
    "predictions": "saving of per-observation predictions changed",
    "version": "hlsmap version changed",
}
"""Why a tile is recomputed, per key part."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def model_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """sha256 of a saved model's ``model.json`` and the arrays of its ``weights.npz``.

    Hashing the bytes, not the path, means a model retrained into the same folder counts as
    another model, and a copy of the same model elsewhere as the same one.
    """
    d = Path(model_dir)
    # a ``hlsmap train`` run folder keeps its model in ``model/`` (as hlsmap.model.load_model)
    if not (d / "model.json").exists() and (d / "model" / "model.json").is_file():
        d = d / "model"
    h = hashlib.sha256()
    meta = d / "model.json"
    if meta.is_file():
        h.update(meta.read_bytes())
    weights = d / "weights.npz"
    if weights.is_file():
        # the arrays, not the zip bytes: np.savez stamps the time into the archive, so the
        # same (net, meta) saved again by run_region must give the same identity
        with np.load(weights, allow_pickle=False) as z:
            for name in sorted(z.files):
                a = np.ascontiguousarray(z[name])
                h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
                h.update(a.tobytes())
    return h.hexdigest()


def _strip_query(href: str) -> str:
    # signed URLs (Planetary Computer SAS tokens) change on every search; the file does not
    return href.split("?", 1)[0]


def _item_identity(d: dict[str, Any]) -> dict[str, Any]:
    assets = d.get("assets") or {}
    return {
        "id": d.get("id"),
        "collection": d.get("collection"),
        "updated": (d.get("properties") or {}).get("updated"),
        "hrefs": {k: _strip_query(str(a.get("href", ""))) for k, a in sorted(assets.items())},
    }


def _period_identity(p: Any) -> dict[str, Any]:
    months = getattr(p, "months", None)
    return {
        "name": getattr(p, "name", str(p)),
        "start": str(getattr(p, "start", "")),
        "end": str(getattr(p, "end", "")),
        "months": sorted(months) if months else None,
    }


def tile_key(
    *,
    model_id: str,
    items: Sequence[dict[str, Any]],
    periods: Sequence[Any],
    options: Any,
    geobox: Any,
    halo: int,
    tile_side: int,
) -> dict[str, str]:
    """The resume key of one tile: ``{part: digest}`` for every part of :data:`REASONS`.

    Args:
        model_id: :func:`model_fingerprint` of the model.
        items: the tile's STAC item dicts.
        periods: the consensus periods.
        options: the run's :class:`hlsmap.inference.tasks.TileOptions`.
        geobox: the tile's output grid.
        halo / tile_side: as in :class:`hlsmap.inference.tasks.TileTask`.
    """
    from hlsmap import __version__

    return {
        "model": model_id[:20],
        "items": _digest(sorted((_item_identity(d) for d in items), key=lambda x: str(x["id"]))),
        "periods": _digest([_period_identity(p) for p in periods]),
        "consensus": _digest(
            [options.rule, options.min_valid, options.balance]
            # only runs that keep probabilities key them: other tiles keep their old keys
            + ([True, options.aggregate] if getattr(options, "probabilities", False) else [])
        ),
        "grid": _digest(
            [str(geobox.crs), list(geobox.affine)[:6], list(geobox.shape), halo, tile_side]
        ),
        # how pixels are read (reader, fmask_first, a custom loader) gives the same pixels by
        # contract, and batch sizes the same numbers: only what changes the numbers is keyed
        "compute": _digest(
            [options.runtime, options.compute_dtype, options.window, options.overlap]
        ),
        "predictions": str(bool(options.save_predictions)),
        "version": __version__,
    }


def stored_key(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The resume key stored in a tile file; ``None`` when it has none (older hlsmap).

    Raises:
        OSError / ValueError: the file cannot be read as a tile file.
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if KEY_ENTRY not in z.files:
                return None
            key = json.loads(str(z[KEY_ENTRY]))
    except (zipfile.BadZipFile, EOFError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable tile file: {exc}") from None
    return key if isinstance(key, dict) else None


def reuse_verdict(path: str | os.PathLike[str], key: dict[str, str]) -> str | None:
    """``None`` when the tile file at ``path`` was made from ``key``'s inputs, else why not.

    A missing file is ``"new"``; a file without a key (written before resume keys) or an
    unreadable one is recomputed too.
    """
    p = Path(path)
    if not p.exists():
        return "new"
    try:
        old = stored_key(p)
    except (OSError, ValueError):
        return "tile file unreadable"
    if old is None:
        return "tile made by an older hlsmap (no resume key)"
    changed = [REASONS.get(part, f"{part} changed") for part in key if old.get(part) != key[part]]
    return ", ".join(changed) or None


def plan_resume(tasks: Sequence[TileTask]) -> tuple[list[TileTask], dict[str, int]]:
    """The tasks to compute, and why each tile computed *again* was not reused.

    A tile file made from other inputs (and its predictions store) is deleted now: if its
    recomputation fails, the stale result must not reach the maps.
    """
    todo: list[TileTask] = []
    recomputed: dict[str, int] = {}
    for t in tasks:
        verdict = reuse_verdict(t.out_path, t.key)
        if verdict is None:
            continue
        todo.append(t)
        if verdict != "new":
            recomputed[verdict] = recomputed.get(verdict, 0) + 1
            Path(t.out_path).unlink(missing_ok=True)
            shutil.rmtree(_predictions_path(t.out_path), ignore_errors=True)
    return todo, recomputed


def _predictions_path(tile_path: str) -> Path:
    from hlsmap.inference.tasks import predictions_path

    return predictions_path(tile_path)
