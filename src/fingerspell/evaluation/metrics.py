"""Accuracy, per-class precision/recall/F1 and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def classification_report(y_true: np.ndarray, y_pred: np.ndarray,
                          classes: list[str]) -> dict[str, Any]:
    """``{"accuracy", "n", "per_class": {class: {precision, recall, f1, support}}, "confusion"}``.

    Only classes that occur in ``y_true`` or ``y_pred`` are listed per class.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    matrix = confusion_matrix(y_true, y_pred, len(classes))
    true_pos = np.diag(matrix).astype(float)
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    per_class = {}
    for i, name in enumerate(classes):
        if support[i] == 0 and predicted[i] == 0:
            continue
        precision = true_pos[i] / predicted[i] if predicted[i] else 0.0
        recall = true_pos[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(precision, 4), "recall": round(recall, 4),
                           "f1": round(f1, 4), "support": int(support[i])}
    n = len(y_true)
    return {"accuracy": round(float(true_pos.sum() / n), 6) if n else 0.0, "n": n,
            "per_class": per_class, "confusion": matrix.tolist()}


def per_group_accuracy(y_true: np.ndarray, y_pred: np.ndarray,
                       groups: list[str | None]) -> dict[str, dict[str, Any]]:
    """Accuracy per group (e.g. per signer); rows without a group are left out.

    Example:
        >>> per_group_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]), ["7", "7", "9"])
        {'7': {'accuracy': 1.0, 'n': 2}, '9': {'accuracy': 0.0, 'n': 1}}
    """
    out = {}
    names = sorted({g for g in groups if g is not None},
                   key=lambda g: (not g.isdigit(), int(g) if g.isdigit() else 0, g))
    for name in names:
        rows = np.asarray([g == name for g in groups])
        out[name] = {"accuracy": round(float((y_true[rows] == y_pred[rows]).mean()), 4),
                     "n": int(rows.sum())}
    return out


def format_table(report: dict[str, Any]) -> str:
    """The per-class table (and per-signer accuracy, if any) as aligned text for the terminal."""
    hands = any("hand_found" in row for row in report["per_class"].values())
    lines = [f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"
             + (f"{'hand found':>12}" if hands else "")]
    for name, row in report["per_class"].items():
        found = row.get("hand_found")
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}"
                     f"{row['f1']:>10.3f}{row['support']:>9d}"
                     + ((f"{found:>12.1%}" if found is not None else f"{'-':>12}") if hands else ""))
    lines.append(f"{'accuracy':<10}{report['accuracy']:>30.4f}{report['n']:>9d}")
    if report.get("per_signer"):
        lines.append("")
        lines.append(f"{'signer':<10}{'accuracy':>10}{'images':>9}")
        for name, row in report["per_signer"].items():
            lines.append(f"{name:<10}{row['accuracy']:>10.3f}{row['n']:>9d}")
    return "\n".join(lines)
