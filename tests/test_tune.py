"""Hyper-parameter search on cached features, and reuse of its best config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli

pytest.importorskip("optuna")


def test_tune_then_train_with_best_config(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_cli("tune", str(small_data), "--trials", "8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "best " in result.stdout and "8 trials" in result.stdout
    best = json.loads((out / "best_config.json").read_text())
    trials = json.loads((out / "trials.json").read_text())
    assert len(trials) == 8 and (out / "study.png").stat().st_size > 5000
    completed = [t["value"] for t in trials if t["state"] == "COMPLETE"]
    assert best["val_acc"] == max(completed)

    run = tmp_path / "run"
    trained = run_cli("train", str(small_data), "--out", str(run), "--config",
                      str(out / "best_config.json"))
    assert trained.returncode == 0, trained.stderr
    used = json.loads((run / "config.json").read_text())["recipe"]
    # best_config.json holds what the search chose, nothing else (not the features it ran with)
    from fingerspell.training.tune import TUNED_FIELDS
    assert set(best["recipe"]) == set(TUNED_FIELDS) and best["searched_with"]["features"] == "fusion"
    assert {k: used[k] for k in best["recipe"]} == best["recipe"] and used["features"] == "fusion"
    # the same recipe, data, split and seed: the search's score is reproduced
    assert json.loads((run / "metrics.json").read_text())["best_val_acc"] == pytest.approx(
        best["val_acc"], abs=0.02)
