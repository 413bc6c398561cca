"""Adapt a model to one person from a few labelled photos, without the base model's data:
``Model.adapt``, ``fingerspell adapt`` and the server's Teach mode all come here.

The photos' features are computed once with the model's own pipeline, the head is adapted
(``head/adaptation.py``: how, and how it was chosen), and a new model is built around it; nothing
else of the bundle changes (backbone, hand model, calibration).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FingerspellError
from ..head.adaptation import AdaptSettings, adapt_head, coverage
from .adapter import ADAPTER_SUFFIX, head_digest

if TYPE_CHECKING:  # a Model is given, never imported at run time: model.py imports this module
    from .model import Model

METHOD = "head fine-tuned from the base weights with an L2 pull"  # also the page's (web/adapt.js)
MAX_ADAPT_IMAGES = 2000  # a person's examples: a few per letter; more is another training run


@dataclass
class AdaptResult:
    model: Model
    examples: dict[str, int]  # per letter, the photos that had usable features
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def adapt(model: Model, paths: list[Path], labels: list[str],
          settings: AdaptSettings | None = None, *, base_name: str | None = None,
          show_progress: bool = False) -> AdaptResult:
    """``model`` adapted to the person in ``paths`` (labels: class names the model knows; some
    letters only is fine). Photos without usable features (unreadable; no hand for a landmarks
    model) are skipped and reported."""
    settings = settings or AdaptSettings()
    started = time.perf_counter()
    if not paths:
        raise FingerspellError("adapt: no example photos given")
    if len(paths) > MAX_ADAPT_IMAGES:
        raise FingerspellError(f"adapt: {len(paths)} photos is more than adapting takes "
                               f"({MAX_ADAPT_IMAGES}); train a model on them instead")
    by_lower = {name.lower(): i for i, name in enumerate(model.classes)}
    unknown = sorted({label for label in labels if label.lower() not in by_lower})
    if unknown:
        raise FingerspellError(f"adapt: classes not known to the model: {', '.join(unknown)} "
                               f"(model classes: {', '.join(model.classes)})")
    features = model.feature_vectors(list(paths), show_progress=show_progress)
    usable = [i for i in range(len(paths)) if i not in features.failed
              and (features.found[i] or not model.mode.head_needs_hand)]
    kept = set(usable)
    skipped = {str(paths[i]): features.failed.get(i, "no hand found") for i in range(len(paths))
               if i not in kept}
    if not usable:
        first, reason = next(iter(skipped.items()))
        raise FingerspellError(f"adapt: none of the {len(paths)} example photos could be used "
                               f"(the first: {first}: {reason})")
    y = np.asarray([by_lower[labels[i].lower()] for i in usable])
    head = adapt_head(model.head, features.vectors[usable], y, settings)
    counts = Counter(model.classes[c] for c in y.tolist())
    adapted = model.with_head(head, adapted={
        "base": base_name, "base_head": head_digest(model.head),
        "examples": dict(sorted(counts.items())), "coverage": round(coverage(model.head, y), 4),
        "method": METHOD, "settings": settings.__dict__})
    return AdaptResult(adapted, dict(sorted(counts.items())), skipped,
                       time.perf_counter() - started)


def adapt_folder(model: Model, base_name: str, data_dir: str | Path,
                 out: str | Path | None = None, settings: AdaptSettings | None = None, *,
                 show_progress: bool = True) -> tuple[AdaptResult, Path]:
    """``fingerspell adapt``: the labelled photos in ``data_dir`` (any accepted layout) adapt
    ``model`` (``base_name``: what the bundle records as its base, a built-in name or a folder);
    the bundle goes to ``out/model`` and its head, as an adapter file for the on-device page,
    to ``out/adapter.fsadapter`` (``out`` default: a new numbered ``runs/adapt``). ``out`` must
    be new or empty: nothing is overwritten."""
    from ..data.layout import discover
    from ..paths import RUNS, numbered_dir

    images = discover(data_dir, min_classes=1)
    out = Path(out) if out is not None else numbered_dir(RUNS / "adapt")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FingerspellError(f"{out}: already exists and is not empty; adapt --out needs a new "
                               f"folder")
    result = adapt(model, [s.path for s in images.samples], [s.label for s in images.samples],
                   settings, base_name=base_name, show_progress=show_progress)
    # as small as its base when the backbone is the packaged one
    result.model.save(out / "model", store_backbone=None)
    # the same head as one file, for the on-device page's Import (and --adapter)
    result.model.save_adapter(out / f"adapter{ADAPTER_SUFFIX}")
    return result, out
