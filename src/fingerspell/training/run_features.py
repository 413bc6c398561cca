"""Feature extraction for a training run or a search: every mode through the caches, augmented
views on demand, shared out among torchrun ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..features.extract import Encoder
from ..features.feature_mode import FeatureMode
from ..features.hands import HandSettings
from ..features.modes import FeaturePipeline, ModeFeatures
from .distributed import Dist
from .fitting import ViewSource


class RunFeatures:
    """This run's feature extraction: every mode through the caches and, under torchrun, shared
    out among the ranks (each fills the caches with its share, then every rank reads it all)."""

    def __init__(self, encoder: Encoder, *, hand_model: Path | None, hand_settings: HandSettings,
                 cache_dir: Path | None, workers: int | None = None,
                 device: torch.device | str = "cpu", dist: Dist | None = None,
                 show_progress: bool = True) -> None:
        self.encoder, self.hand_model, self.hand_settings = encoder, hand_model, hand_settings
        self.cache_dir, self.workers, self.device = cache_dir, workers, device
        self.dist, self.show_progress = dist or Dist(), show_progress

    def _pipeline(self, mode: FeatureMode, progress: bool) -> FeaturePipeline:
        return FeaturePipeline(mode, self.encoder, hand_model=self.hand_model,
                               hand_settings=self.hand_settings, cache_root=self.cache_dir,
                               workers=self.workers, device=self.device, show_progress=progress)

    def __call__(self, mode: FeatureMode, files: list[Path], view: int = 0) -> ModeFeatures:
        if not self.dist.active:
            return self._pipeline(mode, self.show_progress).compute(files, view)
        dist = self.dist
        share = self._pipeline(mode, self.show_progress).compute(files[dist.rank::dist.world], view)
        computed = torch.tensor([share.computed], dtype=torch.int64)
        seconds = torch.tensor([share.seconds], dtype=torch.float64)
        torch.distributed.all_reduce(computed)  # images extracted by all ranks together
        torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
        result = self._pipeline(mode, False).compute(files, view)
        result.computed, result.seconds = int(computed), float(seconds) + result.seconds
        return result

    def views(self, paths: list[Path]) -> ViewSource:
        """``Examples.views`` for the photos ``paths``: view k of some rows, in any mode."""
        def view(mode: FeatureMode, k: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
            features = self(mode, [paths[i] for i in rows], k)
            keep = [j for j in range(len(rows)) if j not in features.failed]
            return features.vectors[keep], [rows[j] for j in keep]
        return view
