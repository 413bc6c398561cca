"""A head's forward pass in NumPy: how every model answers.

PyTorch trains and adapts heads (``heads.py``); answering needs only a few matrix products, so
it runs here on the head's weights as arrays — with the same arithmetic as ``MLPHead`` and
``LateFusionHead`` (float32, checked against them in the tests) — and a prediction never has to
import PyTorch. The on-device page does the same in JavaScript (``web/recognizer.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import FusionConfig, HeadConfig, config_from_dict


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float32."""
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class HeadArrays:
    """A head (``config``) and its weights by state-dict name, as float32 arrays.

    Example:
        >>> config = HeadConfig(in_dim=2, n_classes=2)
        >>> head = HeadArrays(config, {"layers.1.weight": np.eye(2, dtype=np.float32),
        ...                            "layers.1.bias": np.zeros(2, np.float32)})
        >>> head.proba(np.array([[0.0, 1.0]], np.float32)).astype(float).round(3).tolist()
        [[0.269, 0.731]]
    """

    config: HeadConfig | FusionConfig
    weights: dict[str, np.ndarray]

    @classmethod
    def from_state(cls, config: HeadConfig | FusionConfig | dict[str, Any],
                   state: dict[str, Any]) -> HeadArrays:
        """From a state dict of arrays or tensors (anything ``np.asarray`` reads)."""
        config = config_from_dict(config) if isinstance(config, dict) else config
        return cls(config, {name: np.asarray(value, np.float32) for name, value in state.items()})

    @classmethod
    def from_module(cls, head: Any) -> HeadArrays:
        """From an ``MLPHead`` or ``LateFusionHead`` (its weights as they are now)."""
        return cls.from_state(head.config, {name: tensor.detach().float().cpu().numpy()
                                            for name, tensor in head.state_dict().items()})

    def scores(self, features: np.ndarray) -> np.ndarray:
        """What the PyTorch head returns: logits (``MLPHead``) or log-probabilities
        (``LateFusionHead``)."""
        features = np.asarray(features, np.float32)
        if isinstance(self.config, HeadConfig):
            return _mlp(self.config, self.weights, "", features)
        crop, marks = self.config.crop, self.config.landmarks
        p_crop = softmax(_mlp(crop, self.weights, "crop.", features[:, :crop.in_dim]))
        p_marks = softmax(_mlp(marks, self.weights, "landmarks.",
                               features[:, crop.in_dim:crop.in_dim + marks.in_dim]))
        weight = np.float32(self.config.landmark_weight)
        mixed = weight * p_marks + (np.float32(1) - weight) * p_crop
        found = features[:, -1:] > 0.5
        return np.log(np.maximum(np.where(found, mixed, p_crop), np.float32(1e-12)))

    def proba(self, features: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Class probabilities, the scores divided by ``temperature`` first."""
        return softmax(self.scores(features) / np.float32(temperature))


def _mlp(config: HeadConfig, weights: dict[str, np.ndarray], prefix: str,
         features: np.ndarray) -> np.ndarray:
    if config.normalize:
        features = (features - weights[prefix + "feature_mean"]) / weights[prefix + "feature_std"]
    layers = config.linear_layers()
    for position, layer in enumerate(layers):
        features = (features @ weights[f"{prefix}layers.{layer}.weight"].T
                    + weights[f"{prefix}layers.{layer}.bias"])
        if position < len(layers) - 1:
            features = np.maximum(features, np.float32(0))
    return features
