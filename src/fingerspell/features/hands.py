"""Hand detection and 21 3-D landmarks with MediaPipe Tasks, and a signer-independent encoding.

Groundwork for issue 4 (``--features landmarks|crop|fusion``): detection and the landmark
representation are here and tested; training on them is not wired in yet.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .._atomic import write_atomic
from ..errors import FingerspellError

HAND_MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/hand_landmarker/"
                  "hand_landmarker/float16/latest/hand_landmarker.task")
HAND_MODEL_ENV = "FINGERSPELL_HAND_MODEL"

WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17
FINGERTIPS = (4, 8, 12, 16, 20)


def resolve_hand_model(explicit: str | Path | None = None, cache_root: Path | None = None) -> Path:
    """The hand-landmarker bundle: ``explicit`` file, ``$FINGERSPELL_HAND_MODEL``, the user cache,
    else a download from MediaPipe's model URL into the cache."""
    for candidate in (explicit, os.environ.get(HAND_MODEL_ENV)):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise FingerspellError(f"{path}: hand model file does not exist")
            return path
    from .cache import default_cache_dir
    cached = (cache_root or default_cache_dir()) / "models" / "hand_landmarker.task"
    if cached.is_file():
        return cached
    try:
        write_atomic(cached, lambda tmp: urllib.request.urlretrieve(HAND_MODEL_URL, tmp))
    except OSError as exc:
        raise FingerspellError(f"the MediaPipe hand model could not be downloaded ({exc}); "
                               f"offline? pass --hand-model FILE (hand_landmarker.task)") from None
    return cached


@dataclass(frozen=True)
class Hand:
    """One detected hand: image-normalised landmarks (x, y in [0, 1], z relative depth)."""

    landmarks: np.ndarray  # (21, 3)
    handedness: str  # "Left" or "Right" as MediaPipe reports it
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in normalised image coordinates."""
        x, y = self.landmarks[:, 0], self.landmarks[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())


class HandDetector:
    """MediaPipe's HandLandmarker in image mode.

    Example:
        >>> with HandDetector("hand_landmarker.task") as detector:   # doctest: +SKIP
        ...     hands = detector.detect(Image.open("A1.jpg"))
    """

    def __init__(self, model: str | Path, *, max_hands: int = 2, min_confidence: float = 0.5) -> None:
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError:
            raise FingerspellError("hand landmarks need MediaPipe: "
                                   "pip install 'fingerspell[hands]'") from None
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)), num_hands=max_hands,
            min_hand_detection_confidence=min_confidence, running_mode=vision.RunningMode.IMAGE)
        try:
            self._landmarker = vision.HandLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise FingerspellError(f"{model}: not a MediaPipe hand-landmarker bundle "
                                   f"({' '.join(str(exc).split())[:150]})") from None

    def detect(self, image: Image.Image) -> list[Hand]:
        import mediapipe as mp
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
        hands = []
        for points, labels in zip(result.hand_landmarks, result.handedness, strict=True):
            array = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32)
            hands.append(Hand(array, labels[0].category_name, float(labels[0].score)))
        return hands

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def normalize_landmarks(points: np.ndarray, handedness: str = "Right") -> np.ndarray:
    """Landmarks in a frame of the hand itself: invariant to position, scale, in-plane rotation
    and handedness.

    The wrist goes to the origin, left hands are mirrored onto right ones, the hand is rotated
    in the image plane so that the wrist -> middle-finger knuckle direction points up, and
    everything is divided by the palm size (wrist to middle knuckle). Returns (21, 3).

    Example:
        >>> pts = np.random.default_rng(0).random((21, 3))
        >>> np.allclose(normalize_landmarks(pts), normalize_landmarks(pts * 3 + 1))
        True
    """
    points = np.asarray(points, dtype=np.float64).copy()
    if points.shape != (21, 3):
        raise ValueError(f"expected 21 landmarks of (x, y, z), got shape {points.shape}")
    points -= points[WRIST]
    if handedness.lower().startswith("left"):
        points[:, 0] = -points[:, 0]
    up = points[MIDDLE_MCP, :2]
    angle = -np.arctan2(up[0], -up[1])  # image y grows downwards: "up" is (0, -1)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    points[:, :2] = points[:, :2] @ rotation.T
    palm = np.linalg.norm(points[MIDDLE_MCP])
    return (points / max(palm, 1e-6)).astype(np.float32)


def landmark_features(points: np.ndarray, handedness: str = "Right") -> np.ndarray:
    """The normalised coordinates plus all pairwise distances between wrist and fingertips
    (proportion-free cues for confusable letters such as M/N/S/T)."""
    normalized = normalize_landmarks(points, handedness)
    keys = normalized[[WRIST, *FINGERTIPS]]
    distances = np.linalg.norm(keys[:, None] - keys[None], axis=-1)[np.triu_indices(len(keys), 1)]
    return np.concatenate([normalized.ravel(), distances]).astype(np.float32)
