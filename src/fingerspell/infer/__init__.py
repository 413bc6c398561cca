"""Inference: load a model bundle and predict letters."""

from .model import Model, Prediction

__all__ = ["Model", "Prediction"]
