"""Adapt a model to one person from a few labelled photos, without the base model's data.

The head is fine-tuned from the base weights on the person's examples with a pull towards the
base weights (an L2 penalty on the change, "L2-SP"; Li et al., 2018): the letters the person
showed move towards their way of signing, the others keep the base model's behaviour, and
nothing else of the bundle changes (backbone, hand model, calibration). Features are computed
once; the head trains in well under a second on a CPU.

How far the head may move depends on how many of the model's letters the examples cover
(``coverage``, 0-1). Examples of a few letters only (Teach's usual case: the letters the model
got wrong) say nothing about the person's other letters, and a head pulled weakly learns "this
person's hand is T" (with a fixed pull, one photo per wrong letter took asl_hg's people from 92
to 71%), so the pull grows as ``pull / coverage**coverage_power``. And a fusion's landmark
weight was chosen for people the model never saw, where the crop head (how the hand *looks*:
skin, camera, room) carries over worst; once it has seen this person's letters it earns a larger
share, so the weight moves towards ``landmark_weight`` in proportion to the coverage. Both were
chosen in benchmarks/adaptation.py on one source (mon95) and reported on the others
(docs/adapt.md).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import FingerspellError
from ..head.heads import LateFusionHead
from ..infer.model import Model
from ..threads import head_work

MAX_ADAPT_IMAGES = 2000  # a person's examples: a few per letter; more is another training run


@dataclass(frozen=True)
class AdaptSettings:
    """How the head moves. Chosen on benchmarks/adaptation.py's selection people (see README)."""

    steps: int = 300
    lr: float = 0.01
    pull: float = 0.02  # weight of the summed squared change from the base weights ...
    coverage_power: float = 2.0  # ... divided by coverage**coverage_power (0: a fixed pull)
    landmark_weight: float | None = 0.5  # a fusion's landmark weight with every letter shown
    seed: int = 0


@dataclass
class AdaptResult:
    model: Model
    examples: dict[str, int]  # per letter, the photos that had usable features
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def adapt_head(head: torch.nn.Module, vectors: np.ndarray, labels: np.ndarray,
               settings: AdaptSettings) -> torch.nn.Module:
    """A copy of ``head`` fine-tuned on ``vectors`` (full batch, AdamW), pulled to the original.

    Example:
        >>> from fingerspell.head.heads import HeadConfig, MLPHead
        >>> base = MLPHead(HeadConfig(in_dim=4, n_classes=3))
        >>> x = np.eye(4, dtype=np.float32)[:3]; y = np.array([2, 2, 2])
        >>> adapted = adapt_head(base, x, y, AdaptSettings())
        >>> adapted(torch.from_numpy(x)).argmax(1).tolist()
        [2, 2, 2]
    """
    if len(labels) == 0:  # nothing to learn from, and no coverage to scale the pull by
        raise FingerspellError("adapt: no examples to adapt the head with")
    with head_work(head):  # a head and a few dozen examples: one thread (threads.py)
        return _adapt_head(head, vectors, labels, settings)


def coverage(head: torch.nn.Module, labels: np.ndarray) -> float:
    """The share of the head's classes that ``labels`` show (0-1)."""
    n_classes = head.crop.config.n_classes if isinstance(head, LateFusionHead) \
        else head.config.n_classes
    return len(set(np.asarray(labels).tolist())) / n_classes


def _adapt_head(head: torch.nn.Module, vectors: np.ndarray, labels: np.ndarray,
                settings: AdaptSettings) -> torch.nn.Module:
    torch.manual_seed(settings.seed)
    covered = coverage(head, labels)
    pull = settings.pull / covered ** settings.coverage_power  # few letters: held closer
    adapted = copy.deepcopy(head).train()
    for module in adapted.modules():  # the examples are few: no dropout, no batch statistics
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    base = {name: p.detach().clone() for name, p in adapted.named_parameters()}
    params = list(adapted.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    x = torch.from_numpy(np.asarray(vectors, np.float32))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    for _ in range(settings.steps):
        optimizer.zero_grad()
        out = adapted(x)
        # LateFusionHead returns log-probabilities, MLPHead logits: both suit cross-entropy
        loss = torch.nn.functional.cross_entropy(out, y)
        change = sum(((p - base[n]) ** 2).sum() for n, p in adapted.named_parameters())
        (loss + pull * change).backward()
        optimizer.step()
    target = settings.landmark_weight
    if isinstance(adapted, LateFusionHead) and target is not None \
            and adapted.landmark_weight > target:
        adapted.landmark_weight += (target - adapted.landmark_weight) * covered
    return adapted.eval()


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
    features = model.features(list(paths), show_progress=show_progress)
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
    adapted = Model(model.backbone, head, model.classes, info={
        **copy.deepcopy(model.info),
        "adapted": {"base": base_name, "examples": dict(sorted(counts.items())),
                    "coverage": round(coverage(model.head, y), 4),
                    "method": "head fine-tuned from the base weights with an L2 pull",
                    "settings": settings.__dict__}},
        features=model.mode, hand_settings=model.hand_settings, hand_model=model.hand_model,
        fallback_head=model.fallback_head)
    adapted.to(model.device)
    adapted.encoder = model.encoder
    return AdaptResult(adapted, dict(sorted(counts.items())), skipped,
                       time.perf_counter() - started)


def adapt_folder(model_name: str | Path, data_dir: str | Path, out: str | Path | None = None,
                 settings: AdaptSettings | None = None, *, show_progress: bool = True,
                 device: str = "cpu") -> tuple[AdaptResult, Path]:
    """``fingerspell adapt``: the labelled photos in ``data_dir`` (any accepted layout) adapt
    ``model_name`` (a folder or a built-in name); the bundle goes to ``out/model`` (default: a
    new numbered ``runs/adapt``). ``out`` must be new or empty: nothing is overwritten."""
    from ..data.layout import discover
    from ..infer.builtin import is_builtin, resolve_model
    from ..paths import RUNS, numbered_dir

    source = resolve_model(model_name)
    model = Model.load(source, device=device)
    images = discover(data_dir, min_classes=1)
    out = Path(out) if out is not None else numbered_dir(RUNS / "adapt")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FingerspellError(f"{out}: already exists and is not empty; adapt --out needs a new "
                               f"folder")
    base = str(model_name) if is_builtin(source) else str(source.resolve())
    result = adapt(model, [s.path for s in images.samples], [s.label for s in images.samples],
                   settings, base_name=base, show_progress=show_progress)
    # as small as its base when the backbone is the packaged one
    result.model.save(out / "model", store_backbone=None)
    return result, out
