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
from ..infer.prediction import draw_answer
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
        canvas = np.array(frame.convert("RGB"))
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
        self.writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
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
    drawn in place on an RGB image."""
    prediction = result.prediction
    label = result.motion or prediction.label
    caption = f"{label} {prediction.confidence:.0%}" \
        if prediction.hand is not None or result.motion else "no hand"
    draw_answer(canvas, prediction.hand, caption, result.text)
