"""Honest train/validation splits.

Kaggle's frames are shot seconds apart: frame 120 and frame 125 are near-duplicates. A random
split puts one in training and its twin in validation, so validation measures memory, not
recognition. Here each class is cut into contiguous blocks of its frame index and whole blocks go
to validation, so validation frames come from other moments (and lighting) than training frames.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .layout import Sample

SPLIT_STRATEGIES = ("frame", "random")


@dataclass(frozen=True)
class Split:
    train: list[int]
    val: list[int]
    strategy: str


def split_samples(samples: list[Sample], *, val_fraction: float = 0.2, seed: int = 0,
                  strategy: str = "frame", n_blocks: int = 10) -> Split:
    """Split sample indices per class, reproducibly from ``seed``.

    Args:
        samples: labelled images.
        val_fraction: share of each class held out.
        seed: the same seed gives the same split.
        strategy: "frame" (contiguous blocks of the frame index; files without a number are
            ordered by name) or "random" (leaky, for comparison only).
        n_blocks: blocks per class for the "frame" strategy.

    Example:
        >>> from pathlib import Path
        >>> s = [Sample(Path(f"A{i}.jpg"), "A", i) for i in range(100)]
        >>> sp = split_samples(s, val_fraction=0.2, seed=0)
        >>> len(sp.val), len(sp.train)
        (20, 80)
    """
    if strategy not in SPLIT_STRATEGIES:
        raise ValueError(f"unknown split strategy {strategy!r}; choose from {SPLIT_STRATEGIES}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    by_class: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        by_class.setdefault(sample.label, []).append(index)

    train: list[int] = []
    val: list[int] = []
    for label, indices in sorted(by_class.items()):
        rng = np.random.default_rng([seed, zlib.crc32(label.encode())])
        if len(indices) < 2:
            train.extend(indices)
            continue
        if strategy == "random":
            order = rng.permutation(len(indices))
            n_val = max(1, round(len(indices) * val_fraction))
            val.extend(indices[i] for i in order[:n_val])
            train.extend(indices[i] for i in order[n_val:])
            continue
        ordered = sorted(indices, key=lambda i: (samples[i].frame is None, samples[i].frame or 0,
                                                 samples[i].path.name))
        blocks = np.array_split(np.asarray(ordered), min(n_blocks, len(ordered)))
        n_val_blocks = min(len(blocks) - 1, max(1, round(len(blocks) * val_fraction)))
        chosen = set(rng.choice(len(blocks), size=n_val_blocks, replace=False).tolist())
        for b, block in enumerate(blocks):
            (val if b in chosen else train).extend(block.tolist())
    return Split(sorted(train), sorted(val), strategy)
