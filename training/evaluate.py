"""Evaluate a model on a chip set's held-out split: metrics JSON + confusion-matrix PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.model import ModelMetadata, UNet, load_model
from hlsmap.training.augment import make_inputs
from hlsmap.training.chips import ChipStore, clear_pixels, valid_input
from hlsmap.training.metrics import confusion_matrix, metrics_from_confusion, plot_confusion

# Compiled argmax forward passes by graphdef (periodic validation reuses one compilation).
_FORWARD: dict[Any, Any] = {}


def predict_chips(
    net: UNet, meta: ModelMetadata, store: ChipStore, idx: np.ndarray, batch: int = 16,
    progress: bool = False,
) -> np.ndarray:  # fmt: skip
    """Argmax class codes ``(N, S, S)`` uint8 for chips ``idx`` (one compiled shape)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from rich.progress import Progress

    graphdef, state = nnx.split(net)
    fwd = _FORWARD.get(graphdef)
    if fwd is None:

        def forward(state: Any, x: jax.Array) -> jax.Array:
            logits = nnx.merge(graphdef, state)(x)
            return (jnp.argmax(logits, axis=-1) + 1).astype(jnp.uint8)

        fwd = _FORWARD[graphdef] = jax.jit(forward)

    s = store.chip_size
    # the U-Net wants multiples of 2**depth; other architectures name their alignment
    pad = (-s) % int(getattr(net, "multiple", None) or meta.alignment)
    out = np.zeros((len(idx), s, s), np.uint8)
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("evaluating", total=len(idx))
        for a in range(0, len(idx), batch):
            sel = idx[a : a + batch]
            chips = store.read(sel)
            sensors = [store.sensors[int(v)] for v in chips["sensor"]]
            x = make_inputs(chips["bands"], sensors, meta)
            n = len(sel)
            x = np.pad(x, ((0, batch - n), (0, pad), (0, pad), (0, 0)))
            out[a : a + n] = np.asarray(fwd(state, x))[:n, :s, :s]
            bar.advance(task, n)
    return out


def clear_accuracy(net: UNet, meta: ModelMetadata, store: ChipStore, idx: np.ndarray) -> float:
    """Overall accuracy on clear surface pixels of chips ``idx`` (periodic validation)."""
    pred = predict_chips(net, meta, store, idx)
    chips = store.read(idx)
    lab = chips["labels"]
    clear = clear_pixels(chips["bands"], chips["fmask"]) & (lab != CLOUD) & (lab > 0)
    n = int(clear.sum())
    return float((pred[clear] == lab[clear]).sum() / n) if n else float("nan")


def evaluate_model(
    net: UNet,
    meta: ModelMetadata,
    store: ChipStore,
    out: str | os.PathLike[str] | None = None,
    *,
    split: str = "test",
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of ``net`` on ``split`` of ``store``.

    Two views: ``clear`` (the headline) counts clear pixels (Fmask clear, valid input) whose
    truth is a surface class; ``all`` counts every labelled pixel with valid input, the cloud
    class included.

    Returns:
        The ``clear`` metrics at the top level (overall_accuracy, kappa, per_class, ...), plus
        ``all`` and ``split``/``chips``; written to ``out/metrics.json`` and
        ``out/confusion.png`` (+ ``confusion_all.png``) when ``out`` is given.
    """
    idx = store.indices(split)
    pred = predict_chips(net, meta, store, idx, progress=progress)
    cm_clear = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    cm_all = np.zeros_like(cm_clear)
    for a in range(0, len(idx), 64):
        chips = store.read(idx[a : a + 64])
        lab = chips["labels"]
        p = pred[a : a + 64]
        clear = clear_pixels(chips["bands"], chips["fmask"]) & (lab != CLOUD)
        cm_clear += confusion_matrix(lab, p, mask=clear)
        cm_all += confusion_matrix(lab, p, mask=valid_input(chips["bands"]))
    report = metrics_from_confusion(cm_clear)
    report["all"] = metrics_from_confusion(cm_all)
    report.update({"split": split, "chips": int(len(idx)), "chip_set": str(store.path)})
    source = store.attrs.get("source") or {}
    if source.get("sensors"):
        report["sensors"] = source["sensors"]  # granules used / skipped when it was built
    report["notes"] = _notes(source)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".metrics.json.tmp"
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, out / "metrics.json")
        plot_confusion(cm_clear, out / "confusion.png", "clear pixels, held-out observations")
        plot_confusion(cm_all, out / "confusion_all.png", "all labelled pixels (clouds included)")
    return report


def _notes(source: dict[str, Any]) -> list[str]:
    """What a reader must know about the figures of a chip set from ``source``."""
    notes = []
    if "world" in source:
        notes.append(
            "chips from the synthetic world: on synthetic spectra this is a plumbing check,"
            " not an accuracy figure for real places"
        )
    for sensor, info in sorted((source.get("sensors") or {}).items()):
        if info.get("skipped"):
            notes.append(f"{info['skipped']} {sensor} granule(s) skipped: {info.get('reason')}")
    return notes


def evaluate(
    model: str | os.PathLike[str],
    chips: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: str = "test",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a saved model on a chip set (``hlsmap evaluate``); see :func:`evaluate_model`."""
    from hlsmap.errors import ModelError

    net, meta = load_model(model)
    store = ChipStore.open(chips)
    if tuple(store.bands) != tuple(meta.bands):
        raise ModelError(
            f"the model takes bands {meta.bands} but the chip set holds {store.bands}: build"
            f" chips for it with `hlsmap chips --model {model} ...`."
        )
    res = (store.attrs.get("source") or {}).get("resolution")
    if res is not None and abs(float(res) - float(meta.resolution)) > 1e-6:
        raise ModelError(
            f"the model runs at {meta.resolution:g} m but the chips are on a {float(res):g} m"
            f" grid: build chips for it with `hlsmap chips --model {model} ...`."
        )
    if store.nbytes < 2**31:
        store.cache()
    return evaluate_model(net, meta, store, out, split=split, progress=progress)
