"""Training: fit a head on cached features, with checkpoints, resume and a report."""

from .options import TrainOptions
from .trainer import TrainResult, resolve_config, train

__all__ = ["TrainOptions", "TrainResult", "resolve_config", "train"]
