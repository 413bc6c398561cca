"""Head: the small classifier trained on cached features, and the recipes that train it."""

from .heads import FusionConfig, HeadConfig, LateFusionHead, MLPHead
from .recipes import PRESETS, Preset, Recipe, get_preset

__all__ = ["PRESETS", "FusionConfig", "HeadConfig", "LateFusionHead", "MLPHead", "Preset", "Recipe",
           "get_preset"]
