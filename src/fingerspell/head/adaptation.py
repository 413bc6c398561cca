"""Adapting a trained head to one person's examples: the maths, on feature vectors.

The head is fine-tuned from the base weights on the person's examples with a pull towards the
base weights (an L2 penalty on the change, "L2-SP"; Li et al., 2018): the letters the person
showed move towards their way of signing, the others keep the base model's behaviour. The head
trains in well under a second on a CPU.

How far the head may move depends on how many of the model's letters the examples cover
(``coverage``, 0-1). Examples of a few letters only (Teach's usual case: the letters the model
got wrong) say nothing about the person's other letters, and a head pulled weakly learns "this
person's hand is T" (with a fixed pull, one photo per wrong letter took asl_hg's people from 92
to 71%), so the pull grows as ``pull / coverage**coverage_power``. And a fusion's landmark
weight was chosen for people the model never saw, where the crop head (how the hand *looks*:
skin, camera, room) carries over worst; once it has seen this person's letters it earns a larger
share, so the weight moves towards ``landmark_weight`` in proportion to the coverage. Both were
chosen in benchmarks/adaptation.py on one source (mon95) and reported on the others
(docs/guide/adapt.md). ``infer/adapt.py`` turns photos into the examples and a new model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import FingerspellError
from ..threads import head_work
from .heads import LateFusionHead


@dataclass(frozen=True)
class AdaptSettings:
    """How the head moves. Chosen on benchmarks/adaptation.py's selection people (docs/guide/adapt.md)."""

    steps: int = 300
    lr: float = 0.01
    pull: float = 0.02  # weight of the summed squared change from the base weights ...
    coverage_power: float = 2.0  # ... divided by coverage**coverage_power (0: a fixed pull)
    landmark_weight: float | None = 0.5  # a fusion's landmark weight with every letter shown
    seed: int = 0


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
    n_classes = head.config.n_classes
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
