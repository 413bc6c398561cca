"""How often MediaPipe finds the hand, per retry step, per source, and never in empty frames.

Usage: python benchmarks/hand_detection.py [--step N] [--out benchmarks/results/hand_detection.json]

The default retry ladder runs once over every shared source (no cache, one process per core);
each hand records the pass that found it (``Hand.attempt``), and the ladder stops at its first
hit, so a ladder cut after k retries finds exactly the hands found at attempt <= k: every row
below the first is read off that one run. A lower palm threshold is a run of its own. Reported
per source: the share of hand photos where a hand was found, the same for the Kaggle dark
frames (index <= 300), hands "found" in the Kaggle `nothing` frames (false detections: must
stay 0 or near it), the worst Kaggle classes, and the time per photo of the full ladder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from common import HAND_MODEL, SOURCES
from fingerspell.data import discover
from fingerspell.features.hand_detection import detect_hands
from fingerspell.features.hands import HandSettings

LADDER = HandSettings().retries
STEP_NAMES = {"pad": "+ border", "contrast": "+ contrast", "gamma": "+ gamma",
              "pad_gamma": "+ border & gamma", "pad_wide": "+ wide border",
              "pad_wide_gamma": "+ wide border & gamma", "pad_1x": "+ border 1x the side",
              "pad_1.5x": "+ border 1.5x (default)"}


def detect(settings: HandSettings, name: str, step: int) -> tuple[list, np.ndarray, float]:
    """(samples, attempt per photo (-1: no hand), seconds per photo) for one source."""
    samples = discover(SOURCES[name]).samples[::step if name == "kaggle" else 1]
    started = time.perf_counter()
    hands = detect_hands([s.path for s in samples], model=HAND_MODEL, settings=settings,
                         cache=None, show_progress=False).hands
    seconds = (time.perf_counter() - started) / len(samples)
    return samples, np.asarray([-1 if h is None else h.attempt for h in hands]), seconds


def summarise(samples: list, attempts: np.ndarray, passes: int, name: str) -> dict:
    """What a ladder of ``passes`` passes finds in source ``name``."""
    found = (attempts >= 0) & (attempts < passes)
    hands = [i for i, s in enumerate(samples) if s.label != "nothing"]
    empty = [i for i, s in enumerate(samples) if s.label == "nothing"]
    # the Kaggle frames' index follows the light: the first 300 are the dark ones
    dark = [i for i in hands if name == "kaggle" and (samples[i].frame or 301) <= 300]
    total = Counter(samples[i].label for i in hands)
    hit = Counter(samples[i].label for i in hands if found[i])
    worst = sorted((hit[c] / total[c], c) for c in total)[:6]
    return {"photos": len(samples), "found": round(float(found[hands].mean()), 4),
            "found_dark": round(float(found[dark].mean()), 4) if dark else None,
            "false_in_nothing": int(found[empty].sum()) if empty else None,
            "worst": {c: round(r, 3) for r, c in worst}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hand_detection.json"))
    parser.add_argument("--step", type=int, default=1, help="every step-th Kaggle photo")
    args = parser.parse_args()
    if not HAND_MODEL.is_file():
        sys.exit(f"needs the shared hand model: {HAND_MODEL}")
    names = [n for n in SOURCES if SOURCES[n].is_dir()]
    runs = {"ladder": HandSettings(), "threshold 0.3": HandSettings(min_confidence=0.3)}
    detected = {run: {n: detect(settings, n, args.step) for n in names}
                for run, settings in runs.items()}
    rows = []
    for passes in range(1, len(LADDER) + 2):
        label = "single pass" if passes == 1 else STEP_NAMES[LADDER[passes - 2]]
        rows.append({"setting": label, "retries": list(LADDER[:passes - 1]),
                     **{n: summarise(*detected["ladder"][n][:2], passes, n) for n in names}})
    rows.append({"setting": "default, threshold 0.3", "retries": list(LADDER),
                 **{n: summarise(*detected["threshold 0.3"][n][:2], len(LADDER) + 1, n)
                    for n in names}})
    print(f"{'setting':<34}" + "".join(f"{n[:12]:>13}" for n in names) + "  in nothing")
    for row in rows:
        print(f"{row['setting']:<34}" + "".join(f"{row[n]['found']:>13.1%}" for n in names)
              + f"  {row['kaggle']['false_in_nothing']}")
    ms = {n: round(1000 * detected["ladder"][n][2], 2) for n in names}
    print("ms per photo (full ladder, wall, all cores):", ms)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"step": args.step, "ladder": list(LADDER),
                                    "ms_per_photo_wall": ms, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
