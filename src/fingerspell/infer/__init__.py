"""Inference: load a model bundle and predict letters."""

from .model import Model
from .prediction import Prediction, Predictions

__all__ = ["Model", "Prediction", "Predictions"]
