"""fingerspell: recognise the ASL manual alphabet by transfer learning.

Importing the package is cheap: PyTorch and the rest load on first use of ``train``,
``evaluate`` or ``Model`` (so ``fingerspell --help`` starts at once).

Example:
    >>> import fingerspell
    >>> result = fingerspell.train("asl_alphabet_train", "runs/demo")   # doctest: +SKIP
    >>> model = fingerspell.Model.load("runs/demo/model")              # doctest: +SKIP
    >>> predictions = model.predict(["hand.jpg"])             # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import FingerspellError, ImageError

if TYPE_CHECKING:
    from .infer.model import Model, evaluate
    from .training.trainer import train

# public name -> the module that defines it, imported on first access
_LAZY = {"evaluate": ".infer.model", "Model": ".infer.model", "train": ".training.trainer",
         "Predictions": ".infer.prediction"}

__all__ = ["FingerspellError", "ImageError", "Model", "Predictions", "__version__", "evaluate",
           "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
