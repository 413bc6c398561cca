"""Classifier heads that sit on top of frozen backbone features."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import FusionConfig, HeadConfig, config_from_dict


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


class LateFusionHead(nn.Module):
    """``fusion`` features' head: a crop head and a landmark head, their probabilities averaged
    where a hand was found (the crop head alone elsewhere). Input: [crop | landmarks | found].

    Measured against one head on the concatenated features (benchmarks/feature_modes.py): the
    landmark head keeps its robustness to light (other lighting sessions 76.5% -> 89%) while
    the crop head still sees what landmarks cannot.
    Returns log-probabilities, so ``softmax`` of the output is the averaged probability.

    Example:
        >>> crop = MLPHead(HeadConfig(in_dim=4, n_classes=3))
        >>> marks = MLPHead(HeadConfig(in_dim=2, n_classes=3))
        >>> LateFusionHead(crop, marks)(torch.zeros(5, 4 + 2 + 1)).exp().sum(1).round().tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, crop: MLPHead, landmarks: MLPHead, landmark_weight: float = 0.5) -> None:
        super().__init__()
        self.crop = crop
        self.landmarks = landmarks
        self.landmark_weight = landmark_weight

    @property
    def config(self) -> FusionConfig:
        return FusionConfig(self.crop.config, self.landmarks.config, self.landmark_weight)

    def parts(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The crop head's and the landmark head's probabilities, and whether a hand was found."""
        split = self.crop.config.in_dim
        crop = features[:, :split]
        marks = features[:, split:split + self.landmarks.config.in_dim]
        found = features[:, -1:].float() > 0.5
        return self.crop(crop).softmax(-1), self.landmarks(marks).softmax(-1), found

    @staticmethod
    def mix(p_crop: torch.Tensor, p_marks: torch.Tensor, found: torch.Tensor,
            landmark_weight: float) -> torch.Tensor:
        """Log-probabilities of the fusion from its ``parts`` at ``landmark_weight``."""
        mixed = landmark_weight * p_marks + (1 - landmark_weight) * p_crop
        return torch.where(found, mixed, p_crop).clamp_min(1e-12).log()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mix(*self.parts(features), self.landmark_weight)


def head_from_config(config: dict[str, Any]) -> MLPHead | LateFusionHead:
    """The head a bundle's ``config.json`` describes (weights not loaded): a ``FusionConfig``'s
    dict (``"kind": "late_fusion"``) or a ``HeadConfig``'s."""
    shape = config_from_dict(config)
    if isinstance(shape, FusionConfig):
        return LateFusionHead(MLPHead(shape.crop), MLPHead(shape.landmarks), shape.landmark_weight)
    return MLPHead(shape)
