"""What the out-of-source folds cost, and what fewer epochs would change in what they decide.

Usage: python benchmarks/fold_speed.py [--sources kaggle,webcam_mit,...] [--epochs 30,15,10]
                                       [--out benchmarks/results/fold_speed.json]

With several data folders, ``train`` fits the default recipe's heads once more without each
folder (``training/source_calibration.out_of_source_folds``) to choose the fusion's landmark
weight and the temperature on answers about unseen sources: in ``make demo`` (seven folders)
that took longer than everything else. This script pools the sources (features from the cache,
as ``train`` computes them; views kept in memory as ``train`` now keeps them), fits the folds with
the crop head's recipe epochs and with fewer (the landmark head keeps its own), and prints
for each: seconds, the chosen landmark weight with every candidate's score, the temperature and
the calibration error on the folds' answers. Fewer epochs are worth it only where the weight
and the temperature stay what the full folds choose.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import SOURCES, pooled_features, require_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--epochs", default="30,15,10")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fold_speed.json"))
    args = parser.parse_args()
    require_shared()
    from fingerspell.head.calibration import calibration_record
    from fingerspell.head.recipes import recipe_for_features
    from fingerspell.training.fitting import HeadFitter
    from fingerspell.training.fusion_weight import choose_landmark_weight
    from fingerspell.training.source_calibration import fold_answers, out_of_source_folds

    names = args.sources.split(",")
    pooled = pooled_features("fusion", names)
    rows = [i for i in range(len(pooled.paths)) if pooled.readable[i]]
    recipe = recipe_for_features("fusion")
    results = {}
    for epochs in [int(e) for e in args.epochs.split(",")]:
        fitter = HeadFitter(pooled.mode, replace(recipe, epochs=epochs),
                            len(pooled.images.classes), pooled.feature_dim, seed=0,
                            show_progress=False)
        started = time.perf_counter()
        folds = out_of_source_folds(fitter, pooled.examples, rows, show_progress=False)
        seconds = time.perf_counter() - started
        weight, scores = choose_landmark_weight(folds, pooled.examples)
        record = calibration_record(*fold_answers(folds, pooled.examples, weight), "folds")
        results[str(epochs)] = {"seconds": round(seconds, 1), "landmark_weight": weight,
                                "weight_scores": scores,
                                "temperature": record["temperature"],
                                "ece_after": record["ece_after"]}
        print(f"{epochs:>3} epochs  {seconds:7.1f} s  weight {weight}  temperature "
              f"{record['temperature']}  ECE {record['ece_after']}  scores {scores}", flush=True)
        # written after each setting: a run stopped early keeps what it measured
        result = {"sources": names, "photos": len(rows), "recipe_epochs": recipe.epochs,
                  "landmark_recipe_epochs": recipe_for_features("landmarks").epochs,
                  "cores": 2, "results": results}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
