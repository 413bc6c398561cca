"""Temperature scaling (Guo et al., 2017): one number that makes a head's confidence honest.

Heads trained with label smoothing on near-duplicate frames, and averaged across two heads
(fusion), answer right at 0.4 where they should say 0.8. Dividing the head's log-probabilities by
a temperature fitted on held-out predictions fixes the scale without changing any answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0  # outside this a fit (or a bundle) is broken
UNSURE_BELOW = 0.5  # calibrated confidence under which predict marks an answer unsure


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)``: sharper below 1, softer above; same argmax.

    Example:
        >>> temper(np.array([[0.6, 0.4]]), 0.5).round(3).tolist()
        [[0.692, 0.308]]
    """
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(1, keepdims=True)


def _nll(probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    tempered = temper(probs, temperature)
    return float(-np.log(np.clip(tempered[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (a grid on
    log T, then golden-section refinement; the loss is unimodal in log T).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.integers(0, 3, 500)
        >>> right = rng.random(500) < 0.9                     # 90% right ...
        >>> answer = np.where(right, labels, (labels + 1) % 3)
        >>> probs = np.full((500, 3), 0.25); probs[np.arange(500), answer] = 0.5  # ... at 0.5
        >>> temperature = fit_temperature(probs, labels)      # sharpen: 0.5 becomes ~0.9
        >>> round(temperature, 2), round(float(temper(probs, temperature).max(1).mean()), 2)
        (0.22, 0.92)
    """
    labels = np.asarray(labels)
    grid = np.linspace(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE), 61)
    losses = [_nll(probs, labels, float(np.exp(g))) for g in grid]
    best = int(np.argmin(losses))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if _nll(probs, labels, float(np.exp(a))) < _nll(probs, labels, float(np.exp(b))):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def reliability(probs: np.ndarray, y_true: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """How far confidence is from accuracy: the expected calibration error (ECE: the gap per
    confidence bin, weighted by the bin's share of predictions) and the bins themselves.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> result = reliability(probs, np.array([0, 1, 1, 0]), bins=5)
        >>> result["ece"], [b["n"] for b in result["bins"]]
        (0.25, [0, 0, 1, 2, 1])
    """
    confidence = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        row: dict[str, Any] = {"low": round(float(edges[b]), 3), "high": round(float(edges[b + 1]), 3),
                               "n": n, "confidence": None, "accuracy": None}
        if n:
            row["confidence"] = round(float(confidence[inside].mean()), 4)
            row["accuracy"] = round(float(correct[inside].mean()), 4)
            ece += n / len(confidence) * abs(row["confidence"] - row["accuracy"])
        rows.append(row)
    return {"ece": round(ece, 4), "bins": rows}


def calibration_record(probs: np.ndarray, labels: np.ndarray, fitted_on: str) -> dict[str, Any]:
    """Fit a temperature on held-out ``probs`` and describe it for the bundle's config."""
    temperature = fit_temperature(probs, labels)
    return {"temperature": round(temperature, 4), "fitted_on": fitted_on, "n": len(labels),
            "ece_before": reliability(probs, labels)["ece"],
            "ece_after": reliability(temper(probs, temperature), labels)["ece"],
            "unsure_below": UNSURE_BELOW}


def check_calibration(record: Any) -> str | None:
    """What is wrong with a bundle's ``calibration`` field, or None."""
    if record is None:
        return None
    if not isinstance(record, dict):
        return "'calibration' should be an object"
    for key in ("temperature", "unsure_below"):
        value = record.get(key, 1.0 if key == "temperature" else UNSURE_BELOW)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            return f"'calibration.{key}' should be a number"
    if not MIN_TEMPERATURE <= record.get("temperature", 1.0) <= MAX_TEMPERATURE:
        return (f"'calibration.temperature' should be between {MIN_TEMPERATURE} and "
                f"{MAX_TEMPERATURE}")
    if not 0.0 <= record.get("unsure_below", UNSURE_BELOW) <= 1.0:
        return "'calibration.unsure_below' should be between 0 and 1"
    return None
