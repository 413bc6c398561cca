"""Figures without pyplot: every PNG fingerspell draws (training curves, confusion matrix, inspect)
is made here, so plotting never switches the backend of a user's session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ._atomic import write_atomic


def subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: a figure drawn by the Agg canvas, so that plotting
    never switches the backend of a user's session (a notebook keeps its own)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*args, **kwargs)


def save_png(fig: Figure, path: Path) -> Path:
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    return path
