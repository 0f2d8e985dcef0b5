"""Classification metrics from a confusion matrix: OA, per-class P/R/F1/IoU, kappa; a plot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import BY_CODE, NUM_CLASSES


def confusion_matrix(
    truth: np.ndarray, pred: np.ndarray, num_classes: int = NUM_CLASSES, mask: Any = None
) -> np.ndarray:
    """Counts ``cm[t - 1, p - 1]`` of pixels with true code t predicted as code p.

    Pixels whose truth is 0 (unlabeled) or outside ``mask`` are not counted.

    Args:
        truth, pred: class codes ``1..num_classes`` (0 = unlabeled), same shape.
        num_classes: matrix size.
        mask: optional bool array selecting the pixels to count.
    """
    t = np.asarray(truth).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    keep = (t >= 1) & (t <= num_classes) & (p >= 1) & (p <= num_classes)
    if mask is not None:
        keep &= np.asarray(mask).ravel().astype(bool)
    idx = (t[keep] - 1) * num_classes + (p[keep] - 1)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def metrics_from_confusion(cm: np.ndarray) -> dict[str, Any]:
    """Overall accuracy, Cohen's kappa and per-class precision/recall/F1/IoU.

    Per-class entries are keyed by class code (as a string, for JSON) and include ``support``
    (true pixels) and ``share`` (share of all counted pixels). A class with no true and no
    predicted pixels gets ``None`` metrics. Means (``macro_f1``, ``mean_iou``) are over classes
    present in the truth.
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    true = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    oa = float(tp.sum() / total) if total else float("nan")
    pe = float((true * predicted).sum() / total**2) if total else float("nan")
    kappa = (oa - pe) / (1 - pe) if total and pe < 1 else float("nan")
    per_class: dict[str, Any] = {}
    f1s, ious = [], []
    for i in range(cm.shape[0]):
        code = i + 1

        def ratio(a: float, b: float) -> float | None:
            return float(a / b) if b > 0 else None

        prec = ratio(tp[i], predicted[i])
        rec = ratio(tp[i], true[i])
        f1 = ratio(2 * tp[i], true[i] + predicted[i])
        iou = ratio(tp[i], true[i] + predicted[i] - tp[i])
        per_class[str(code)] = {
            "name": BY_CODE[code].name if code in BY_CODE else str(code),
            "precision": prec, "recall": rec, "f1": f1, "iou": iou,
            "support": int(true[i]), "share": float(true[i] / total) if total else 0.0,
        }  # fmt: skip
        if true[i] > 0:
            f1s.append(f1 or 0.0)
            ious.append(iou or 0.0)
    return {
        "pixels": int(total),
        "overall_accuracy": oa,
        "kappa": float(kappa),
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "per_class": per_class,
        "confusion_matrix": cm.astype(np.int64).tolist(),
    }


def plot_confusion(cm: np.ndarray, path: str | os.PathLike[str], title: str = "") -> Path:
    """Write a row-normalized confusion matrix as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    names = [BY_CODE[i + 1].title if i + 1 in BY_CODE else str(i + 1) for i in range(len(cm))]
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=110)
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(cm)):
        for j in range(len(cm)):
            if cm[i, j] > 0:
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or "confusion matrix (row-normalized)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path
