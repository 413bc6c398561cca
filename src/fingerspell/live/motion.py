"""J and Z are motions, not poses: recognise them from the fingertip's path over the last second.

- **J**: the I handshape (little finger out, the others curled) while the little fingertip
  draws a hook: it travels at least ``min_path`` palm lengths and its direction turns by at least
  ``min_turn_degrees`` (down, then curving sideways and up).
- **Z**: the index finger out (the others curled) while the index tip draws a Z: three strokes,
  sideways, diagonally back and down, sideways again (either way round: a mirrored camera draws
  it mirrored).

Input is MediaPipe's image-normalised landmarks (x right, y down) with a time stamp per frame.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

WRIST, MIDDLE_MCP = 0, 9
INDEX_TIP, PINKY_TIP = 8, 20
# (tip, pip) per finger: extended when the tip is farther from the wrist than the middle joint
FINGERS = {"thumb": (4, 2), "index": (8, 6), "middle": (12, 10), "ring": (16, 14),
           "pinky": (20, 18)}


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
    points: np.ndarray  # (21, 2)
    palm: float


class MotionTracker:
    """Example:
        >>> tracker = MotionTracker()
        >>> tracker.update(0.0, None) is None
        True
    """

    def __init__(self, window_seconds: float = 1.0, min_path: float = 1.0,
                 min_turn_degrees: float = 100.0) -> None:
        self.window_seconds = window_seconds
        self.min_path = min_path
        self.min_turn = math.radians(min_turn_degrees)
        self._samples: deque[_Sample] = deque()

    def update(self, t: float, landmarks: np.ndarray | None) -> str | None:
        """Add one frame (None: no hand); return "J" or "Z" when the last second draws one.
        After a detection the history is cleared, so one motion gives one letter."""
        if landmarks is None:
            self._samples.clear()
            return None
        points = np.asarray(landmarks, dtype=np.float64)[:, :2]
        palm = float(np.linalg.norm(points[MIDDLE_MCP] - points[WRIST]))
        self._samples.append(_Sample(t, points, max(palm, 1e-6)))
        while self._samples and self._samples[0].t < t - self.window_seconds:
            self._samples.popleft()
        if len(self._samples) < 5:
            return None
        letter = self._classify()
        if letter:
            self._samples.clear()
        return letter

    def _classify(self) -> str | None:
        samples = list(self._samples)
        shapes = [extended_fingers(s.points) for s in samples]
        palm = float(np.median([s.palm for s in samples]))
        pinky_only = sum(s == {"pinky"} for s in shapes) >= 0.6 * len(shapes)
        index_only = sum(s == {"index"} for s in shapes) >= 0.6 * len(shapes)
        if pinky_only and self._is_hook(np.array([s.points[PINKY_TIP] for s in samples]), palm):
            return "J"
        if index_only and _is_z(np.array([s.points[INDEX_TIP] for s in samples]), palm):
            return "Z"
        return None

    def _is_hook(self, path: np.ndarray, palm: float) -> bool:
        steps = np.diff(path, axis=0)
        lengths = np.linalg.norm(steps, axis=1)
        if lengths.sum() < self.min_path * palm:
            return False
        moving = steps[lengths > 0.02 * palm]
        if len(moving) < 3:
            return False
        angles = np.unwrap(np.arctan2(moving[:, 1], moving[:, 0]))
        starts_down = moving[0, 1] > abs(moving[0, 0]) * 0.5
        return bool(starts_down and abs(angles[-1] - angles[0]) >= self.min_turn)


def _is_z(path: np.ndarray, palm: float, min_stroke: float = 0.5) -> bool:
    """Three strokes: sideways, back diagonally downwards, sideways in the first direction."""
    strokes = _strokes(path, min_stroke * palm)
    if len(strokes) != 3:
        return False
    (dx1, dy1), (dx2, dy2), (dx3, dy3) = strokes
    sideways = abs(dx1) > 2 * abs(dy1) and abs(dx3) > 2 * abs(dy3)
    diagonal = dy2 > 0.4 * abs(dx2) and abs(dx2) > 0.4 * dy2
    return bool(sideways and diagonal and np.sign(dx1) == np.sign(dx3) == -np.sign(dx2))


def _strokes(path: np.ndarray, min_length: float) -> list[tuple[float, float]]:
    """Split a path where its horizontal direction reverses; keep strokes longer than
    ``min_length``; return each stroke's (dx, dy)."""
    strokes: list[tuple[float, float]] = []
    start = 0
    direction = 0.0
    for i in range(1, len(path)):
        dx = path[i, 0] - path[i - 1, 0]
        if abs(dx) < 1e-9:
            continue
        if direction and np.sign(dx) != direction:
            strokes.append(tuple(path[i - 1] - path[start]))
            start = i - 1
        direction = float(np.sign(dx))
    strokes.append(tuple(path[-1] - path[start]))
    return [(float(x), float(y)) for x, y in strokes if math.hypot(x, y) >= min_length]
