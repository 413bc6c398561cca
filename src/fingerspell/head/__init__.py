"""Head: the small classifier trained on cached features, and the recipes that train it."""

from .heads import HeadConfig, MLPHead
from .recipes import PRESETS, Recipe, get_preset

__all__ = ["PRESETS", "HeadConfig", "MLPHead", "Recipe", "get_preset"]
