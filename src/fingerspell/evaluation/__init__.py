"""Evaluate: metrics, plots and the evaluation command."""

from .metrics import classification_report, confusion_matrix, format_table
from .run import EvalResult, evaluate_model

__all__ = ["EvalResult", "classification_report", "confusion_matrix", "evaluate_model", "format_table"]
