"""Classifier heads that sit on top of frozen backbone features."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class HeadConfig:
    """Shape of an MLP head: ``in_dim -> hidden... -> n_classes``.

    Attributes:
        in_dim: feature length.
        n_classes: number of outputs (softmax is applied by the loss / at inference).
        hidden: widths of the hidden layers (each Linear -> ReLU -> Dropout).
        dropout: dropout after each hidden layer (one per hidden width).
        input_dropout: dropout on the features themselves (a cheap feature-space augmentation).
        normalize: standardise features with the training set's mean/std (stored in the head).
    """

    in_dim: int
    n_classes: int
    hidden: tuple[int, ...] = ()
    dropout: tuple[float, ...] = ()
    input_dropout: float = 0.0
    normalize: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadConfig:
        return cls(int(data["in_dim"]), int(data["n_classes"]), tuple(data["hidden"]),
                   tuple(data["dropout"]), float(data["input_dropout"]), bool(data["normalize"]))


class MLPHead(nn.Module):
    """Feature normalisation (optional) and an MLP producing class logits.

    Example:
        >>> head = MLPHead(HeadConfig(in_dim=8, n_classes=3, hidden=(4,), dropout=(0.5,)))
        >>> head(torch.zeros(2, 8)).shape
        torch.Size([2, 3])
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        if len(config.dropout) != len(config.hidden):
            raise ValueError(f"need one dropout per hidden layer, got hidden={config.hidden} "
                             f"dropout={config.dropout}")
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.in_dim))
        self.register_buffer("feature_std", torch.ones(config.in_dim))
        layers: list[nn.Module] = [nn.Dropout(config.input_dropout)]
        width = config.in_dim
        for hidden, dropout in zip(config.hidden, config.dropout, strict=True):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, config.n_classes))
        self.layers = nn.Sequential(*layers)

    def set_normalization(self, features: torch.Tensor) -> None:
        """Fit the standardisation on training features (no-op unless ``normalize``)."""
        if self.config.normalize:
            self.feature_mean.copy_(features.float().mean(0))
            self.feature_std.copy_(features.float().std(0).clamp_min(1e-4))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = features.float()
        if self.config.normalize:
            features = (features - self.feature_mean) / self.feature_std
        return self.layers(features)
