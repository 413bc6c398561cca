"""Training recipes and the presets made of them: the tutorial's exact recipe (``seed``) and our
measured default, each a recipe per feature mode.

``Recipe``'s defaults are the measured default preset's head for whole-image features (the one
source of those numbers); a preset states what it changes, once for every mode and per mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..choices import FEATURE_MODES
from ..errors import FingerspellError
from .heads import HeadConfig, MLPHead


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a head is trained on cached features.

    The defaults are the default preset's choices for whole-image features, chosen by
    measurement on the shared Kaggle frames (benchmarks/recipe_search.py, figures in
    docs/guide/models.md): a linear head generalises to unseen lighting sessions better than an
    MLP, and standardising features gains 1.7 points on the frame split but loses 12 on the
    session split. Augmented views (augment_views=1) did not help either split.
    """

    backbone: str = "efficientnet_lite0"
    features: str = "image"  # image | landmarks | crop | fusion (see features/feature_mode.py)
    hidden: tuple[int, ...] = ()
    dropout: tuple[float, ...] = ()
    input_dropout: float = 0.2
    normalize: bool = False
    optimizer: str = "adamw"  # "adamw" or "sgd"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 1e-4
    batch_size: int = 64
    epochs: int = 30
    schedule: str = "cosine"  # "constant" or "cosine" (with warm-up)
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    augment_views: int = 0  # extra augmented copies of each training image (cached features)
    balance_sources: bool = True  # several data folders: each weighs the same within a class
    finetune_blocks: int = 0  # stage two: unfreeze the backbone's last N blocks (0 = off)
    finetune_epochs: int = 3
    finetune_lr: float = 3e-4  # for the head; the backbone gets finetune_backbone_lr_scale of it
    finetune_backbone_lr_scale: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise FingerspellError(f"unknown recipe fields: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def make_head(self, in_dim: int, n_classes: int) -> MLPHead:
        """A fresh head of this recipe's shape for ``in_dim`` features and ``n_classes``."""
        return MLPHead(HeadConfig(in_dim, n_classes, self.hidden, self.dropout,
                                  self.input_dropout, self.normalize))

    def with_overrides(self, **overrides: Any) -> Recipe:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Preset:
    """A named set of recipes, one per feature mode, and the mode it trains when none is chosen.

    ``recipe()`` is that mode's recipe; ``recipe(mode)`` another's. Options a user gives
    (``TrainOptions``) override its fields; ``training/config.resolve_config`` applies them.
    """

    name: str
    features: str  # the feature mode trained when none is chosen
    recipes: Mapping[str, Recipe] = field(repr=False)

    def recipe(self, mode: str | None = None) -> Recipe:
        mode = mode or self.features
        if mode not in self.recipes:
            raise FingerspellError(f"unknown features {mode!r}; choose from "
                                   f"{', '.join(self.recipes)}")
        return self.recipes[mode]

    @classmethod
    def over(cls, name: str, features: str, base: Recipe,
             per_mode: Mapping[str, Mapping[str, Any]] | None = None) -> Preset:
        """``base`` for every mode, with ``per_mode``'s changes for the modes it names."""
        changes = per_mode or {}
        return cls(name, features, {mode: replace(base, features=mode, **changes.get(mode, {}))
                                    for mode in FEATURE_MODES})


# The default preset's changes for each feature mode, measured by benchmarks/feature_modes.py
# (docs/guide/features.md): landmarks need standardisation, a hidden layer and jittered
# copies of each hand (session split 80 -> 87%); fusion gains from one augmented view with the
# background replaced (unseen signers 91 -> 94%), crop does not (51 vs 53% / 81 vs 80%).
# Fine-tuning on hand crops (--finetune, on a GPU: docs/results/generalisation.md, "Fine-tuning
# the backbone on hand crops") learns faster than on whole images: the head at 1e-3 and the
# backbone at 0.3x of it for 12 epochs beat the whole-image setting (3e-4, 0.1x) on the crop
# head's validation split (53.7 vs 44.2%) and on the held-out source (69.6 vs 68.1%).
CROP_FINETUNING: dict[str, Any] = {"finetune_epochs": 12, "finetune_lr": 1e-3,
                                   "finetune_backbone_lr_scale": 0.3}
MODE_CHANGES: dict[str, dict[str, Any]] = {
    "crop": CROP_FINETUNING,
    "landmarks": {"normalize": True, "hidden": (256,), "dropout": (0.3,), "input_dropout": 0.0,
                  "epochs": 60, "augment_views": 4},
    "fusion": {"augment_views": 1, **CROP_FINETUNING},
}

PRESETS: dict[str, Preset] = {
    # Measured best: hand crop + landmarks, each mode's head as measured (MODE_CHANGES).
    "default": Preset.over("default", "fusion", Recipe(), MODE_CHANGES),
    # The tutorial: VGG16 frozen at 224x224, Flatten -> Dense 8192 -> Dropout 0.8 -> Dense 4096 ->
    # Dropout 0.5 -> softmax, plain SGD lr 0.001, batch 32, 15 epochs, inputs scaled to [0, 1].
    # Other feature modes keep this head and only change what it sees.
    "seed": Preset.over("seed", "image", Recipe(
        backbone="vgg16", hidden=(8192, 4096), dropout=(0.8, 0.5), input_dropout=0.0,
        optimizer="sgd", lr=1e-3, momentum=0.0, weight_decay=0.0, batch_size=32, epochs=15,
        schedule="constant", warmup_epochs=0.0, label_smoothing=0.0)),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise FingerspellError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def recipe_for_features(mode: str, preset: str = "default") -> Recipe:
    """The recipe ``preset`` trains feature ``mode`` with."""
    return get_preset(preset).recipe(mode)
