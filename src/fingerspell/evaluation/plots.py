"""Pictures people look at instead of logs: curves, confusion matrix, worst mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import load_rgb
from ..errors import ImageError
from ..figures import save_png, subplots


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Loss and accuracy per epoch, training and validation."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [h["val_acc"] for h in history], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.01))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return save_png(fig, path)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path,
                   title: str = "Confusion matrix") -> Path:
    """Row-normalised confusion matrix with counts written in non-empty cells."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = max(5.0, 0.32 * len(classes) + 2)
    fig, ax = subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if len(classes) <= 40:
        for i, j in zip(*np.nonzero(matrix), strict=True):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    return save_png(fig, path)


def plot_errors(paths: list[str], true_labels: list[str], pred_labels: list[str],
                confidences: list[float], path: Path, limit: int = 24) -> Path:
    """A grid of the most confident mistakes: the image, what it is, what the model said."""
    order = np.argsort(-np.asarray(confidences))[:limit]
    cols = 6
    rows = max(1, int(np.ceil(len(order) / cols)))
    fig, axes = subplots(rows, cols, figsize=(cols * 2.0, rows * 2.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, order, strict=False):
        try:
            thumbnail = load_rgb(paths[index])
            thumbnail.thumbnail((160, 160))
            ax.imshow(thumbnail)
        except ImageError:
            pass
        ax.set_title(f"true {true_labels[index]}\npred {pred_labels[index]} "
                     f"({confidences[index]:.0%})", fontsize=8, color="firebrick")
    if not len(order):
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
    fig.suptitle("Most confident mistakes")
    return save_png(fig, path)


def plot_confidence(calibration: dict[str, Any], risk_coverage: dict[str, Any], path: Path) -> Path:
    """Reliability diagram (accuracy per confidence bin against the diagonal) and the
    risk-coverage curve (accuracy on the most confident share of predictions)."""
    fig, (ax_rel, ax_cov) = subplots(1, 2, figsize=(10, 4))
    bins = [b for b in calibration["bins"] if b["n"]]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = calibration["bins"][0]["high"] - calibration["bins"][0]["low"]
    ax_rel.bar(centres, [b["accuracy"] for b in bins], width=width * 0.9, color="steelblue",
               label="accuracy in the bin")
    ax_rel.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o",
                color="darkorange", label="mean confidence")
    ax_rel.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax_rel.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.01),
               title=f"Reliability (ECE {calibration['ece']:.3f})")
    ax_rel.legend(loc="upper left", fontsize=8)
    curve = np.asarray(risk_coverage["curve"]) if risk_coverage["curve"] else np.zeros((0, 2))
    ax_cov.plot(curve[:, 0], curve[:, 1], color="firebrick")
    for share, accuracy in risk_coverage["accuracy_at"].items():
        if accuracy is not None:
            ax_cov.plot([float(share)], [accuracy], "o", color="black")
            ax_cov.annotate(f"{accuracy:.1%}", (float(share), accuracy), textcoords="offset points",
                            xytext=(4, -12), fontsize=8)
    ax_cov.set(xlabel="coverage (share of predictions kept, most confident first)",
               ylabel="accuracy on those", xlim=(0, 1.01), ylim=(0, 1.01), title="Risk-coverage")
    for ax in (ax_rel, ax_cov):
        ax.grid(alpha=0.3)
    return save_png(fig, path)
