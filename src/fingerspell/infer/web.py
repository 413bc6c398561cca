"""What the browser needs of a model to answer on the device (issue 25: the on-device page): the
landmark head's weights and the fusion's settings as JSON, read by ``fingerspell/web/recognizer.js``
(the crop head's answer will come from the model's ONNX graph).

The JavaScript repeats the landmark encoding, the head's arithmetic and the fusion;
``tests/test_web_parity.py`` holds both sides to 1e-4 on the same inputs in headless Chromium.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..errors import FingerspellError
from ..head.heads import LateFusionHead, MLPHead

if TYPE_CHECKING:
    from .model import Model

RECOGNIZER_JS = "recognizer.js"


def web_asset(name: str) -> Path:
    """A file of the browser's code shipped with the package (``fingerspell/web/``)."""
    path = Path(str(resources.files("fingerspell") / "web" / name))
    if not path.is_file():
        raise FingerspellError(f"{path}: missing from this installation")
    return path


def head_to_json(head: MLPHead) -> dict[str, Any]:
    """An ``MLPHead`` as ``recognizer.js``'s ``headLogits`` reads it: the standardisation (if
    any) and each Linear layer's weight (rows = outputs) and bias, as plain lists."""
    layers = [module for module in head.layers if isinstance(module, nn.Linear)]
    out: dict[str, Any] = {"normalize": bool(head.config.normalize),
                           "layers": [{"weight": layer.weight.detach().cpu().tolist(),
                                       "bias": layer.bias.detach().cpu().tolist()}
                                      for layer in layers]}
    if head.config.normalize:
        out["mean"] = head.feature_mean.detach().cpu().tolist()
        out["std"] = head.feature_std.detach().cpu().tolist()
    return out


def landmark_head_json(model: Model) -> dict[str, Any]:
    """The model's landmark head for the browser, with what it needs around it: the class
    names, the landmark encoding, the calibrated temperature and "unsure" threshold, and a
    fusion's landmark weight."""
    head = model.head
    if isinstance(head, LateFusionHead):
        landmarks, weight = head.landmarks, head.landmark_weight
    elif model.mode.name == "landmarks" and isinstance(head, MLPHead):
        landmarks, weight = head, 1.0
    else:
        raise FingerspellError(f"a {model.mode.name} model has no landmark head to run in the "
                               f"browser (fusion and landmarks models do)")
    return {"classes": model.classes, "landmark_encoding": model.mode.landmark_encoding,
            "temperature": model.temperature, "unsure_below": model.unsure_below,
            "landmark_weight": weight, "head": head_to_json(landmarks)}
