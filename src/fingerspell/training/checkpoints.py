"""Per-epoch checkpoints, written atomically so a SIGKILL loses at most the epoch in flight."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .._atomic import write_atomic

LAST = "last.pt"
BEST = "best.pt"


def epoch_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


def save_checkpoint(folder: Path, name: str, state: dict[str, Any]) -> Path:
    return write_atomic(folder / name, lambda tmp: torch.save(state, tmp))


def link_checkpoint(folder: Path, source: str, name: str) -> Path:
    """``name`` becomes the same file as ``source`` (a hard link, swapped in atomically; a copy
    where the file system has no links): the tutorial head's best epoch is 1 GB, not twice."""
    def link(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(folder / source, tmp)
        except OSError:
            shutil.copyfile(folder / source, tmp)
    return write_atomic(folder / name, link)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def prune_epochs(folder: Path, keep: int | None, pattern: str = "epoch_*.pt") -> None:
    """Keep only the ``keep`` most recent epoch files (None keeps all; last/best always stay)."""
    if keep is None:
        return
    epochs = sorted(folder.glob(pattern))
    for old in epochs[:max(0, len(epochs) - keep)]:
        old.unlink(missing_ok=True)
