"""Answers about each data folder from heads fitted without it (leave one source out).

A validation split holds out frames or people of the same sources, whose cameras and rooms the
heads did learn; a new user brings their own. With several data folders the trainer can instead
ask each folder's photos of heads fitted on the other folders only. Two things use those answers:
the fusion's landmark weight (``fusion_weight.py``, the default with several folders) and, with
``train --calibrate-on sources``, the temperature. For the temperature they measured worse on
the shared sources (heads fitted without a source are more wrong on it than the final model is
on a new person): held-out calibration error 0.132 against 0.098 for the validation split
(``benchmarks/generalisation.py --validation-temperature``), so that is an option, not the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from ..progress import bar
from .fitting import Examples, HeadFitter


@dataclass
class SourceFold:
    """Heads fitted without one source (``head``), and that source's rows they can answer."""

    source: int
    rows: list[int]
    head: nn.Module


def out_of_source_folds(fitter: HeadFitter, examples: Examples, rows: list[int],
                        *, show_progress: bool = True) -> list[SourceFold]:
    """For each source among ``rows`` (``examples.sources``), heads fitted as ``fitter`` fits
    them on the rows of the other sources. Rows of letters no other source has, and rows a
    hand-only head cannot answer, are left out of the fold's ``rows``."""
    assert examples.sources is not None, "out-of-source answers need the rows' sources"
    sources = examples.sources
    folds = []
    with bar(desc="leave one source out", total=len(set(sources[rows].tolist())), unit="fold",
             enabled=show_progress) as progress:
        for source in sorted(set(sources[rows].tolist())):
            train = [i for i in rows if sources[i] != source]
            known = set(examples.labels[train].tolist())
            test = [i for i in rows if sources[i] == source and examples.labels[i] in known
                    and (examples.found[i] or not fitter.mode.head_needs_hand)]
            if train and test:
                fold = replace(fitter, show_progress=False, callbacks=lambda _part: (),
                               reuse={})
                folds.append(SourceFold(source, test, fold.fit(examples, train, []).head))
            progress.update(1)
    return folds


def fold_answers(folds: list[SourceFold], examples: Examples) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of every fold's rows from its heads, as they are set now."""
    if not folds:
        return np.zeros((0, len(np.unique(examples.labels))), np.float32), np.zeros(0, np.int64)
    probs = [HeadFitter.answer(fold.head, examples.vectors[fold.rows]) for fold in folds]
    return np.concatenate(probs), np.concatenate([examples.labels[f.rows] for f in folds])
