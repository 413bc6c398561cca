"""Head: the small classifier trained on cached features, and the recipes that train it.

The names below load on first use, so that answering with a head's weights as arrays
(``arrays``, ``config``) does not import PyTorch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"FusionConfig": ".config", "HeadConfig": ".config", "HeadArrays": ".arrays",
         "LateFusionHead": ".heads", "MLPHead": ".heads", "PRESETS": ".recipes",
         "Preset": ".recipes", "Recipe": ".recipes", "get_preset": ".recipes"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
