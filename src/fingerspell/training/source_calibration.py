"""Answers about each data folder from heads fitted without it (``train --calibrate-on sources``).

A validation split holds out frames or people of the same sources, whose cameras and rooms the
heads did learn; a new user brings their own. With several data folders the trainer can instead
ask each folder's photos of heads fitted on the other folders only (leave one source out) and
fit the temperature on those answers. Measured on the shared sources it came out too soft
(heads fitted without a source are more wrong on it than the final model is on a new person):
held-out calibration error 0.132 against 0.098 for the validation split
(``benchmarks/generalisation.py --validation-temperature``), so it is an option, not the default.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..progress import bar
from .fitting import Examples, HeadFitter


def out_of_source_predictions(fitter: HeadFitter, examples: Examples, rows: list[int],
                              *, show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of every row in ``rows`` from heads fitted as ``fitter`` fits
    them on the rows of the other sources (``examples.sources``). Rows of letters no other
    source has, and rows a hand-only head cannot answer, are left out."""
    assert examples.sources is not None, "out-of-source predictions need the rows' sources"
    sources = examples.sources
    folds = sorted(set(sources[rows].tolist()))
    probs, labels = [], []
    with bar(desc="calibration (leave one source out)", total=len(folds), unit="fold",
             enabled=show_progress) as progress:
        for source in folds:
            train = [i for i in rows if sources[i] != source]
            known = set(examples.labels[train].tolist())
            test = [i for i in rows if sources[i] == source and examples.labels[i] in known
                    and (examples.found[i] or not fitter.mode.head_needs_hand)]
            if train and test:
                fold = replace(fitter, show_progress=False, callbacks=lambda _part: (),
                               reuse={})
                fold.fit(examples, train, [])
                probs.append(fold.predict_proba(examples.vectors[test]))
                labels.append(examples.labels[test])
            progress.update(1)
    if not labels:
        return np.zeros((0, fitter.n_classes), np.float32), np.zeros(0, np.int64)
    return np.concatenate(probs), np.concatenate(labels)
