"""Honest train/validation splits.

Kaggle's frames are shot seconds apart: frame 120 and frame 125 are near-duplicates. A random
split puts one in training and its twin in validation, so validation measures memory, not
recognition. Here each class is cut into contiguous blocks of its frame index and whole blocks go
to validation, so validation frames come from other moments (and lighting) than training frames.
Where file names say who signed (``<signer>_<CLASS>_<n>.jpg``), whole signers are held out:
validation then measures what users meet, a person the model has never seen.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..choices import SPLIT_STRATEGIES
from .layout import Sample

MIN_SIGNERS = 3  # a data folder with fewer named signers is split by frame


@dataclass(frozen=True)
class Split:
    train: list[int]
    val: list[int]
    strategy: str


def split_samples(samples: list[Sample], *, val_fraction: float = 0.2, seed: int = 0,
                  strategy: str = "auto", n_blocks: int = 10) -> Split:
    """Split sample indices reproducibly from ``seed``, each data folder (``Sample.source``) on
    its own.

    Args:
        samples: labelled images.
        val_fraction: share held out (of each class, or of the signers).
        seed: the same seed gives the same split.
        strategy: "signer" (whole signers held out in folders whose names say who signed;
            other folders by frame), "frame" (per class, contiguous blocks of the frame index;
            files without a number are ordered by name), "random" (leaky, for comparison
            only), or "auto" (signer where names say who signed, else frame).
        n_blocks: blocks per class for the "frame" strategy.

    Example:
        >>> from pathlib import Path
        >>> s = [Sample(Path(f"A{i}.jpg"), "A", i) for i in range(100)]
        >>> sp = split_samples(s, val_fraction=0.2, seed=0)
        >>> len(sp.val), len(sp.train), sp.strategy
        (20, 80, 'frame')
    """
    if strategy not in SPLIT_STRATEGIES:
        raise ValueError(f"unknown split strategy {strategy!r}; choose from {SPLIT_STRATEGIES}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    by_source: dict[int, list[int]] = {}
    for index, sample in enumerate(samples):
        by_source.setdefault(sample.source, []).append(index)
    train: list[int] = []
    val: list[int] = []
    used = []
    for source, indices in sorted(by_source.items()):
        signers = {samples[i].signer for i in indices} - {None}
        chosen = strategy
        if strategy in ("auto", "signer"):
            chosen = "signer" if len(signers) >= MIN_SIGNERS else "frame"
        if chosen == "signer":
            part = _by_signer(samples, indices, val_fraction, [seed, source])
        else:
            part = _per_class(samples, indices, val_fraction, seed, chosen, n_blocks)
        train += part[0]
        val += part[1]
        used.append(chosen)
    return Split(sorted(train), sorted(val), "+".join(dict.fromkeys(used)))


def _by_signer(samples: list[Sample], indices: list[int], val_fraction: float,
               seed: list[int]) -> tuple[list[int], list[int]]:
    signers = sorted({samples[i].signer for i in indices if samples[i].signer is not None})
    rng = np.random.default_rng(seed)
    n_val = min(len(signers) - 1, max(1, round(len(signers) * val_fraction)))
    held_out = set(rng.choice(signers, size=n_val, replace=False).tolist())
    # unnamed files in a signer folder cannot be placed by person: they train
    val = [i for i in indices if samples[i].signer in held_out]
    return [i for i in indices if samples[i].signer not in held_out], val


def _per_class(samples: list[Sample], indices_in: list[int], val_fraction: float, seed: int,
               strategy: str, n_blocks: int) -> tuple[list[int], list[int]]:
    by_class: dict[str, list[int]] = {}
    for index in indices_in:
        by_class.setdefault(samples[index].label, []).append(index)
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
    return train, val
