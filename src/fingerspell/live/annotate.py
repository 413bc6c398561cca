"""``fingerspell live ... --annotate OUT.mp4``: the input with what the recognizer saw drawn on
each frame (the hand's skeleton and box, the current letter and confidence, the spelled text).

The video is written to a temporary file beside ``OUT`` and renamed when the stream ends, so an
interrupted run never leaves half a video under the user's name; an existing file is never
overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FingerspellError
from ..features.landmarks import BONES
from .stream import FrameResult

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class Annotator:
    """Draws each frame's result and writes the frames as a video at ``fps``.

    Example:
        >>> with Annotator("out.mp4", fps=15) as video:          # doctest: +SKIP
        ...     for t, frame in frames_from(video="hello.mp4"):
        ...         video.write(frame, session.process(t, frame))
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise FingerspellError(f"{self.path}: --annotate writes {', '.join(FOURCC)} videos")
        if self.path.exists():
            raise FingerspellError(f"{self.path}: exists; choose another name (nothing is "
                                   f"overwritten)")
        if not self.path.parent.is_dir():
            raise FingerspellError(f"{self.path.parent}: folder does not exist")
        # the container follows the extension: keep it on the temp file
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = fps if fps > 0 else 15.0
        self.writer = None
        self.frames = 0

    def write(self, frame: Image.Image, result: FrameResult) -> None:
        import cv2
        canvas = cv2.cvtColor(np.asarray(frame.convert("RGB")), cv2.COLOR_RGB2BGR)
        if self.writer is None:
            height, width = canvas.shape[:2]
            self.size = (width, height)
            self.writer = cv2.VideoWriter(str(self.partial),
                                          cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()]),
                                          self.fps, self.size)
            if not self.writer.isOpened():
                raise FingerspellError(f"{self.path}: cannot write this video format here")
        elif (canvas.shape[1], canvas.shape[0]) != self.size:  # a camera may change resolution
            canvas = cv2.resize(canvas, self.size)
        draw(canvas, result)
        self.writer.write(canvas)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the video; returns its path (None if no frame was written)."""
        if self.writer is None:
            return None
        self.writer.release()
        self.writer = None
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        if exc_type is None or exc_type is KeyboardInterrupt:  # Ctrl-C ends a camera stream
            self.close()
        else:
            self.discard()


def draw(canvas: np.ndarray, result: FrameResult) -> None:
    """Skeleton, crop box, letter + confidence (top left) and the spelled text (bottom bar),
    drawn in place on a BGR image."""
    import cv2
    height, width = canvas.shape[:2]
    scale = max(0.5, width / 640)
    prediction = result.prediction
    hand = prediction.hand
    if hand is not None:
        points = [(int(x * width), int(y * height)) for x, y in hand.landmarks[:, :2]]
        for parent, child in BONES:
            cv2.line(canvas, points[parent], points[child], (0, 255, 0), max(1, int(2 * scale)))
        for point in points:
            cv2.circle(canvas, point, max(2, int(3 * scale)), (0, 0, 255), -1)
        left, top, right, bottom = (int(v) for v in hand.crop_box(width, height, 0.25))
        cv2.rectangle(canvas, (left, top), (right, bottom), (0, 255, 255), 1)
    label = result.motion or prediction.label
    caption = f"{label} {prediction.confidence:.0%}" if hand is not None or result.motion \
        else "no hand"
    cv2.putText(canvas, caption, (int(10 * scale), int(40 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                1.2 * scale, (255, 255, 255), max(2, int(3 * scale)), cv2.LINE_AA)
    bar = int(36 * scale)
    cv2.rectangle(canvas, (0, height - bar), (width, height), (0, 0, 0), -1)
    cv2.putText(canvas, f"text: {result.text}", (int(10 * scale), height - int(10 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), max(1, int(2 * scale)),
                cv2.LINE_AA)
