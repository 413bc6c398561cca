"""What the head sees: ``image``, ``landmarks``, ``crop`` or ``fusion`` features of each image.

- ``image``: the backbone on the whole photo (learns the room as well as the hand);
- ``landmarks``: the signer-independent encoding of MediaPipe's 21 hand landmarks;
- ``crop``: the backbone on the square around the hand (left hands mirrored);
- ``fusion``: crop features, landmark features and a "hand found" flag side by side.

Every hand mode detects the hand once per image (cached). Where no hand is found the landmark
part is zero and the crop is the whole image, so ``crop`` and ``fusion`` fall back to
whole-image features by construction.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .cache import FeatureCache
from .crops import hand_crop
from .extract import Encoder, Features, HandCrops, extract_features
from .feature_mode import FeatureMode, get_mode
from .hand_detection import Detections, detect_hands, hand_cache_namespace
from .hands import Hand, HandSettings
from .landmarks import (
    LATEST_ENCODING,
    augment_landmarks,
    landmark_dim,
    landmark_features,
    view_handedness,
)

if TYPE_CHECKING:
    import torch


def landmark_matrix(hands: list[Hand | None], view: int = 0, names: list[str] | None = None,
                    encoding: int = LATEST_ENCODING) -> np.ndarray:
    """(N, landmark_dim(encoding)) landmark features; zero rows where there is no hand.
    ``view`` k >= 1 encodes the k-th augmented copy of each hand (seeded by the view and the
    file name; every other one as the other hand: ``view_handedness``)."""
    out = np.zeros((len(hands), landmark_dim(encoding)), np.float32)
    for row, hand in enumerate(hands):
        if hand is None:
            continue
        points = hand.shape_points() if encoding >= 2 else hand.landmarks
        if view:
            name = names[row] if names else str(row)
            points = augment_landmarks(points, np.random.default_rng([view, zlib.crc32(name.encode())]))
        out[row] = landmark_features(points, view_handedness(hand.handedness, view), encoding)
    return out


@dataclass
class ModeFeatures:
    """Features of one mode for a list of paths, with the hands found (None for ``image``)."""

    vectors: np.ndarray
    failed: dict[int, str] = field(default_factory=dict)
    hands: list[Hand | None] | None = None
    computed: int = 0
    seconds: float = 0.0

    @property
    def found(self) -> np.ndarray:
        if self.hands is None:
            return np.ones(len(self.vectors), dtype=bool)
        return np.asarray([h is not None for h in self.hands], dtype=bool)


def assemble(mode: str | FeatureMode, backbone: np.ndarray | None, hands: list[Hand | None],
             view: int = 0, names: list[str] | None = None) -> np.ndarray:
    """One mode's vectors from the backbone's features (of crops or whole images; None for
    ``landmarks``) and the hands: [backbone | landmark features | hand found]."""
    mode = get_mode(mode)
    parts = [] if backbone is None else [np.asarray(backbone, np.float32)]
    if mode.landmarks:  # (no photos: no rows, but the columns stay)
        parts.append(landmark_matrix(hands, view, names, mode.landmark_encoding) if hands
                     else np.zeros((0, mode.landmark_dim), np.float32))
    if mode.found_flag:
        parts.append(np.asarray([h is not None for h in hands], np.float32).reshape(-1, 1))
    return np.concatenate(parts, axis=1)


def image_vectors(mode: str | FeatureMode, encoder: Encoder, images: list[Image.Image],
                  hands: list[Hand | None], margin: float) -> np.ndarray:
    """The same features as ``FeaturePipeline.compute`` for decoded images in memory (frames of
    a stream, uploads): nothing is cached, nothing is read from disk."""
    mode = get_mode(mode)
    backbone = None
    if mode.uses_backbone:
        seen = [hand_crop(image, hand, margin) if mode.backbone_input == "crop" else image
                for image, hand in zip(images, hands, strict=True)]
        batch = np.stack([encoder.spec.preprocessing(image.convert("RGB")) for image in seen])
        backbone = encoder.encode(batch)
    return assemble(mode, backbone, hands)


class FeaturePipeline:
    """Computes one mode's features for image files, every stage read from and written to caches.

    Example:
        >>> pipeline = FeaturePipeline("fusion", encoder, hand_model=Path("hand.task"))  # doctest: +SKIP
        >>> pipeline.compute([Path("A1.jpg")]).vectors.shape                            # doctest: +SKIP
        (1, 1434)
    """

    def __init__(self, mode: str | FeatureMode, encoder: Encoder, *, hand_model: Path | None = None,
                 hand_settings: HandSettings | None = None, cache_root: Path | None = None,
                 workers: int | None = None, device: str | torch.device = "cpu",
                 show_progress: bool = True, use_cache: bool = True) -> None:
        self.mode = get_mode(mode)
        self.encoder = encoder
        self.hand_model = hand_model
        self.hand_settings = hand_settings or HandSettings()
        self.cache_root = cache_root
        self.workers = workers
        self.device = device
        self.show_progress = show_progress
        self.use_cache = use_cache

    def _cache(self, namespace: str) -> FeatureCache | None:
        return FeatureCache(self.cache_root, namespace) if self.use_cache else None

    def detect(self, paths: list[Path]) -> Detections:
        assert self.hand_model is not None, "hand modes need a hand model"
        cache = self._cache(hand_cache_namespace(self.hand_model, self.hand_settings))
        try:
            return detect_hands(paths, model=self.hand_model, settings=self.hand_settings,
                                cache=cache, workers=self.workers,
                                show_progress=self.show_progress)
        finally:
            if cache:
                cache.close()

    def image_features(self, paths: list[Path], *, view: int = 0,
                       crops: HandCrops | None = None) -> Features:
        cache = self._cache(self.encoder.cache_namespace)
        try:
            return extract_features(self.encoder, paths, cache=cache, workers=self.workers,
                                    device=self.device, show_progress=self.show_progress,
                                    view=view, crops=crops)
        finally:
            if cache:
                cache.close()

    def compute(self, paths: list[Path], view: int = 0) -> ModeFeatures:
        """Features of ``paths``; ``view`` k >= 1 is the k-th augmented copy (training only)."""
        started = time.perf_counter()
        if not self.mode.needs_hands:
            features = self.image_features(paths, view=view)
            return ModeFeatures(features.vectors, features.failed, None, features.computed,
                                time.perf_counter() - started)
        detections = self.detect(paths)
        hands = detections.hands
        failed = dict(detections.failed)
        computed = detections.computed
        backbone = None
        if self.mode.uses_backbone:
            crops = self.image_features(paths, view=view,
                                        crops=HandCrops(hands, self.hand_settings.margin))
            failed.update(crops.failed)
            computed = max(computed, crops.computed)  # images that needed any work
            backbone = crops.vectors
        vectors = assemble(self.mode, backbone, hands, view, [p.name for p in paths])
        return ModeFeatures(vectors, failed, hands, computed, time.perf_counter() - started)
