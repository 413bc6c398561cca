"""SIGKILL in the middle of training, then --resume: at most one epoch lost, same final result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import torch

from .conftest import FINGERSPELL, run_cli


def test_sigkill_mid_epoch_then_resume(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # warm the feature cache so the kill lands in head training, where epochs are slow
    # enough (batch size 1) to kill mid-epoch
    args = ["train", str(small_data), "--out", str(out), "--epochs", "8", "--batch-size", "1"]
    process = subprocess.Popen([str(FINGERSPELL), "-q", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ})
    checkpoints = out / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (checkpoints / "epoch_003.pt").exists():
        time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
    time.sleep(0.3)  # into epoch 4 (each epoch is ~240 steps)
    process.send_signal(signal.SIGKILL)
    process.wait()

    done = sorted(p.name for p in checkpoints.glob("epoch_*.pt"))
    assert done and "epoch_008.pt" not in done
    last_done = torch.load(checkpoints / "last.pt", weights_only=True)["epoch"]
    assert last_done == len(done)  # last.pt is never behind the epoch files
    assert last_done >= 3  # killed during epoch 4 at the earliest: at most that epoch is lost
    assert not (out / "model").exists()  # no half-written model bundle appears

    result = run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"resumed after epoch {last_done}" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert (out / "model" / "model.safetensors").is_file()
