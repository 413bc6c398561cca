"""J and Z are motions, not poses: recognise them from the hand's path over the last second.

Both start from a held handshape — the I (little finger out) for J, the index finger out for Z —
seen in at least ``min_hold_frames`` frames in a row; that hold is the anchor, and the rest is
measured from it in palm lengths:

- **J**: the hand twists (the palm's normal turns by ``min_twist_degrees``) while the little
  fingertip drops by ``min_drop`` palm lengths, in ``confirm_frames`` frames in a row;
- **Z**: the index tip strokes sideways (``min_stroke`` palm lengths, mostly horizontal), then
  back and down (``min_back`` sideways the other way and ``min_drop`` down); the last stroke is
  not needed: on recordings it is a blur that MediaPipe loses.

Thresholds were read off the shared recordings (two J and two Z clips against the other letter
clips, where a held I or Y drifts by up to 0.6 palm lengths and turns by up to 16 degrees), with
margins on both sides; see docs/guide/live-decoder.md ("J and Z"). During a fast motion
MediaPipe's landmarks are often wrong — the palm collapses, the hand flips left/right — so frames
whose handedness differs from the anchor's or whose palm shrinks below half (or grows past twice)
the anchor's are left out, as are a few frames without a hand, and the handshape is not asked for
after the anchor (a twisting little finger foreshortens).

Input: ``Hand`` objects (image landmarks with the image's aspect, so a 4:3 frame does not squash
the path) with a time stamp per frame.

The on-device page runs a copy in JavaScript (``fingerspell/web/session.js``, with what
``LiveSession.feed`` does around the decoder): ``tests/test_web_parity.py`` fails when the two
differ, so change both.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..features.hands import Hand
from ..features.landmarks import palm_orientation

WRIST, MIDDLE_MCP = 0, 9
INDEX_TIP, PINKY_TIP = 8, 20
# (tip, pip) per finger: extended when the tip is farther from the wrist than the middle joint
FINGERS = {"thumb": (4, 2), "index": (8, 6), "middle": (12, 10), "ring": (16, 14),
           "pinky": (20, 18)}
# the handshape each motion starts from, and the fingertip that draws it
STARTS = {"J": ({"pinky"}, PINKY_TIP), "Z": ({"index"}, INDEX_TIP)}


def extended_fingers(points: np.ndarray) -> set[str]:
    """Fingers whose tip lies well beyond their middle joint, seen from the wrist."""
    points = np.asarray(points)[:, :2]
    wrist = points[WRIST]
    out = set()
    for name, (tip, pip) in FINGERS.items():
        if name == "thumb":
            continue
        if np.linalg.norm(points[tip] - wrist) > 1.15 * np.linalg.norm(points[pip] - wrist):
            out.add(name)
    return out


@dataclass
class _Sample:
    t: float
    points: np.ndarray  # (21, 3), one unit on every axis
    handedness: str
    palm: float  # wrist to middle knuckle in the image plane
    normal: np.ndarray  # the palm's normal in the camera's frame
    shape: frozenset[str]


@dataclass(frozen=True)
class MotionSettings:
    """What counts as a J or a Z (distances in palm lengths; see the module's docstring)."""

    window_seconds: float = 1.0
    max_gap_seconds: float = 0.25  # frames without a hand mid-motion (blur) are skipped
    min_hold_frames: int = 3
    min_twist_degrees: float = 30.0
    min_drop: float = 0.8
    confirm_frames: int = 2
    min_stroke: float = 1.0
    min_back: float = 0.5


class MotionTracker:
    """Example:
        >>> tracker = MotionTracker()
        >>> tracker.update(0.0, None) is None
        True
    """

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._samples: deque[_Sample] = deque()
        self.anchor_t: float | None = None  # when the last motion's starting hold was seen

    def update(self, t: float, hand: Hand | None) -> str | None:
        """Add one frame (None: no hand); return "J" or "Z" when the last second draws one
        (``anchor_t`` then says when its starting hold was seen). After a detection the history
        is cleared, so one motion gives one letter; so is a gap of ``max_gap_seconds``
        without a hand."""
        if self._samples and t - self._samples[-1].t > self.settings.max_gap_seconds:
            self._samples.clear()  # the hand was gone: a new motion starts afresh
        if hand is None:
            return None
        points = hand.shape_points()
        palm = float(np.linalg.norm(points[MIDDLE_MCP, :2] - points[WRIST, :2]))
        self._samples.append(_Sample(t, points, hand.handedness, max(palm, 1e-6),
                                     palm_orientation(points, hand.handedness)[2],
                                     frozenset(extended_fingers(points))))
        while self._samples and self._samples[0].t < t - self.settings.window_seconds:
            self._samples.popleft()
        for letter in STARTS:
            anchor = self._anchor(letter)
            if anchor is not None and self._drawn(letter, anchor):
                self.anchor_t = self._samples[anchor].t
                self._samples.clear()
                return letter
        return None

    def _anchor(self, letter: str) -> int | None:
        """Index of the last frame of the first run of ``min_hold_frames`` frames showing the
        letter's starting handshape, or None."""
        shape, _ = STARTS[letter]
        run = 0
        for i, sample in enumerate(self._samples):
            run = run + 1 if sample.shape == shape else 0
            if run >= self.settings.min_hold_frames:
                return i
        return None

    def _after(self, anchor: int) -> list[_Sample]:
        """The frames after the anchor's hold whose landmarks can be trusted."""
        start = self._samples[anchor]
        return [s for s in list(self._samples)[anchor + 1:]
                if s.handedness == start.handedness and 0.5 <= s.palm / start.palm <= 2.0]

    def _drawn(self, letter: str, anchor: int) -> bool:
        start = self._samples[anchor]
        _, tip = STARTS[letter]
        after = self._after(anchor)
        moves = [(s.points[tip, :2] - start.points[tip, :2]) / start.palm for s in after]
        if letter == "J":
            run = 0
            for sample, (_, dy) in zip(after, moves, strict=True):
                twist = math.degrees(math.acos(float(np.clip(sample.normal @ start.normal, -1, 1))))
                ok = twist >= self.settings.min_twist_degrees and dy >= self.settings.min_drop
                run = run + 1 if ok else 0
                if run >= self.settings.confirm_frames:
                    return True
            return False
        return _is_z(moves, self.settings)


def _is_z(moves: list[np.ndarray], settings: MotionSettings) -> bool:
    """A sideways stroke, then back and down: the first two strokes of a Z, either way round."""
    for k, (dx1, dy1) in enumerate(moves):
        if abs(dx1) < settings.min_stroke or abs(dy1) > 0.6 * abs(dx1):
            continue
        for dx2, dy2 in (m - moves[k] for m in moves[k + 1:]):
            if np.sign(dx2) == -np.sign(dx1) and abs(dx2) >= settings.min_back \
                    and dy2 >= settings.min_drop:
                return True
    return False
