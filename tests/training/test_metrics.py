"""Metrics against hand-computed values, and the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hlsmap.training.metrics import confusion_matrix, metrics_from_confusion, plot_confusion


def test_confusion_and_metrics_by_hand(tmp_path: Path) -> None:
    truth = np.array([1, 1, 2, 2, 2, 0, 2])
    pred = np.array([1, 2, 2, 2, 1, 1, 2])
    mask = np.array([1, 1, 1, 1, 1, 1, 0], bool)  # last pixel masked out, 0 = unlabeled
    cm = confusion_matrix(truth, pred, num_classes=2, mask=mask)
    assert cm.tolist() == [[1, 1], [1, 2]]
    m = metrics_from_confusion(cm)
    assert m["pixels"] == 5
    assert m["overall_accuracy"] == pytest.approx(0.6)
    assert m["kappa"] == pytest.approx((0.6 - 13 / 25) / (1 - 13 / 25))
    c1, c2 = m["per_class"]["1"], m["per_class"]["2"]
    assert (c1["precision"], c1["recall"], c1["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert c1["iou"] == pytest.approx(1 / 3) and c1["support"] == 2
    assert (c2["precision"], c2["recall"], c2["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert c2["iou"] == pytest.approx(0.5) and c2["share"] == pytest.approx(0.6)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert c1["name"] == "water"
    png = plot_confusion(cm, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_absent_class_and_perfect() -> None:
    cm = confusion_matrix(np.array([3, 3, 5]), np.array([3, 3, 5]))
    m = metrics_from_confusion(cm)
    assert m["overall_accuracy"] == 1.0 and m["kappa"] == pytest.approx(1.0)
    assert m["per_class"]["1"]["f1"] is None and m["per_class"]["3"]["f1"] == 1.0
    assert m["mean_iou"] == 1.0
