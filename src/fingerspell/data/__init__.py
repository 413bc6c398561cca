"""Data: find labelled images in a folder, decode them safely, split them honestly."""

from .images import load_rgb
from .layout import ImageSet, Sample, discover
from .split import Split, split_samples

__all__ = ["ImageSet", "Sample", "Split", "discover", "load_rgb", "split_samples"]
