"""The shapes of the heads, without PyTorch: what a bundle's ``config.json`` says of its head,
and the weights that shape holds (so a bundle is checked, and answers, before any network is
built)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any


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

    def linear_layers(self) -> list[int]:
        """Positions of the Linear layers in ``MLPHead.layers`` (input dropout first, then
        Linear, ReLU, Dropout per hidden width, then the output Linear)."""
        return [1 + 3 * i for i in range(len(self.hidden) + 1)]

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of an ``MLPHead`` of this shape, by its state-dict name.

        Example:
            >>> HeadConfig(in_dim=8, n_classes=3, hidden=(4,), dropout=(0.5,)).weight_shapes()
            ... # doctest: +NORMALIZE_WHITESPACE
            {'feature_mean': (8,), 'feature_std': (8,), 'layers.1.weight': (4, 8),
             'layers.1.bias': (4,), 'layers.4.weight': (3, 4), 'layers.4.bias': (3,)}
        """
        shapes: dict[str, tuple[int, ...]] = {"feature_mean": (self.in_dim,),
                                              "feature_std": (self.in_dim,)}
        widths = [self.in_dim, *self.hidden, self.n_classes]
        for layer, (width_in, width_out) in zip(self.linear_layers(), itertools.pairwise(widths),
                                                strict=True):
            shapes[f"layers.{layer}.weight"] = (width_out, width_in)
            shapes[f"layers.{layer}.bias"] = (width_out,)
        return shapes


@dataclass(frozen=True)
class FusionConfig:
    """Shape of a ``LateFusionHead``: its two heads and the landmark head's share.

    ``in_dim`` is the fused vector's length (crop, landmarks, the found flag); ``n_classes``
    the heads' outputs, as for ``HeadConfig``.
    """

    crop: HeadConfig
    landmarks: HeadConfig
    landmark_weight: float = 0.5
    kind: str = "late_fusion"

    @property
    def in_dim(self) -> int:
        return self.crop.in_dim + self.landmarks.in_dim + 1

    @property
    def n_classes(self) -> int:
        return self.crop.n_classes

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "crop": self.crop.to_dict(),
                "landmarks": self.landmarks.to_dict(), "landmark_weight": self.landmark_weight}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionConfig:
        return cls(HeadConfig.from_dict(data["crop"]), HeadConfig.from_dict(data["landmarks"]),
                   float(data["landmark_weight"]))

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {f"{part}.{name}": shape
                for part, config in (("crop", self.crop), ("landmarks", self.landmarks))
                for name, shape in config.weight_shapes().items()}


def config_from_dict(data: dict[str, Any]) -> HeadConfig | FusionConfig:
    """A bundle's head description: a ``FusionConfig``'s dict (``"kind": "late_fusion"``) or a
    ``HeadConfig``'s."""
    if data.get("kind") == "late_fusion":
        return FusionConfig.from_dict(data)
    return HeadConfig.from_dict(data)
