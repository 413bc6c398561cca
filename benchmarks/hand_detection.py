"""How often MediaPipe finds the hand, per retry step, per class, and never in empty frames.

Usage: python benchmarks/hand_detection.py [--out benchmarks/results/hand_detection.json]

For each detection setting (a single pass, then the retry ladder one step longer at a time,
and a lower palm threshold) it detects hands in the shared Kaggle frames and the multi-signer
photos, without a cache, in one process per core, and reports the share of hand photos where a
hand was found, the same for dark frames (index <= 300), hands "found" in the `nothing` frames
(false detections: must stay 0), the worst classes and the time per photo.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from fingerspell.data import discover
from fingerspell.features.hand_detection import detect_hands
from fingerspell.features.hands import HandSettings

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = {"kaggle": SHARED / "data" / "asl_alphabet" / "train",
        "multi_signer": SHARED / "data" / "multi_signer"}
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"
LADDER = ("pad", "contrast", "gamma", "pad_gamma")
SETTINGS = {
    "single pass": HandSettings(retries=()),
    "+ border": HandSettings(retries=LADDER[:1]),
    "+ contrast": HandSettings(retries=LADDER[:2]),
    "+ gamma": HandSettings(retries=LADDER[:3]),
    "+ border & gamma (default)": HandSettings(retries=LADDER),
    "default, threshold 0.3": HandSettings(retries=LADDER, min_confidence=0.3),
}


def measure(settings: HandSettings, name: str, step: int) -> dict:
    samples = discover(DATA[name]).samples[::step]
    started = time.perf_counter()
    found = detect_hands([s.path for s in samples], model=HAND_MODEL, settings=settings,
                         cache=None, show_progress=False).found
    seconds = time.perf_counter() - started
    hands = [i for i, s in enumerate(samples) if s.label != "nothing"]
    dark = [i for i in hands if samples[i].frame is not None and samples[i].frame <= 300]
    total = Counter(samples[i].label for i in hands)
    hit = Counter(samples[i].label for i in hands if found[i])
    worst = sorted((hit[c] / total[c], c) for c in total)[:6]
    empty = [i for i, s in enumerate(samples) if s.label == "nothing"]
    return {"photos": len(samples), "found": round(float(found[hands].mean()), 4),
            "found_dark": round(float(found[dark].mean()), 4) if dark and name == "kaggle" else None,
            "false_in_nothing": int(found[empty].sum()), "nothing_photos": len(empty),
            "worst": {c: round(r, 3) for r, c in worst},
            "ms_per_photo_wall": round(1000 * seconds / len(samples), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hand_detection.json"))
    parser.add_argument("--step", type=int, default=1, help="every step-th Kaggle photo")
    args = parser.parse_args()
    if not HAND_MODEL.is_file():
        sys.exit(f"needs the shared hand model: {HAND_MODEL}")
    rows = []
    print(f"{'setting':<28}{'Kaggle':>8}{'dark':>7}{'in nothing':>11}{'signers':>9}"
          f"{'ms/photo':>9}  worst Kaggle classes", flush=True)
    for label, settings in SETTINGS.items():
        kaggle = measure(settings, "kaggle", args.step)
        signers = measure(settings, "multi_signer", 1)
        rows.append({"setting": label, "settings": settings.to_dict(), "kaggle": kaggle,
                     "multi_signer": signers})
        worst = ", ".join(f"{c} {r:.0%}" for c, r in kaggle["worst"].items())
        print(f"{label:<28}{kaggle['found']:>8.1%}{kaggle['found_dark']:>7.1%}"
              f"{kaggle['false_in_nothing']:>6}/{kaggle['nothing_photos']:<4}"
              f"{signers['found']:>9.1%}{kaggle['ms_per_photo_wall']:>9.1f}  {worst}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"step": args.step, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
