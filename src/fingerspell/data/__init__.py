"""Data: find labelled images in a folder, decode them safely, split them honestly."""

from .images import load_rgb
from .layout import ImageSet, Sample, discover
from .merge import discover_many, source_balanced_weights
from .split import Split, split_samples

__all__ = ["ImageSet", "Sample", "Split", "discover", "discover_many", "load_rgb",
           "source_balanced_weights", "split_samples"]
