"""Training: fit a head on cached features, with checkpoints, resume and a report.

The names below load on first use, so that the command line's parser can read
``training.options`` (every training option, with its flag and help) without PyTorch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"TrainOptions": ".options", "TrainResult": ".trainer", "TrainMetrics": ".metrics",
         "RunConfig": ".config", "resolve_config": ".config", "train": ".trainer",
         "FitCallback": ".loop", "EpochEnd": ".loop"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
