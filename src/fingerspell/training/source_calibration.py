"""Answers about each data folder from heads fitted without it (leave one source out).

A validation split holds out frames or people of the same sources, whose cameras and rooms the
heads did learn; a new user brings their own. With several data folders the trainer can instead
ask each folder's photos of heads fitted on the other folders only. Two things use those answers,
both by default with several folders: the fusion's landmark weight (``fusion_weight.py``) and the
temperature (``train --calibrate-on sources``). With the landmark weight chosen this way, a
temperature fitted on them gave a lower calibration error on held-out sources than one fitted on
the validation split (mean 0.070 against 0.097 over the five shared sources,
``benchmarks/generalisation.py --validation-temperature``; docs/results/calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ..head.heads import LateFusionHead
from ..progress import bar
from .fitting import Examples, HeadFitter


@dataclass
class SourceFold:
    """One source's rows and what heads fitted without that source answered about them:
    ``probs``, and for a late fusion its ``fusion_parts`` (crop and landmark probabilities,
    hand found) so that other landmark weights can be tried without the heads."""

    source: int
    rows: list[int]
    probs: np.ndarray
    fusion_parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def answers(self, landmark_weight: float | None = None) -> np.ndarray:
        """Class probabilities; a fusion's mixed at ``landmark_weight`` when one is given."""
        if landmark_weight is None or self.fusion_parts is None:
            return self.probs
        return LateFusionHead.mix(*self.fusion_parts, landmark_weight).exp().numpy()


def out_of_source_folds(fitter: HeadFitter, examples: Examples, rows: list[int],
                        *, show_progress: bool = True) -> list[SourceFold]:
    """For each source among ``rows`` (``examples.sources``), the answers of heads fitted as
    ``fitter`` fits them on the rows of the other sources (the heads themselves are not kept:
    the tutorial's is 1 GB). Rows of letters no other source has, and rows a hand-only head
    cannot answer, are left out of the fold's ``rows``."""
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
                head = fold.fit(examples, train, []).head
                folds.append(SourceFold(source, test, fold.predict_proba(examples.vectors[test]),
                                        _fusion_parts(head, examples.vectors[test])))
            progress.update(1)
    return folds


@torch.inference_mode()
def _fusion_parts(head: nn.Module, vectors: np.ndarray) -> tuple | None:
    if not isinstance(head, LateFusionHead):
        return None
    device = next(head.parameters()).device
    parts = head.eval().parts(torch.from_numpy(np.asarray(vectors, np.float32)).to(device))
    return tuple(part.cpu() for part in parts)


def fold_answers(folds: list[SourceFold], examples: Examples,
                 landmark_weight: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of every fold's rows (``folds`` not empty); a fusion's mixed at
    ``landmark_weight`` when one is given."""
    return (np.concatenate([fold.answers(landmark_weight) for fold in folds]),
            np.concatenate([examples.labels[fold.rows] for fold in folds]))
