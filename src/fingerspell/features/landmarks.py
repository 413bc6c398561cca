"""Signer-independent encodings of MediaPipe's 21 hand landmarks, and landmark augmentation.

The hand's shape is encoded invariant to where the hand is, how big it is in the picture, its
in-plane rotation and whether it is a left or right hand (left hands are mirrored onto right
ones), and mostly free of one person's proportions: bone directions and joint flexion angles do
not change with finger length. Encoding 2 adds where the palm faces and points in the camera's
frame: H/U, P/K and G/Q are the same shape pointing another way.

A bundle names the encoding its head was trained on (``FeatureMode.landmark_encoding``):
1 — the shape of the image-normalised landmarks (bundles that do not name an encoding: x is a
  fraction of the width and y of the height, so a 4:3 frame or a tall crop distorts the hand);
2 — the shape of landmarks in one unit on every axis (``Hand.shape_points``) plus the palm's
  orientation; ``benchmarks/landmark_encodings.py`` measured it on people never seen.
The on-device page computes the same in JavaScript (``fingerspell/web/recognizer.js``, held to
this module by ``tests/test_web_parity.py``): change both.
"""

from __future__ import annotations

import numpy as np

WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17
FINGERTIPS = (4, 8, 12, 16, 20)
# MediaPipe's hand skeleton: PARENT[i] is the landmark that bone i hangs from.
PARENT = (0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
BONES = tuple((PARENT[i], i) for i in range(1, 21))
# Joints whose flexion is measured: (bone into the joint, bone out of it), three per finger.
JOINTS = tuple((j - 1, j) for j in range(1, 20) if PARENT[j + 1] == j)

SHAPE_DIM = 21 * 3 + len(BONES) * 3 + len(JOINTS) + 15
ORIENTATION_DIM = 9
LANDMARK_ENCODINGS = (1, 2)
LATEST_ENCODING = 2


def landmark_dim(encoding: int = LATEST_ENCODING) -> int:
    """The length of ``landmark_features``' vector in ``encoding``."""
    if encoding not in LANDMARK_ENCODINGS:
        raise ValueError(f"unknown landmark encoding {encoding!r}; known: {LANDMARK_ENCODINGS}")
    return SHAPE_DIM + (ORIENTATION_DIM if encoding >= 2 else 0)


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


def palm_orientation(points: np.ndarray, handedness: str = "Right") -> np.ndarray:
    """(3, 3): the palm's axes in the camera's frame (x right, y down, z away), one per row:
    across the knuckles (index to little finger), up the palm (wrist to middle knuckle) and
    the palm's normal. Left hands are mirrored first, as in ``normalize_landmarks``."""
    points = np.asarray(points, dtype=np.float64) - np.asarray(points, dtype=np.float64)[WRIST]
    if handedness.lower().startswith("left"):
        points[:, 0] = -points[:, 0]
    up = points[MIDDLE_MCP] / max(np.linalg.norm(points[MIDDLE_MCP]), 1e-9)
    across = points[INDEX_MCP] - points[PINKY_MCP]
    across -= up * (across @ up)
    across /= max(np.linalg.norm(across), 1e-9)
    return np.stack([across, up, np.cross(across, up)])


def landmark_features(points: np.ndarray, handedness: str = "Right",
                      encoding: int = LATEST_ENCODING) -> np.ndarray:
    """A ``landmark_dim(encoding)`` vector: normalised coordinates, unit bone directions, joint
    flexion angles (radians) and the distances between wrist and fingertips relative to palm
    size — the cues that separate confusable letters such as M/N/S/T without depending on how
    long one person's fingers are — then (encoding 2) the palm's orientation. Pass points in
    one unit on every axis (``Hand.shape_points``) for encoding 2, MediaPipe's image-normalised
    ones for encoding 1."""
    landmark_dim(encoding)  # a known encoding
    normalized = normalize_landmarks(points, handedness).astype(np.float64)
    bones = np.stack([normalized[child] - normalized[parent] for parent, child in BONES])
    directions = bones / np.maximum(np.linalg.norm(bones, axis=1, keepdims=True), 1e-6)
    cosines = np.einsum("ij,ij->i", directions[[a for a, _ in JOINTS]],
                        directions[[b for _, b in JOINTS]])
    flexion = np.arccos(np.clip(cosines, -1.0, 1.0))
    keys = normalized[[WRIST, *FINGERTIPS]]
    distances = np.linalg.norm(keys[:, None] - keys[None], axis=-1)[np.triu_indices(len(keys), 1)]
    parts = [normalized.ravel(), directions.ravel(), flexion, distances]
    if encoding >= 2:
        parts.append(palm_orientation(points, handedness).ravel())
    return np.concatenate(parts).astype(np.float32)


def view_handedness(handedness: str, view: int) -> str:
    """The hand that augmented view ``view`` (k >= 1) encodes a hand as: every other view as
    the other hand, mirrored. MediaPipe names the wrong hand on some photos (17% of the Kaggle
    signer's M) and some people sign with their left hand; trained on both, the landmarks head
    does not depend on the name being right (``benchmarks/landmark_encodings.py
    --no-mirrored-views`` measures it without).

    Example:
        >>> [view_handedness("Right", k) for k in (0, 1, 2)]
        ['Right', 'Right', 'Left']
    """
    if view and view % 2 == 0:
        return "Right" if handedness.lower().startswith("left") else "Left"
    return handedness


def augment_landmarks(points: np.ndarray, rng: np.random.Generator, *, bone_jitter: float = 0.12,
                      tilt_degrees: float = 20.0, noise: float = 0.01) -> np.ndarray:
    """Another person's hand seen from another angle: each bone's length scaled by up to
    ``bone_jitter``, the hand tilted out of the image plane by up to ``tilt_degrees`` about
    both in-plane axes, and noise of ``noise`` x hand size added to every landmark.

    Example:
        >>> pts = np.random.default_rng(0).random((21, 3))
        >>> augment_landmarks(pts, np.random.default_rng(1)).shape
        (21, 3)
    """
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    scales = rng.uniform(1 - bone_jitter, 1 + bone_jitter, len(BONES))
    for (parent, child), scale in zip(BONES, scales, strict=True):  # parents come first
        out[child] = out[parent] + scale * (points[child] - points[parent])
    centre = out.mean(0)
    a, b = np.radians(rng.uniform(-tilt_degrees, tilt_degrees, 2))
    tilt_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilt_y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    out = (out - centre) @ (tilt_y @ tilt_x).T + centre
    size = float(np.ptp(out[:, :2], axis=0).max())
    return (out + rng.normal(0, noise * size, out.shape)).astype(np.float32)
