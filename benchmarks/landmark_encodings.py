"""Which landmark encoding tells letters apart on people it has never seen: leave one source out.

Usage: python benchmarks/landmark_encodings.py [--encodings 1,2,contacts,palm3d,...]
                                               [--pose-jitter F/T] [--twist D]
                                               [--no-mirrored-views]
                                               [--out benchmarks/results/landmark_encodings.json]

The landmarks head alone (``fingerspell train --features landmarks``: its recipe, four jittered
copies of each hand, sources balanced) is fitted on all shared sources but one and tested on
that one, for each encoding. Encodings 1 and 2 are the ones a bundle can name
(features/landmarks.py); the others were tried on the way and are kept here so that the choice
can be checked:

- ``aspect``: encoding 1's shape from landmarks in one unit on both axes (no orientation);
- ``contacts``: ``aspect`` plus the thumb tip's distance to the other fingers' knuckles, middle
  joints and tips (what tells M/N/S/T/A/E apart);
- ``contacts+orientation``: ``contacts`` plus encoding 2's orientation;
- ``palm3d``: coordinates and bones in a 3-D frame of the palm (across the knuckles, up the
  palm, its normal), contacts and orientation;
- ``world-palm3d``: the same from MediaPipe's metric world landmarks instead of image ones.

The choice is made on the selection sources (multi_signer, mon95); the other three are
reported. Every source is a test fold here, so the reported figures are not used to choose.

``--pose-jitter F/T`` bends each training view's fingers before the usual augmentation (a
kinematic change of pose: every finger curled or opened by up to F degrees at its three joints,
spread by up to F/2, the thumb swung about its base and bent by up to T degrees): how much
people differ in forming a letter, the variation a synthetic-hand generator would add.
``--twist D`` turns each training view about the hand's long axis by up to D degrees (the palm
facing sideways, fingers pointing where they did): what the letter videos' signer does with U
and R, read as H.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import SHARED, SOURCES, pooled_features
from fingerspell.features.feature_mode import get_mode
from fingerspell.features.hands import Hand
from fingerspell.features.landmarks import (
    FINGERTIPS,
    augment_landmarks,
    landmark_features,
    palm_orientation,
    view_handedness,
)
from fingerspell.head.recipes import recipe_for_features
from fingerspell.training.fitting import Examples, HeadFitter, remember_views
from generalisation import score

SELECTION = ("multi_signer", "mon95")
# the thumb tip against the other fingers' knuckles, middle joints and tips
CONTACTS = [(4, j) for j in (5, 6, 9, 10, 13, 14, 17, 18, *FINGERTIPS[1:])]


FINGER_CHAINS = ((5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
THUMB_CHAIN = (1, 2, 3, 4)


def _rotate(points: np.ndarray, moved: tuple[int, ...], centre: np.ndarray, axis: np.ndarray,
            angle: float) -> None:
    """Rotate ``points[moved]`` about ``axis`` through ``centre`` (Rodrigues), in place."""
    axis = axis / max(np.linalg.norm(axis), 1e-9)
    p = points[list(moved)] - centre
    c, s = np.cos(angle), np.sin(angle)
    points[list(moved)] = (p * c + np.cross(axis, p) * s + np.outer(p @ axis, axis) * (1 - c)
                           + centre)


def pose_jitter(points: np.ndarray, rng: np.random.Generator, fingers: float,
                thumb: float) -> np.ndarray:
    """Another way of forming the same letter: see ``--pose-jitter`` (right-hand points)."""
    out = np.asarray(points, np.float64).copy()
    across, _, normal = palm_orientation(out)
    f, t = np.radians(fingers), np.radians(thumb)
    for chain in FINGER_CHAINS:
        curl = rng.uniform(-f, f)  # the finger's joints bend together, each a little apart
        for k, joint in enumerate(chain[:3]):
            _rotate(out, chain[k + 1:], out[joint], across, curl + rng.uniform(-f, f) / 3)
        _rotate(out, chain[1:], out[chain[0]], normal, rng.uniform(-f, f) / 2)
    _rotate(out, THUMB_CHAIN[1:], out[THUMB_CHAIN[0]], rng.normal(size=3), rng.uniform(-t, t))
    for k, joint in enumerate(THUMB_CHAIN[1:3]):
        bone = out[THUMB_CHAIN[k + 2]] - out[joint]
        _rotate(out, THUMB_CHAIN[k + 2:], out[joint], np.cross(bone, normal), rng.uniform(-t, t))
    return out


def twist(points: np.ndarray, rng: np.random.Generator, degrees: float) -> np.ndarray:
    """The whole hand turned about its own long axis (wrist to middle knuckle) by up to
    ``degrees``: the palm facing sideways instead of forward, fingers pointing where they did."""
    out = np.asarray(points, np.float64).copy()
    _rotate(out, tuple(range(len(out))), out[0].copy(), out[9] - out[0],
            np.radians(rng.uniform(-degrees, degrees)))
    return out


def contacts(points: np.ndarray) -> np.ndarray:
    palm = max(np.linalg.norm(points[9] - points[0]), 1e-6)
    return np.array([np.linalg.norm(points[a] - points[b]) / palm for a, b in CONTACTS])


def palm3d(points: np.ndarray) -> np.ndarray:
    points = points - points[0]
    axes = palm_orientation(points)
    canonical = points @ axes.T / max(np.linalg.norm(points[9]), 1e-6)
    # encoding 1's shape features of the canonical points, which are already upright
    return np.concatenate([landmark_features(canonical, encoding=1), contacts(points),
                           axes.ravel()])


# name -> (which points: image, one unit on every axis, or metric world ones; encoder of
# right-hand points)
ENCODINGS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "1": ("image", lambda p: landmark_features(p, encoding=1)),
    "aspect": ("shape", lambda p: landmark_features(p, encoding=1)),
    "contacts": ("shape", lambda p: np.concatenate([landmark_features(p, encoding=1),
                                                    contacts(p)])),
    "2": ("shape", lambda p: landmark_features(p, encoding=2)),
    "contacts+orientation": ("shape", lambda p: np.concatenate([landmark_features(p, encoding=2),
                                                                contacts(p)])),
    "palm3d": ("shape", palm3d),
    "world-palm3d": ("world", palm3d),
}


def points_of(hand: Hand, kind: str, handedness: str) -> np.ndarray | None:
    points = {"image": hand.landmarks, "shape": hand.shape_points(), "world": hand.world}[kind]
    if points is None:
        return None
    points = np.asarray(points, np.float64).copy()
    if handedness.lower().startswith("left"):  # mirrored onto a right hand
        points[:, 0] = -points[:, 0]
    return points


def encode(name: str, hands: list[Hand | None], paths: list[Path], view: int,
           mirrored_views: bool = True, pose: tuple[float, float] = (0.0, 0.0),
           twist_degrees: float = 0.0) -> np.ndarray:
    kind, encoder = ENCODINGS[name]
    rows: list[np.ndarray | None] = []
    for hand, path in zip(hands, paths, strict=True):
        if hand is None:
            rows.append(None)
            continue
        # as modes.landmark_matrix encodes view k (every other one as the other hand)
        handedness = view_handedness(hand.handedness, view if mirrored_views else 0)
        points = points_of(hand, kind, handedness)
        if points is not None and view:  # as modes.landmark_matrix seeds it
            rng = np.random.default_rng([view, zlib.crc32(path.name.encode())])
            if any(pose):
                points = pose_jitter(points, rng, *pose)
            if twist_degrees:
                points = twist(points, rng, twist_degrees)
            points = augment_landmarks(points, rng)
        rows.append(None if points is None else encoder(points))
    dim = len(next(r for r in rows if r is not None))
    return np.stack([np.zeros(dim) if r is None else r for r in rows]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encodings", default=",".join(ENCODINGS))
    parser.add_argument("--no-mirrored-views", action="store_true",
                        help="augmented views keep MediaPipe's handedness (before: every other "
                             "view is encoded as the other hand)")
    parser.add_argument("--pose-jitter", default="0/0", metavar="F/T",
                        help="bend training views' fingers by up to F degrees and the thumb by "
                             "up to T (default 0/0: off)")
    parser.add_argument("--twist", type=float, default=0.0, metavar="D",
                        help="turn training views about the hand's long axis by up to D degrees "
                             "(default 0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/landmark_encodings.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    names = list(SOURCES)
    pooled = pooled_features("landmarks", names)
    hands, paths, labels, sources = (pooled.features.hands, pooled.paths, pooled.labels,
                                     pooled.sources)
    classes = pooled.images.classes
    mode, recipe = get_mode("landmarks"), recipe_for_features("landmarks")
    results = {}
    mirrored = not args.no_mirrored_views
    pose = tuple(float(x) for x in args.pose_jitter.split("/"))
    for encoding in args.encodings.split(","):
        base = encode(encoding, hands, paths, 0)
        found = np.any(base != 0, axis=1)

        def views(_mode, k, rows, encoding=encoding):
            return encode(encoding, [hands[i] for i in rows], [paths[i] for i in rows], k,
                          mirrored, pose, args.twist), rows

        examples = Examples(base, labels, found, sources, remember_views(views, len(paths)))
        row: dict = {"dim": int(base.shape[1])}
        for k, source in enumerate(names):
            train = [i for i in range(len(paths)) if sources[i] != k and pooled.readable[i]]
            known = set(labels[train].tolist())
            test = [i for i in range(len(paths))
                    if sources[i] == k and pooled.readable[i] and labels[i] in known]
            fitter = HeadFitter(mode, recipe, len(classes), base.shape[1], seed=args.seed,
                                show_progress=False)
            fitter.fit(examples, train, [])
            row[source] = score(fitter, examples, classes, test, found)
        row["selection_mean"] = round(float(np.mean([row[s]["accuracy"] for s in SELECTION])), 4)
        row["reported_mean"] = round(float(np.mean([row[s]["accuracy"] for s in names
                                                    if s not in SELECTION])), 4)
        row["mean"] = round(float(np.mean([row[s]["accuracy"] for s in names])), 4)
        results[encoding] = row
        print(f"{encoding:<22} " + " ".join(f"{s} {row[s]['accuracy']:.1%}" for s in names)
              + f" | selection {row['selection_mean']:.1%}, reported {row['reported_mean']:.1%}",
              flush=True)
    chosen = max(results, key=lambda e: results[e]["selection_mean"])
    output = {"head": "landmarks", "recipe": recipe.to_dict(), "seed": args.seed,
              "mirrored_views": mirrored, "pose_jitter_degrees": list(pose),
              "twist_degrees": args.twist,
              "sources": {n: str(SOURCES[n].relative_to(SHARED)) for n in names},
              "selection_sources": list(SELECTION), "best_on_selection": chosen,
              "encodings": results, "seconds": round(time.perf_counter() - started)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    print(f"best on the selection sources: {chosen}")


if __name__ == "__main__":
    sys.exit(main())
