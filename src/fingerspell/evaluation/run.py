"""``Model.evaluate`` / ``fingerspell evaluate``: score a model on a labelled folder and draw the
results. Below inference in the layers: it reads a model through ``predict_proba`` only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import write_json
from ..data.layout import discover
from ..errors import FingerspellError
from ..features.hands import Hand
from ..head.calibration import reliability
from .metrics import classification_report, per_group_accuracy, risk_coverage
from .plots import plot_confidence, plot_confusion, plot_errors
from .report import write_report

if TYPE_CHECKING:
    from ..infer.model import Model


@dataclass
class EvalResult:
    report: dict[str, Any]
    out_dir: Path | None  # where the pictures went (None: none were asked for)
    missing_classes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return float(self.report["accuracy"])


def prediction_report(classes: list[str], paths: list[str], y_true: np.ndarray,
                      probs: np.ndarray, *, hands: list[Hand | None] | None = None,
                      signers: list[str | None] | None = None) -> dict[str, Any]:
    """The metrics of ``probs`` against ``y_true``, written nowhere: accuracy, per class (with
    each class's hand detection rate for hand-based models), per signer (when file names say
    who signed), calibration, risk-coverage, confusion and the mistakes, most confident first."""
    y_pred = probs.argmax(1) if len(probs) else np.zeros(0, dtype=int)
    report = classification_report(y_true, y_pred, classes)
    if hands is not None:
        found = np.asarray([h is not None for h in hands], dtype=bool)
        for name, row in report["per_class"].items():
            rows = y_true == classes.index(name)
            row["hand_found"] = round(float(found[rows].mean()), 4) if rows.any() else None
        report["hand_found"] = round(float(found.mean()), 4) if len(found) else None
    if signers is not None and any(s is not None for s in signers):
        report["per_signer"] = per_group_accuracy(y_true, y_pred, signers)
    wrong = np.nonzero(y_pred != y_true)[0]
    report["calibration"] = reliability(probs, y_true)
    report["risk_coverage"] = risk_coverage(probs, y_true)
    report["mistakes"] = [{"path": paths[i], "true": classes[y_true[i]],
                           "predicted": classes[y_pred[i]], "confidence": round(float(probs[i].max()), 4)}
                          for i in wrong[np.argsort(-probs[wrong].max(1))]] if len(wrong) else []
    return report


def write_pictures(report: dict[str, Any], out_dir: Path, classes: list[str], *, title: str,
                   summary: dict[str, Any], more_pictures: tuple[Path, ...] = ()) -> list[Path]:
    """``report`` (from ``prediction_report``) as confidence.png, confusion_matrix.png,
    errors.png and report.html in ``out_dir``; ``more_pictures`` (PNG files in ``out_dir``, e.g.
    training curves) lead the HTML page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion = np.asarray(report["confusion"])
    present = sorted(i for i in range(len(classes)) if confusion[i].any() or confusion[:, i].any())
    mistakes = report["mistakes"]
    pictures = [
        plot_confidence(report["calibration"], report["risk_coverage"],
                        out_dir / "confidence.png"),
        plot_confusion(confusion[np.ix_(present, present)], [classes[i] for i in present],
                       out_dir / "confusion_matrix.png",
                       title=f"{title}: accuracy {report['accuracy']:.1%} on {report['n']} images"),
        plot_errors([m["path"] for m in mistakes], [m["true"] for m in mistakes],
                    [m["predicted"] for m in mistakes], [m["confidence"] for m in mistakes],
                    out_dir / "errors.png"),
    ]
    if report.get("hand_found") is not None:
        summary = {**summary, "hand found": f"{report['hand_found']:.1%}"}
    at = report["risk_coverage"]["accuracy_at"]
    summary = {**summary, "calibration error (ECE)": f"{report['calibration']['ece']:.3f}",
               **{f"accuracy, {float(k):.0%} most confident": f"{v:.1%}" for k, v in at.items()
                  if v is not None}}
    page = write_report(out_dir / "report.html", title,
                        {"accuracy": f"{report['accuracy']:.2%}", "images": report["n"], **summary},
                        [*more_pictures, *pictures], report["per_class"],
                        report.get("per_signer"))
    return [*pictures, page]


def evaluate_model(model: Model, data_dir: str | Path, *, json_path: str | Path | None = None,
                   out_dir: str | Path | None = None, cache_dir: Path | None = None,
                   show_progress: bool = True) -> EvalResult:
    """``Model.evaluate`` (see there). The folder's classes may be a subset of the model's
    (those missing are reported); a class the model does not know is an error."""
    images = discover(data_dir, min_classes=1)
    by_lower = {name.lower(): i for i, name in enumerate(model.classes)}
    unknown = sorted({s.label for s in images.samples if s.label.lower() not in by_lower})
    if unknown:
        raise FingerspellError(f"{images.root}: classes not known to the model: {', '.join(unknown)} "
                               f"(model classes: {', '.join(model.classes)})")
    present = {s.label.lower() for s in images.samples}
    missing = [c for c in model.classes if c.lower() not in present]

    paths = [s.path for s in images.samples]
    answer = model.predict_proba(paths, use_cache=True, cache_root=cache_dir,
                                 show_progress=show_progress)
    features, keep = answer.features, answer.answered
    if not keep:
        raise FingerspellError(f"{images.root}: none of the {len(paths)} images could be read")
    probs = answer.probs[keep]
    y_true = np.asarray([by_lower[images.samples[i].label.lower()] for i in keep])

    skipped = {str(paths[i]): reason for i, reason in features.failed.items()}
    report = prediction_report(
        model.classes, [str(paths[i]) for i in keep], y_true, probs,
        hands=[features.hands[i] for i in keep] if features.hands is not None else None,
        signers=[images.samples[i].signer for i in keep])
    report["missing_classes"] = missing
    report["skipped"] = skipped
    report["data"] = str(images.root)
    files: list[Path] = []
    if out_dir is None and json_path is not None:
        out_dir = Path(json_path).parent
    if out_dir is not None:
        files = write_pictures(report, Path(out_dir), model.classes,
                               title=f"Evaluation on {images.root.name}",
                               summary={"data": str(images.root), "layout": images.layout,
                                        "features": model.mode.name,
                                        "classes missing from data": ", ".join(missing) or "none",
                                        "skipped images": len(skipped)})
    if json_path:
        files.append(write_json(json_path, report))
    return EvalResult(report, Path(out_dir) if out_dir is not None else None, missing, skipped,
                      files)
