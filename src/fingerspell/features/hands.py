"""Find the signing hand and its 21 3-D landmarks with MediaPipe Tasks' HandLandmarker.

Detection is the weak link of every hand-based mode, so a miss is retried: with a border
around the image (MediaPipe's palm detector misses hands that fill the frame, as in tight
webcam crops), after contrast normalisation, after a gamma lift (dark frames), both, then with a
border twice as wide (small hands in front of a face or body), alone and with the gamma lift.
``benchmarks/hand_detection.py`` measures what each step adds, and that none of them invents
hands in empty frames.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, ImageStat

from .._atomic import write_atomic
from .._native import native_stderr_silenced
from ..choices import HAND_PICKS
from ..errors import FingerspellError

log = logging.getLogger("fingerspell.hands")

HAND_MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/hand_landmarker/"
                  "hand_landmarker/float16/latest/hand_landmarker.task")
HAND_MODEL_ENV = "FINGERSPELL_HAND_MODEL"
# MediaPipe looks at 192 px (palm) and 224 px (hand) views of the image: a bigger image only
# costs time and memory, multiplied by every retry (a blank 4096 x 4096 upload: 2.6 s, 1.7 GB)
DETECTION_SIDE = 1280
# Detection passes per frame of a stream (the plain one, the one that found the hand last and a
# retry in rotation; HandDetector): a frame without a hand costs that many passes, not the
# whole ladder (nine, ~95 ms on a core); chosen on the shared letter clips
# (docs/guide/live-decoder.md). live/stream.py and the on-device page use it.
PASSES_PER_FRAME = 2


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


def check_hand_model(path: Path) -> Path:
    """Fail now, with one line, if ``path`` is not a usable hand-landmarker bundle."""
    HandDetector(path).close()
    return path


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime): the hand model names caches and is
    asked for on every call."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class HandSettings:
    """How the signing hand is found.

    Attributes:
        min_confidence: MediaPipe's palm detection threshold.
        pick: which hand signs when several are in view: ``largest`` (box area), ``right`` or
            ``left`` (as the signer sees it; falls back to the largest), ``confident``.
        retries: what a miss is retried with, in order (see RETRIES); () for a single pass.
        margin: the crop around the hand box extends by this share of the box on each side.
    """

    min_confidence: float = 0.5
    pick: str = "largest"
    retries: tuple[str, ...] = ("pad", "contrast", "gamma", "pad_gamma", "pad_wide",
                                "pad_wide_gamma", "pad_1x", "pad_1.5x")
    margin: float = 0.25

    def __post_init__(self) -> None:
        if self.pick not in HAND_PICKS:
            raise FingerspellError(f"unknown hand choice {self.pick!r}; choose from "
                                   f"{', '.join(HAND_PICKS)}")
        unknown = [name for name in self.retries if name not in RETRIES]
        if unknown:
            raise FingerspellError(f"unknown hand retry {unknown[0]!r}; choose from "
                                   f"{', '.join(RETRIES)}")
        if not 0 < self.min_confidence < 1:
            raise FingerspellError(f"hand confidence must be between 0 and 1, got "
                                   f"{self.min_confidence}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandSettings:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def key(self) -> str:
        """Identifies the detection result (``margin`` only shapes crops, not detection)."""
        return f"c{self.min_confidence:g}-{'+'.join(self.retries) or 'once'}-{self.pick}"


@dataclass(frozen=True)
class Hand:
    """The signing hand: image-normalised landmarks (x, y in [0, 1], z relative depth).

    ``handedness`` is the signer's own hand ("Left"/"Right", as MediaPipe reports it),
    ``n_hands`` how many hands were in view, ``attempt`` which detection pass found it
    (0 the image as it is, k the k-th of HandSettings.retries), ``aspect`` the image's
    width / height (x is a fraction of the width, y of the height: ``shape_points`` undoes
    that), ``world`` MediaPipe's metric 3-D estimate of the same points (metres, origin near
    the hand's centre; None where unknown).
    """

    landmarks: np.ndarray  # (21, 3)
    handedness: str
    score: float
    n_hands: int = 1
    attempt: int = 0
    aspect: float = 1.0
    world: np.ndarray | None = None  # (21, 3)

    def shape_points(self) -> np.ndarray:
        """The landmarks in one unit on every axis (the image's height): a hand in a 4:3
        webcam frame or a tall crop keeps its true proportions."""
        points = np.asarray(self.landmarks, np.float64).copy()
        points[:, 0] *= self.aspect
        points[:, 2] *= self.aspect  # MediaPipe's z is on the scale of x
        return points

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in normalised image coordinates."""
        x, y = self.landmarks[:, 0], self.landmarks[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    @property
    def area(self) -> float:
        left, top, right, bottom = self.box
        return (right - left) * (bottom - top)

    def crop_box(self, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
        """A square pixel box around the hand with ``margin`` on each side (may leave the image)."""
        left, top, right, bottom = self.box
        cx, cy = (left + right) / 2 * width, (top + bottom) / 2 * height
        side = max((right - left) * width, (bottom - top) * height, 8.0) * (1 + 2 * margin)
        half = side / 2
        return round(cx - half), round(cy - half), round(cx + half), round(cy + half)

    # a flat float vector, so detections are cached like features
    VECTOR_DIM = 6 + 63 + 63

    def to_vector(self) -> np.ndarray:
        head = [1.0, float(self.handedness == "Left"), self.score, self.n_hands, self.attempt,
                self.aspect]
        world = np.zeros(63) if self.world is None else np.asarray(self.world).ravel()
        return np.concatenate([head, self.landmarks.ravel(), world]).astype(np.float32)

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> Hand | None:
        vector = np.asarray(vector, dtype=np.float32)
        if vector[0] < 0.5:
            return None
        world = vector[69:132].reshape(21, 3).copy()
        return cls(vector[6:69].reshape(21, 3).copy(), "Left" if vector[1] > 0.5 else "Right",
                   float(vector[2]), round(float(vector[3])), round(float(vector[4])),
                   float(vector[5]), world if np.any(world) else None)

    @staticmethod
    def missing_vector() -> np.ndarray:
        return np.zeros(Hand.VECTOR_DIM, np.float32)


def pick_hand(hands: list[Hand], pick: str) -> Hand | None:
    """The signing hand among ``hands`` by the rule ``pick`` (see HandSettings)."""
    if not hands:
        return None
    if pick in ("right", "left"):
        wanted = [h for h in hands if h.handedness.lower() == pick]
        hands = wanted or hands
    if pick == "confident":
        return max(hands, key=lambda h: h.score)
    return max(hands, key=lambda h: h.area)


def _gamma(image: Image.Image, gamma: float = 0.5) -> Image.Image:
    return image.point([round(255 * (i / 255) ** gamma) for i in range(256)] * 3)


# a retry's image and where the photo lies in it (left, top, width, height, in its pixels)
Placed = tuple[Image.Image, tuple[int, int, int, int]]


def _fit_for_detection(image: Image.Image) -> Image.Image:
    """``image`` at most DETECTION_SIDE on its longer side, never under one pixel on the other:
    a side of 0 fails MediaPipe's graph and leaves it failing every later image."""
    scale = DETECTION_SIDE / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)  # as ImageOps.contain did


def _whole(image: Image.Image) -> Placed:
    return image, (0, 0, image.width, image.height)


def _pad(image: Image.Image, share: float = 0.3) -> Placed:
    """A border of the image's mean colour, ``share`` of the longer side on each side, so a hand
    that fills the frame looks like a hand. Where the result would be wider than
    DETECTION_SIDE the photo is shrunk first (the palm detector sees 192 pixels anyway)."""
    # the mean from Pillow's histogram: the same colour as averaging the pixels, in a tenth
    # of the time (that cost ~14 ms a padded pass on a 1280-px photo, more than detecting)
    fill = tuple(int(c) for c in ImageStat.Stat(image).mean)
    scale = DETECTION_SIDE / (max(image.size) * (1 + 2 * share))
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.Resampling.BILINEAR)
    border = round(max(image.size) * share)
    return ImageOps.expand(image, border=border, fill=fill), (border, border, image.width,
                                                              image.height)


RETRIES: dict[str, Callable[[Image.Image], Placed]] = {
    "pad": _pad,
    "contrast": lambda image: _whole(ImageOps.autocontrast(image, cutoff=1)),
    "gamma": lambda image: _whole(_gamma(image)),
    "pad_gamma": lambda image: _pad(_gamma(image)),
    # rotated passes found more hands still, but also hands in empty frames: not offered
    "pad_wide": lambda image: _pad(image, 0.6),
    "pad_wide_gamma": lambda image: _pad(_gamma(image), 0.6),
    # a hand that fills a small frame (Kinect crops: fists, backs of hands) needs the palm
    # detector to see it smaller still: borders of 1 and 1.5 times the photo's side (2 found
    # a little more, and a confused double hand in a Kaggle test photo: docs/guide/features.md, Hands)
    "pad_1x": lambda image: _pad(image, 1.0),
    "pad_1.5x": lambda image: _pad(image, 1.5),
}


# parts of MediaPipe's package that its __init__ imports and hand detection never uses: drawing
# (which imports matplotlib's pyplot) and audio tasks, 0.5 s of a 0.63 s import measured here
_UNUSED_MEDIAPIPE = ("mediapipe.tasks.python.vision.drawing_utils",
                     "mediapipe.tasks.python.vision.drawing_styles",
                     "mediapipe.tasks.python.audio")


class _LoadOnFirstUse(importlib.abc.MetaPathFinder):
    """Makes the modules ``names`` lazy (``importlib.util.LazyLoader``): executed on the first
    attribute looked up, so anyone who uses them gets them whole."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.names:
            return None
        sys.meta_path.remove(self)  # the spec the other finders give, with a lazy loader
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_mediapipe() -> Any:
    """``mediapipe``, imported without executing the parts hand detection does not use."""
    if "mediapipe" not in sys.modules:
        finder = _LoadOnFirstUse(_UNUSED_MEDIAPIPE)
        sys.meta_path.insert(0, finder)
        try:
            import mediapipe.tasks.python.vision  # the package, with its vision tasks
        finally:
            sys.meta_path.remove(finder)
    import mediapipe
    return mediapipe


def mp_image(image: Image.Image) -> Any:
    """``image`` as MediaPipe's SRGB image."""
    mp = import_mediapipe()
    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)


def _one_line(exc: BaseException, limit: int = 150) -> str:
    return " ".join(str(exc).split())[:limit]


class HandDetector:
    """MediaPipe's HandLandmarker in image mode, with the retries and hand choice of ``settings``.

    Example:
        >>> with HandDetector("hand_landmarker.task") as detector:   # doctest: +SKIP
        ...     hand = detector.find(Image.open("A1.jpg"))
    """

    def __init__(self, model: str | Path, settings: HandSettings | None = None,
                 *, max_hands: int = 2, video: bool = False,
                 passes_per_frame: int | None = None) -> None:
        try:
            import_mediapipe()
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError:
            raise FingerspellError("hand landmarks need MediaPipe: "
                                   "pip install 'mediapipe>=0.10.30'") from None
        self.settings = settings or HandSettings()
        # VIDEO: MediaPipe tracks the hand from frame to frame (frames in time order, no retries)
        self.video = video
        self._last_ms = -1
        # a stream's frames: at most this many passes each (None: the whole ladder); see find
        if passes_per_frame is not None and passes_per_frame < 1:
            raise ValueError(f"passes_per_frame must be at least 1, got {passes_per_frame}")
        self.passes_per_frame = passes_per_frame
        self._last_hit = 0  # the pass that found the hand in the last frame that had one
        self._next_retry = 0  # where the retries' rotation goes on from
        self._options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)), num_hands=max_hands,
            min_hand_detection_confidence=self.settings.min_confidence,
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE)
        try:
            self._landmarker = self._new_landmarker()
        except (RuntimeError, ValueError) as exc:
            raise FingerspellError(f"{model}: not a MediaPipe hand-landmarker bundle "
                                   f"({_one_line(exc)})") from None

    def _new_landmarker(self) -> Any:
        from mediapipe.tasks.python import vision
        with native_stderr_silenced():
            landmarker = vision.HandLandmarker.create_from_options(self._options)
            if not self.video:  # the first run logs more set-up
                empty = mp_image(Image.new("RGB", (64, 64)))
                landmarker.detect(empty)
        return landmarker

    def _replace_landmarker(self, exc: Exception, image: Image.Image) -> None:
        """After MediaPipe fails on an image its graph fails every later one: log it, and go on
        with a new landmarker (the failed one closed, or made to forget its native handle)."""
        log.warning("hand detection failed on a %dx%d image (%s); the detector was rebuilt",
                    image.width, image.height, _one_line(exc))
        broken, self._landmarker = self._landmarker, self._new_landmarker()
        try:
            with native_stderr_silenced():
                broken.close()
        except Exception:  # noqa: BLE001 - a failed graph refuses to close ("task runner is
            # not running"), and its finaliser would try again on whichever thread collects
            # it, or at exit: it forgets its native handle instead (a few MB left behind)
            broken._handle = None

    def detect(self, image: Image.Image, attempt: int = 0, timestamp: float | None = None
               ) -> list[Hand]:
        """Every hand MediaPipe finds in ``image`` as it is (``timestamp``, in seconds: the
        frame's time in a VIDEO-mode detector)."""
        frame = mp_image(image)
        try:
            with native_stderr_silenced():  # it warns about memory alignment on new sizes
                if self.video:
                    # MediaPipe needs strictly increasing times; a repeated stamp moves on by 1 ms
                    self._last_ms = max(int((timestamp or 0.0) * 1000), self._last_ms + 1)
                    result = self._landmarker.detect_for_video(frame, self._last_ms)
                else:
                    result = self._landmarker.detect(frame)
        except RuntimeError as exc:
            self._replace_landmarker(exc, image)
            return []
        n_hands = len(result.hand_landmarks)
        hands = []
        for points, world, labels in zip(result.hand_landmarks, result.hand_world_landmarks,
                                         result.handedness, strict=True):
            array = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32)
            metres = np.array([(p.x, p.y, p.z) for p in world], dtype=np.float32)
            hands.append(Hand(array, labels[0].category_name, float(labels[0].score), n_hands,
                              attempt, image.width / image.height, metres))
        return hands

    def find(self, image: Image.Image, timestamp: float | None = None) -> Hand | None:
        """The signing hand, retrying a miss as ``settings`` says (image mode; a stream's
        detector tries ``passes_per_frame`` of the passes, see ``_passes_to_try``); None when
        there is none. Images larger than DETECTION_SIDE are searched at that size (the
        landmarks are fractions of the image's sides, so they hold for the original)."""
        image = _fit_for_detection(image)  # shrunk first: no full-size converted copy
        image = image.convert("RGB")  # a copy: the caller's image is left alone
        if self.video:
            return pick_hand(self.detect(image, 0, timestamp), self.settings.pick)
        passes = [_whole] + [RETRIES[name] for name in self.settings.retries]
        for attempt in self._passes_to_try(len(passes)):
            candidate, placed = passes[attempt](image)
            hand = pick_hand(self.detect(candidate, attempt), self.settings.pick)
            if hand is None:
                continue
            if placed != (0, 0, candidate.width, candidate.height):
                # a padded pass: back to the photo's own coordinates
                left, top, width, height = placed
                points = hand.landmarks.copy()
                points[:, 0] = (points[:, 0] * candidate.width - left) / width
                points[:, 1] = (points[:, 1] * candidate.height - top) / height
                hand = Hand(points, hand.handedness, hand.score, hand.n_hands, attempt,
                            image.width / image.height, hand.world)
            self._last_hit = attempt
            return hand
        return None

    def _passes_to_try(self, n_passes: int) -> list[int]:
        """The ladder's passes for the next image, in ladder order (the first hit wins, as for
        a photo). Without ``passes_per_frame``: all of them. With it (a stream): the plain
        pass, the pass that found the hand last, and retries in rotation — a camera that needs
        a border keeps getting it, every retry is still tried over a few frames without a hand,
        and an empty frame costs ``passes_per_frame`` passes, not the whole ladder."""
        budget = self.passes_per_frame
        if budget is None or budget >= n_passes:
            return list(range(n_passes))
        chosen = list(dict.fromkeys((self._last_hit, 0)))[:budget]
        while len(chosen) < budget:  # budget < n_passes: a retry not chosen yet exists
            retry = 1 + self._next_retry % (n_passes - 1)
            self._next_retry += 1
            if retry not in chosen:
                chosen.append(retry)
        return sorted(chosen)

    def close(self) -> None:
        with native_stderr_silenced():
            self._landmarker.close()

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
