"""Frames from a camera, a video or a folder -> per-frame predictions -> spelled text."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from .._native import native_stderr_silenced
from ..data.images import is_image_file, load_rgb
from ..errors import FingerspellError, ImageError
from ..features.hands import PASSES_PER_FRAME
from ..infer.model import Model
from ..infer.prediction import ROUTE_NO_HAND_NOTHING, Prediction
from .decoder import DecoderSettings, Event, SpellingDecoder
from .motion import MotionTracker

MOTION_LETTERS = ("J", "Z")
# What a motionless frame of a motion letter shows: J is an I drawn in the air, so a still "J"
# is an I; Z's index finger alone is no letter of its own. Data sets photograph J and Z as
# stills, so a model learns them as poses; with the tracker recognising them from motion, their
# pose scores go to the handshape (on the shared letter clips a held I read as J at 0.2-0.36
# and was never committed; see docs/guide/live-decoder.md).
STILL_SHAPES = {"J": "I", "Z": None}


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


MAX_VIDEO_FPS = 30.0  # frames a second that live reads from a file (a camera is real time)


def frames_from(*, camera: int | None = None, video: str | Path | None = None,
                frames: str | Path | None = None, fps: float = 15.0,
                max_seconds: float | None = None) -> Iterator[tuple[float, Image.Image]]:
    """(seconds since start, RGB frame) from exactly one source. A folder of images plays at
    ``fps`` in natural name order; a video keeps its own frame times; a camera is real time."""
    if sum(x is not None for x in (camera, video, frames)) != 1:
        raise FingerspellError("give exactly one of --camera N, --video FILE, --frames DIR")
    if frames is not None:
        folder = Path(frames)
        if not folder.is_dir():
            raise FingerspellError(f"{folder}: frames folder does not exist")
        files = sorted((p for p in folder.iterdir() if is_image_file(p)), key=_natural_key)
        if not files:
            raise FingerspellError(f"{folder}: no images in this folder")
        for index, path in enumerate(files):
            t = index / fps
            if max_seconds is not None and t > max_seconds:
                return
            try:
                yield t, load_rgb(path)
            except ImageError:
                continue  # a bad frame is skipped, never fatal
        return
    import cv2
    if video is not None and not Path(video).is_file():
        raise FingerspellError(f"{video}: video file does not exist")
    with native_stderr_silenced():  # FFmpeg and V4L2 explain failures on stderr themselves
        capture = cv2.VideoCapture(str(video) if video is not None else int(camera or 0))
        opened = capture.isOpened()
    if not opened:
        raise FingerspellError(f"{video}: not a readable video" if video is not None
                               else f"camera {camera} cannot be opened")
    started = time.monotonic()
    video_fps = capture.get(cv2.CAP_PROP_FPS) or fps
    index, last = 0, None
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            t = index / video_fps if video is not None else time.monotonic() - started
            index += 1
            if max_seconds is not None and t > max_seconds:
                return
            if last is not None and t - last < 1 / MAX_VIDEO_FPS - 1e-6:
                continue  # a file declaring 1000 frames/s (duplicated frames) costs 30, not 1000
            last = t
            yield t, Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()


def video_fps(video: str | Path, default: float = 15.0) -> float:
    """The frame rate a video file declares (``default`` when it declares none)."""
    import cv2
    with native_stderr_silenced():
        capture = cv2.VideoCapture(str(video))
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
        capture.release()
    return fps if fps and fps > 0 else default


@dataclass
class FrameResult:
    t: float
    prediction: Prediction
    events: list[Event] = field(default_factory=list)
    text: str = ""
    motion: str | None = None


@dataclass
class LiveRun:
    """A whole stream spelled by ``LiveSession.run``: the text, every event in order (the
    stream's end included), how many frames, the stream time of the last frame and the wall
    time it took."""

    text: str
    events: list[Event]
    frames: int
    end_t: float
    seconds: float
    interrupted: bool = False  # Ctrl-C ended it (a camera's way to stop)

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


class LiveSession:
    """One stream's state: the model's hand detector, the J/Z motion tracker and the decoder.

    Example:
        >>> with LiveSession(Model.load("runs/demo/model")) as session:      # doctest: +SKIP
        ...     print(session.run(frames_from(video="hello.mp4")).text)
    """

    def __init__(self, model: Model, settings: DecoderSettings | None = None,
                 *, motion: bool = True, tracking: bool = False,
                 passes_per_frame: int | None = PASSES_PER_FRAME) -> None:
        self.model = model
        # tracking: MediaPipe's VIDEO mode follows the hand between frames (benchmarks/
        # live_video.py compares it with detecting in every frame)
        self.detector = model.detector(video=tracking, passes_per_frame=passes_per_frame)
        # J and Z from motion need landmarks and a model that knows those letters
        known = {c.upper() for c in model.classes}
        self._with_motion = (motion and self.detector is not None
                             and known.issuperset(MOTION_LETTERS))
        by_letter = {c.upper(): c for c in model.classes}
        self._still_shapes = {by_letter[m]: by_letter.get(shape or "")
                              for m, shape in STILL_SHAPES.items() if m in by_letter}
        self.restart(settings)

    def restart(self, settings: DecoderSettings | None = None) -> None:
        """A new stream on the same detector: empty text, no motion history (``settings``:
        the decoder's, else the ones it had)."""
        previous = getattr(self, "decoder", None)
        chosen = settings or (previous.settings if previous else DecoderSettings())
        self.decoder = SpellingDecoder(chosen)
        self.motion = MotionTracker() if self._with_motion else None

    @property
    def text(self) -> str:
        return self.decoder.text

    def run(self, frames: Iterable[tuple[float, Image.Image]],
            on_frame: Callable[[Image.Image, FrameResult], None] | None = None) -> LiveRun:
        """Spell a whole stream of ``(seconds, RGB frame)`` pairs (``frames_from``, or any of
        your own): each frame through ``process`` (``on_frame`` sees it and its result as it
        goes), then the stream's end (``finish``). Ctrl-C ends the stream early and still
        returns its text."""
        started, count, t = time.perf_counter(), 0, 0.0
        events: list[Event] = []
        interrupted = False
        try:
            for t, frame in frames:
                count += 1
                result = self.process(t, frame)
                events += result.events
                if on_frame is not None:
                    on_frame(frame, result)
        except KeyboardInterrupt:
            interrupted = True
        events += self.finish(t)
        return LiveRun(self.text, events, count, t, time.perf_counter() - started, interrupted)

    def finish(self, t: float) -> list[Event]:
        """The stream ended at ``t``: the decoder's last events (a word completed from
        ``--words``)."""
        return self.decoder.finish(t)

    def process(self, t: float, frame: Image.Image) -> FrameResult:
        prediction = self.model.predict_images([frame], detector=self.detector, timestamp=t)[0]
        return self.feed(t, prediction)

    def feed(self, t: float, prediction: Prediction) -> FrameResult:
        """The decoder's part alone (tests and benchmarks time it separately)."""
        hand = prediction.hand
        events: list[Event] = []
        motion = None
        scores = dict(prediction.top_k)
        if self.motion is not None:
            motion = self.motion.update(t, hand)
            if motion:
                events += self.decoder.commit_motion(t, motion, since=self.motion.anchor_t)
            scores = self._still_scores(prediction)
            prediction = self._as_still(prediction, scores)
        if not motion:
            if prediction.route == ROUTE_NO_HAND_NOTHING or (hand is None and self.detector):
                letter = None
            else:
                letter = prediction.label
            points = hand.shape_points()[:, :2] if hand is not None else None
            events += self.decoder.update(t, letter, prediction.confidence, points=points,
                                          scores=scores)
        return FrameResult(t, prediction, events, self.decoder.text, motion)

    def _still_scores(self, prediction: Prediction) -> dict[str, float]:
        """The top answers' scores with the motion letters' pose scores given to their
        handshapes (``STILL_SHAPES``)."""
        scores: dict[str, float] = {}
        for label, p in prediction.top_k:
            target = self._still_shapes.get(label, label)
            if target is not None:
                scores[target] = scores.get(target, 0.0) + p
        return scores

    def _as_still(self, prediction: Prediction, scores: dict[str, float]) -> Prediction:
        """``prediction`` answering the best of the still ``scores``: what the decoder holds
        and the page shows. ``top_k`` stays the model's own answer."""
        if prediction.hand is None or not scores:
            return prediction
        label = max(scores, key=scores.__getitem__)
        return replace(prediction, label=label, confidence=scores[label],
                       unsure=scores[label] < self.model.unsure_below)

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
