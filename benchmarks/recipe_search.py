"""Compare head recipes on cached features, on honest splits; prints a table, writes JSON.

Usage: python benchmarks/recipe_search.py [--data DIR] [--out benchmarks/results/recipes.json]

Splits measured: "random" (leaky, for contrast), "frame" (the default: blocks of the frame
index), and "session" (train on frames <= 1000, test on > 1000: other lighting sessions).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fingerspell.data import discover, split_samples
from fingerspell.features import FeatureCache, create_backbone, extract_features
from fingerspell.head import PRESETS
from fingerspell.training.loop import fit_head

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_alphabet" / "train"

CANDIDATES = {
    "default": PRESETS["default"].recipe("image"),
    "default with standardised features": replace(PRESETS["default"].recipe("image"), normalize=True),
    "MLP 512 + dropout 0.5, standardised": replace(PRESETS["default"].recipe("image"), normalize=True,
                                                   hidden=(512,), dropout=(0.5,)),
    "default without label smoothing": replace(PRESETS["default"].recipe("image"), label_smoothing=0.0),
    "default without feature dropout": replace(PRESETS["default"].recipe("image"), input_dropout=0.0),
    "default, lr 3e-3": replace(PRESETS["default"].recipe("image"), lr=3e-3),
    "linear, plain SGD lr 1e-3, batch 32, 15 epochs": replace(
        PRESETS["default"].recipe("image"), input_dropout=0.0, optimizer="sgd", lr=1e-3, weight_decay=0.0,
        schedule="constant", warmup_epochs=0.0, label_smoothing=0.0, batch_size=32, epochs=15),
}


def session_split(samples: list, cut: int = 1000) -> tuple[list[int], list[int]]:
    train = [i for i, s in enumerate(samples) if (s.frame or 0) <= cut]
    val = [i for i, s in enumerate(samples) if (s.frame or 0) > cut]
    return train, val


def run(recipe, x: torch.Tensor, y: torch.Tensor, train: list[int], val: list[int],
        seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    head = recipe.make_head(x.shape[1], int(y.max()) + 1)
    head.set_normalization(x[train])
    fit = fit_head(head, recipe, x[train], y[train], x[val], y[val],
                   seed=seed, show_progress=False)
    return fit.history[-1]["val_acc"], fit.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/recipes.json"))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    images = discover(args.data)
    backbone = create_backbone(PRESETS["default"].recipe("image").backbone)
    features = extract_features(backbone, [s.path for s in images.samples],
                                cache=FeatureCache(None, backbone.cache_namespace))
    x = torch.from_numpy(features.vectors)
    label_of = {c: i for i, c in enumerate(images.classes)}
    y = torch.tensor([label_of[s.label] for s in images.samples])

    splits = {}
    for strategy in ("random", "frame"):
        split = split_samples(images.samples, strategy=strategy, seed=0)
        splits[strategy] = (split.train, split.val)
    splits["session"] = session_split(images.samples)

    rows = []
    print(f"{'recipe':<48}" + "".join(f"{name:>10}" for name in splits) + f"{'head s':>9}",
          flush=True)
    for name, recipe in CANDIDATES.items():
        accuracies, seconds = {}, 0.0
        for split_name, (train, val) in splits.items():
            results = [run(recipe, x, y, train, val, seed) for seed in range(args.seeds)]
            accuracies[split_name] = round(float(np.mean([r[0] for r in results])), 4)
            seconds = float(np.mean([r[1] for r in results]))
        rows.append({"recipe": name, **accuracies, "head_seconds": round(seconds, 2),
                     "config": recipe.to_dict()})
        print(f"{name:<48}" + "".join(f"{accuracies[s]:>10.2%}" for s in splits)
              + f"{seconds:>9.1f}", flush=True)
    result = {"data": str(args.data), "n_images": len(images.samples),
              "backbone": backbone.spec.name, "seeds": args.seeds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    sys.exit(main())
