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

EPOCHS = 60


def test_sigkill_mid_epoch_then_resume(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # batch size 1 makes each epoch ~240 steps, so the kill lands inside an epoch
    args = ["train", str(small_data), "--out", str(out), "--epochs", str(EPOCHS),
            "--batch-size", "1", "--keep-epochs", "2"]
    process = subprocess.Popen([str(FINGERSPELL), "-q", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ})
    checkpoints = out / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (checkpoints / "epoch_003.pt").exists():
        time.sleep(0.01)
        assert process.poll() is None, process.stderr.read().decode()
    time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()

    epochs_on_disk = sorted(int(p.stem.split("_")[1]) for p in checkpoints.glob("epoch_*.pt"))
    last_done = torch.load(checkpoints / "last.pt", weights_only=True)["epoch"]
    assert 3 <= last_done < EPOCHS, "the kill must land during training"
    # last.pt is written right after the epoch file: at most one epoch ahead of it
    assert epochs_on_disk[-1] in (last_done, last_done + 1)
    assert not (out / "model").exists()  # no half-written model bundle appears

    result = run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"resumed after epoch {last_done}" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert (out / "model" / "model.safetensors").is_file()
