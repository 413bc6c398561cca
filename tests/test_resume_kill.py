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


def test_best_checkpoint_is_the_epoch_file_linked_and_outlives_pruning(tmp_path: Path) -> None:
    from fingerspell.training.checkpoints import (
        BEST,
        epoch_name,
        link_checkpoint,
        prune_epochs,
        save_checkpoint,
    )
    save_checkpoint(tmp_path, epoch_name(1), {"epoch": 1, "head": {"w": torch.ones(3)}})
    link_checkpoint(tmp_path, epoch_name(1), BEST)
    # one file on disk, not two copies (the tutorial head's epoch is 1 GB)
    assert os.path.samefile(tmp_path / BEST, tmp_path / epoch_name(1))
    save_checkpoint(tmp_path, epoch_name(2), {"epoch": 2, "head": {"w": torch.zeros(3)}})
    prune_epochs(tmp_path, keep=1)
    assert not (tmp_path / epoch_name(1)).exists()
    assert torch.load(tmp_path / BEST, weights_only=True)["epoch"] == 1
    # a later best replaces the link; the epoch file it pointed at is not written through it
    link_checkpoint(tmp_path, epoch_name(2), BEST)
    assert torch.load(tmp_path / BEST, weights_only=True)["epoch"] == 2
    assert torch.load(tmp_path / epoch_name(2), weights_only=True)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST, epoch_name(2)]
