"""Feature extraction for a training run or a search: every mode through the caches, augmented
views on demand, shared out among torchrun ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..features.extract import Encoder
from ..features.feature_mode import FeatureMode
from ..features.hands import Hand, HandSettings
from ..features.modes import FeaturePipeline, ModeFeatures
from .distributed import Dist
from .fitting import ViewSource


class RunFeatures:
    """This run's feature extraction: every mode through the caches and, under torchrun, shared
    out among the ranks: each computes its share through its own cache, then the shares travel
    over the process group, so ranks on several machines may each keep a cache on local disk
    (no SQLite file is shared between machines)."""

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

    def __call__(self, mode: FeatureMode, files: list[Path], view: int = 0,
                 photo_index: list[int] | None = None) -> ModeFeatures:
        """``mode``'s features of ``files`` (view ``view``). Under torchrun each rank computes
        the files whose ``photo_index`` (their place in the run's photos; default: their place
        here) falls to it, so a photo's augmented views go to the rank that already detected
        its hand."""
        if not self.dist.active:
            return self._pipeline(mode, self.show_progress).compute(files, view)
        dist = self.dist
        index = photo_index if photo_index is not None else list(range(len(files)))
        rows = [[i for i in range(len(files)) if index[i] % dist.world == rank]
                for rank in range(dist.world)]
        share = self._pipeline(mode, self.show_progress).compute(
            [files[i] for i in rows[dist.rank]], view)
        shares: list[ModeFeatures | None] = [None] * dist.world
        torch.distributed.all_gather_object(shares, share)
        return interleave([s for s in shares if s is not None], rows, len(files))

    def views(self, paths: list[Path]) -> ViewSource:
        """``Examples.views`` for the photos ``paths``: view k of some rows, in any mode."""
        def view(mode: FeatureMode, k: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
            features = self(mode, [paths[i] for i in rows], k, photo_index=rows)
            keep = [j for j in range(len(rows)) if j not in features.failed]
            return features.vectors[keep], [rows[j] for j in keep]
        return view


def interleave(shares: list[ModeFeatures], rows: list[list[int]], n: int) -> ModeFeatures:
    """The features of ``n`` files from the ranks' shares (rank r computed the files
    ``rows[r]``): vectors and hands back in file order, failures renumbered, the images
    computed summed and the slowest rank's time."""
    dim = next((s.vectors.shape[1] for s in shares if s.vectors.ndim == 2 and len(s.vectors)),
               0)
    dtype = next((s.vectors.dtype for s in shares if len(s.vectors)), np.float16)
    vectors = np.zeros((n, dim), dtype=dtype)
    hands: list[Hand | None] | None = None if shares[0].hands is None else [None] * n
    failed: dict[int, str] = {}
    for share, mine in zip(shares, rows, strict=True):
        if len(share.vectors):
            vectors[mine] = share.vectors
        if hands is not None and share.hands is not None:
            for row, hand in zip(mine, share.hands, strict=True):
                hands[row] = hand
        failed.update({mine[i]: reason for i, reason in share.failed.items()})
    return ModeFeatures(vectors, dict(sorted(failed.items())), hands,
                        computed=sum(s.computed for s in shares),
                        seconds=max(s.seconds for s in shares))
