"""torchrun with 2 CPU processes (gloo) gives the single-process result; only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .conftest import link_subset, run_cli


def test_two_processes_match_one(shared_train: Path, tmp_path: Path) -> None:
    data = link_subset(shared_train, tmp_path / "data", ["A", "B", "C"], per_class=12, step=20)
    env = {**os.environ, "FINGERSPELL_CACHE": str(tmp_path / "ddp-cache"),
           "PYTHONWARNINGS": "ignore"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", "29517", "-m", "fingerspell", "-q"]
    ddp = subprocess.run([*torchrun, "train", str(data), "--out", str(tmp_path / "ddp"),
                          "--epochs", "4", "--finetune", "1", "--finetune-epochs", "1",
                          "--features", "image"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("trained ") == 1 and "(2 processes)" in ddp.stdout  # rank 0 reports
    single = run_cli("train", str(data), "--out", str(tmp_path / "single"), "--epochs", "4",
                     "--finetune", "1", "--finetune-epochs", "1", "--features", "image")
    assert single.returncode == 0, single.stderr

    ddp_metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    single_metrics = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert ddp_metrics["world_size"] == 2 and ddp_metrics["features_computed"] >= 36
    head_rows = [[h["val_acc"] for h in m["history"] if h.get("stage") != "finetune"]
                 for m in (ddp_metrics, single_metrics)]
    assert head_rows[0] == head_rows[1]  # stage one is the same training on every rank
    assert len(ddp_metrics["history"]) == len(single_metrics["history"]) == 5
    if not ddp_metrics["finetune_kept"] and not single_metrics["finetune_kept"]:
        a = load_file(str(tmp_path / "ddp" / "model" / "model.safetensors"))
        b = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
        # thread counts differ under torchrun, so sums may differ in the last bits
        assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    leftovers = [p.name for p in (tmp_path / "ddp").rglob("*.tmp")]
    assert not leftovers


def test_two_processes_share_hand_detection(shared_train: Path, hand_model: Path,
                                            tmp_path: Path) -> None:
    """Fusion features under torchrun: ranks detect hands and crop features for their share
    into the shared caches, every rank trains on all of it, the landmark weight is chosen on
    the two folders' out-of-source answers as without torchrun, and the crop head is
    fine-tuned with the backbone on hand crops under DDP."""
    data = [link_subset(shared_train, tmp_path / f"data{k}", ["A", "L", "Y"], per_class=5,
                        step=25, offset=12 * k) for k in range(2)]
    env = {**os.environ, "FINGERSPELL_CACHE": str(tmp_path / "ddp-cache"),
           "PYTHONWARNINGS": "ignore"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29518", "-m", "fingerspell", "-q", "train", *map(str, data),
                          "--out", str(tmp_path / "ddp"), "--epochs", "3", "--features", "fusion",
                          "--finetune", "1", "--finetune-epochs", "1"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["features"] == "fusion"
    # the crop head and the backbone's last block fine-tuned on hand crops under DDP
    assert metrics["history"][-1]["stage"] == "finetune" and "finetune_kept" in metrics
    # all 30 photos, counted once, by the two ranks together
    assert metrics["features_computed"] >= 30 and metrics["hand_found"] > 0.7
    single = run_cli("train", *map(str, data), "--out", str(tmp_path / "single"), "--epochs", "3",
                     "--features", "fusion")
    assert single.returncode == 0, single.stderr
    single_metrics = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert single_metrics["hand_found"] == metrics["hand_found"]
    # the weight is chosen before fine-tuning, from the same folds on every rank
    scores = metrics["landmark_weight_by_source_folds"]
    assert scores == pytest.approx(single_metrics["landmark_weight_by_source_folds"], abs=1e-6)
    assert metrics["landmark_weight"] == single_metrics["landmark_weight"]
