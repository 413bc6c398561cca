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


def test_two_machines_each_with_its_own_cache(shared_train: Path, hand_model: Path,
                                              tmp_path: Path) -> None:
    """As on two machines (docs/guide/scale-out.md): two processes joined over TCP as torchrun
    joins nodes, each with a cache folder of its own. Each extracts only its share into its own
    cache, the shares travel over the process group, and the model is the single process's."""
    import socket
    import sqlite3
    data = link_subset(shared_train, tmp_path / "data", ["A", "L", "Y"], per_class=6, step=25)
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nodes = []
    for rank in (0, 1):
        env = {**os.environ, "FINGERSPELL_CACHE": str(tmp_path / f"cache{rank}"),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
               "RANK": str(rank), "LOCAL_RANK": "0", "PYTHONWARNINGS": "ignore"}
        nodes.append(subprocess.Popen(
            [sys.executable, "-m", "fingerspell", "-q", "train", str(data), "--out",
             str(tmp_path / "run"), "--epochs", "4"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    assert "(2 processes)" in outputs[0][0] and not outputs[1][0]  # rank 0 reports
    # each photo's hand (and each augmented view's) was detected once, by one of the two, into
    # that one's own cache: the caches share no entry, and together hold every photo
    detected = []
    for rank in (0, 1):
        (found,) = (tmp_path / f"cache{rank}" / "features").glob("hands-*.sqlite")
        with sqlite3.connect(found) as db:
            detected.append({key for (key,) in db.execute("SELECT key FROM features")})
    assert detected[0] and detected[1] and not detected[0] & detected[1]
    assert len(detected[0] | detected[1]) >= 18

    single = run_cli("train", str(data), "--out", str(tmp_path / "single"), "--epochs", "4")
    assert single.returncode == 0, single.stderr
    two = json.loads((tmp_path / "run" / "metrics.json").read_text())
    one = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert two["world_size"] == 2 and two["features_computed"] == 18
    assert two["hand_found"] == one["hand_found"]
    assert [h["val_acc"] for h in two["history"]] == [h["val_acc"] for h in one["history"]]
    a = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_shares_are_put_back_in_file_order() -> None:
    """What each rank computed, reassembled: rows, hands and failures in the run's file order,
    whatever rows each rank owned (a rank may own none)."""
    import numpy as np

    from fingerspell.features.modes import ModeFeatures
    from fingerspell.training.run_features import interleave
    rows = [[0, 3, 4], [1, 2], []]
    shares = [ModeFeatures(np.asarray([[0.0], [3.0], [4.0]], np.float16), {1: "broken"},
                           ["h0", None, "h4"], computed=3, seconds=2.0),
              ModeFeatures(np.asarray([[1.0], [2.0]], np.float16), {}, ["h1", "h2"],
                           computed=1, seconds=5.0),
              ModeFeatures(np.zeros((0, 0), np.float16), {}, [], computed=0, seconds=0.1)]
    whole = interleave(shares, rows, 5)  # type: ignore[arg-type]
    assert whole.vectors[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert whole.hands == ["h0", "h1", "h2", None, "h4"] and whole.failed == {3: "broken"}
    assert (whole.computed, whole.seconds) == (4, 5.0)
