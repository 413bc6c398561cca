"""How much the fusion trusts its landmark head, chosen on answers about unseen sources.

The fusion averages a crop head's and a landmark head's probabilities. Which weight is best
depends on who is asked: on the shared sources held out one at a time, tight hand crops
(mon95) and tiny photos (multi_signer) preferred 0.5, while webcam frames, a Kinect and the
Kaggle room preferred 0.7 (the crop head learns the training sources' backgrounds; the landmarks
do not see them), and the shared letter videos 1.0. So with several data folders the trainer
picks the weight the way a new user's camera would judge it: each folder is answered by heads
fitted without it (``source_calibration.out_of_source_folds``), and the weight with the best mean
accuracy over the folders wins. One folder keeps ``DEFAULT``.
"""

from __future__ import annotations

import numpy as np

from .fitting import Examples
from .source_calibration import SourceFold

DEFAULT = 0.5
CANDIDATES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def choose_landmark_weight(folds: list[SourceFold], examples: Examples,
                           candidates: tuple[float, ...] = CANDIDATES) -> tuple[float, dict]:
    """The candidate with the best mean per-source accuracy on the folds' answers (every
    source counts the same, whatever its size; a tie keeps the smaller weight), and each
    candidate's score."""
    if not folds or any(fold.fusion_parts is None for fold in folds):
        raise ValueError("the landmark weight is chosen on a fusion's answers")
    scores = {}
    for weight in candidates:
        accuracy = [float((fold.answers(weight).argmax(1) == examples.labels[fold.rows]).mean())
                    for fold in folds]
        scores[weight] = round(float(np.mean(accuracy)), 4)
    best = max(candidates, key=lambda w: (scores[w], -w))
    return best, {str(w): s for w, s in scores.items()}
