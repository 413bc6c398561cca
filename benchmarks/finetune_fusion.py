"""`train --finetune` on a fusion model, judged on a source it never saw (made for a GPU).

    python benchmarks/finetune_fusion.py --device cuda [--arms f1-frozen,f1-finetune,...]
                                         [--webcam-every 2] [--out results/finetune_fusion.json]

Each fold trains the default fusion on two shared sources with `fingerspell train` and scores
it with `fingerspell evaluate` on a third that it never saw:
- ``f1``: multi_signer + webcam_mit -> mon95 (3 people, 24 letters);
- ``f2``: mon95 + webcam_mit -> multi_signer (21 people, 10 letters).
Arms: ``frozen`` (no fine-tuning), ``finetune`` (``--finetune 17``: every block of
EfficientNet-Lite0, with the crop recipe's fine-tuning settings) and ``finetune-image-lr`` (the
same with the whole-image settings: head 3e-4, backbone 0.1x). ``--webcam-every 2`` keeps every
second webcam_mit photo (linked, not copied): the GPU run did, to fit the data it could carry.
Writes per arm the training's validation figures, the fine-tuning curve and the held-out
accuracy, calibration error and per-letter recall; arms already in ``--out`` are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SOURCES

FOLDS = {"f1": (["multi_signer", "webcam_mit"], "mon95"),
         "f2": (["mon95", "webcam_mit"], "multi_signer")}
ARMS = {"frozen": [], "finetune": ["--finetune", "17"],
        "finetune-image-lr": ["--finetune", "17", "--config", "IMAGE_LR"]}
IMAGE_LR = {"finetune_lr": 3e-4, "finetune_backbone_lr_scale": 0.1}
KEPT = ("best_val_acc", "head_only_val_acc", "finetune_val_acc", "finetune_kept",
        "finetune_seconds", "landmark_weight", "head_seconds", "feature_seconds", "n_train",
        "n_val", "device", "calibration_fit")


def natural(path: Path) -> list:
    """``A_2`` before ``A_10`` (as ``sort -V``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def thinned(source: Path, every: int, root: Path) -> Path:
    """Every ``every``-th photo of each class folder, as symbolic links under ``root``."""
    if every == 1:
        return source
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (root / folder.name).mkdir(parents=True)
        for photo in sorted(folder.iterdir(), key=natural)[::every]:
            (root / folder.name / photo.name).symlink_to(photo)
    return root


def fingerspell(*args: str) -> None:
    command = [sys.executable, "-m", "fingerspell", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def run_arm(name: str, data: dict[str, Path], work: Path, device: str) -> dict:
    fold, arm = name.split("-", 1)
    train_on, test_on = FOLDS[fold]
    extra = [str(work / "image_lr.json") if a == "IMAGE_LR" else a for a in ARMS[arm]]
    run = work / name
    started = time.perf_counter()
    fingerspell("train", *(str(data[s]) for s in train_on), "--out", str(run), "--device", device,
                *extra)
    fingerspell("evaluate", str(run), str(data[test_on]), "--device", device,
                "--json", str(work / f"{name}.json"))
    metrics = json.loads((run / "metrics.json").read_text())
    held_out = json.loads((work / f"{name}.json").read_text())
    return {"trained_on": train_on, "held_out_source": test_on, "flags": ARMS[arm],
            **{k: metrics.get(k) for k in KEPT},
            "finetune_history": [h for h in metrics["history"] if h.get("stage") == "finetune"],
            "held_out": {"accuracy": held_out["accuracy"], "n": held_out["n"],
                         "ece": (held_out.get("calibration") or {}).get("ece"),
                         "recall": {c: r["recall"] for c, r in held_out["per_class"].items()}},
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--arms", default="f1-frozen,f1-finetune,f2-frozen,f2-finetune,"
                                          "f1-finetune-image-lr,f2-finetune-image-lr")
    parser.add_argument("--webcam-every", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "finetune_fusion.json")
    args = parser.parse_args()
    names = args.arms.split(",")
    unknown = [n for n in names if n.split("-", 1)[0] not in FOLDS
               or n.split("-", 1)[-1] not in ARMS]
    if unknown:
        sys.exit(f"unknown arm {unknown[0]!r}: FOLD-ARM with FOLD in {list(FOLDS)}, "
                 f"ARM in {list(ARMS)}")
    missing = [str(p) for p in SOURCES.values() if not p.is_dir()]
    if missing:
        sys.exit(f"needs the shared sources: {missing[0]} is absent")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "image_lr.json").write_text(json.dumps(IMAGE_LR))
        data = {**SOURCES, "webcam_mit": thinned(SOURCES["webcam_mit"], args.webcam_every,
                                                 work / "webcam_mit")}
        for name in names:
            results.setdefault("arms", {})[name] = run_arm(name, data, work, args.device)
            results["webcam_every"] = args.webcam_every
            args.out.write_text(json.dumps(results, indent=1) + "\n")
            row = results["arms"][name]
            print(f"{name:24s} held out {row['held_out_source']}: "
                  f"{row['held_out']['accuracy']:.1%} (ECE {row['held_out']['ece']}), "
                  f"{row['seconds']:.0f} s")


if __name__ == "__main__":
    main()
