"""Train: fit a head on cached backbone features, with checkpoints, resume and a report."""

from .trainer import TrainResult, resolve_config, train

__all__ = ["TrainResult", "resolve_config", "train"]
