"""Accuracy, per-class precision/recall/F1, the confusion matrix, calibration and risk-coverage."""

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
    if report.get("calibration"):
        at = report["risk_coverage"]["accuracy_at"]
        lines.append(f"calibration error (ECE) {report['calibration']['ece']:.3f}; accuracy on the "
                     + ", ".join(f"{float(k):.0%}" for k in at) + " most confident: "
                     + ", ".join(f"{v:.1%}" for v in at.values()))
    if report.get("per_signer"):
        lines.append("")
        lines.append(f"{'signer':<10}{'accuracy':>10}{'images':>9}")
        for name, row in report["per_signer"].items():
            lines.append(f"{name:<10}{row['accuracy']:>10.3f}{row['n']:>9d}")
    return "\n".join(lines)


COVERAGES = (0.9, 0.8, 0.5)  # the most confident shares that risk-coverage reports


def risk_coverage(probs: np.ndarray, y_true: np.ndarray) -> dict[str, Any]:
    """Accuracy on the most confident predictions: what a user gets if the model may say "not
    sure" for the rest (``coverage`` 0.9 = the 90% most confident). ``curve`` has one point per
    prediction count, for the plot.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> risk_coverage(probs, np.array([0, 1, 1, 0]))["accuracy_at"]["0.5"]
        0.5
    """
    order = np.argsort(-probs.max(1), kind="stable")
    correct = (probs.argmax(1) == np.asarray(y_true))[order]
    kept_accuracy = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    at = {}
    for share in COVERAGES:
        count = max(1, round(share * len(correct)))
        at[f"{share:g}"] = round(float(kept_accuracy[count - 1]), 4) if len(correct) else None
    step = max(1, len(correct) // 200)  # at most ~200 points in the JSON
    curve = [[round((k + 1) / len(correct), 4), round(float(kept_accuracy[k]), 4)]
             for k in range(0, len(correct), step)]
    return {"accuracy_at": at, "curve": curve}


def text_edits(intended: str, spelled: str) -> dict[str, int]:
    """How far the spelled text is from the intended one: the fewest insertions, deletions
    and substitutions that turn ``intended`` into ``spelled`` (Levenshtein, with the kinds
    counted; among equally short ways, substitutions are preferred).

    Example:
        >>> text_edits("A", "ATATA")
        {'insertions': 4, 'deletions': 0, 'substitutions': 0, 'edits': 4}
        >>> text_edits("CAB", "FCAP")
        {'insertions': 1, 'deletions': 0, 'substitutions': 1, 'edits': 2}
    """
    rows, cols = len(intended) + 1, len(spelled) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                             cost[i - 1][j - 1] + (intended[i - 1] != spelled[j - 1]))
    counts = {"insertions": 0, "deletions": 0, "substitutions": 0}
    i, j = rows - 1, cols - 1
    while i or j:  # walk back along one cheapest path
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (intended[i - 1] != spelled[j - 1]):
            counts["substitutions"] += intended[i - 1] != spelled[j - 1]
            i, j = i - 1, j - 1
        elif j and cost[i][j] == cost[i][j - 1] + 1:
            counts["insertions"] += 1
            j -= 1
        else:
            counts["deletions"] += 1
            i -= 1
    return {**counts, "edits": cost[-1][-1]}
