"""Image / crop / landmarks / fusion features side by side, on splits that users meet.

Usage: python benchmarks/feature_modes.py [--out benchmarks/results/feature_modes.json]

- "session": the shared Kaggle frames, train on frame index <= 1000, test on > 1000 (other
  lighting sessions of the same signer);
- "frame": the default frame-block split of the same photos;
- "signer": the shared multi-signer photos (10 letters, 21 people), 5 folds by signer: tested
  on people the model has never seen; "+kaggle" adds all Kaggle frames to training.

Each mode uses the recipe that ``fingerspell train --features MODE`` uses (fusion: a crop head
and a landmark head, probabilities averaged where a hand is found). Where no hand is
found, ``landmarks`` answers ``nothing`` (wrong on the multi-signer photos, which have no such
class and where this script trains no fallback head); ``crop`` and ``fusion`` see the whole
image, as ``predict`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fingerspell.choices import FEATURE_MODES
from fingerspell.data import discover, split_samples
from fingerspell.features import create_backbone
from fingerspell.features.feature_mode import FeatureMode, get_mode
from fingerspell.features.hands import HandSettings
from fingerspell.features.modes import FeaturePipeline
from fingerspell.features.onnx_runtime import choose_encoder
from fingerspell.head.recipes import recipe_for_features
from fingerspell.training.fitting import Examples, HeadFitter

SHARED = Path(__file__).resolve().parents[2] / "shared"
KAGGLE = SHARED / "data" / "asl_alphabet" / "train"
SIGNERS = SHARED / "data" / "multi_signer"
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"


def fit_and_score(mode: str, x: np.ndarray, y: np.ndarray, found: np.ndarray, train: list[int],
                  test: list[int], nothing: int | None, views: list[np.ndarray],
                  landmark_views: list[np.ndarray], seed: int = 0,
                  sources: np.ndarray | None = None) -> float:
    """The heads ``fingerspell train --features MODE`` fits (``HeadFitter``), scored on ``test``."""
    tables = {"landmarks": landmark_views, mode: views}  # view k of the rows, per mode

    def view(feature_mode: FeatureMode, k: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
        return tables[feature_mode.name][k - 1][rows], list(rows)

    feature_dim = (x.shape[1] - get_mode(mode).landmark_dim - 1 if mode == "fusion"
                   else x.shape[1])
    fitter = HeadFitter(mode, recipe_for_features(mode), int(y.max()) + 1, feature_dim,
                        seed=seed, show_progress=False)
    fitter.fit(Examples(x, y, found, sources, view), train, [])
    predicted = fitter.predict_proba(x[test]).argmax(1)
    if mode == "landmarks":  # the rule of Model.decide; no fallback head here: counted wrong
        predicted = np.where(found[test], predicted, -1 if nothing is None else nothing)
    return float((predicted == y[test]).mean())


def features(mode: str, paths: list[Path], pipeline_args: dict, views: int) -> tuple:
    pipeline = FeaturePipeline(mode, **pipeline_args)
    base = pipeline.compute(paths)
    extra = [pipeline.compute(paths, view=v).vectors for v in range(1, views + 1)]
    return base.vectors.astype(np.float32), base.found, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/feature_modes.json"))
    parser.add_argument("--modes", default=",".join(FEATURE_MODES))
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    if not (KAGGLE.is_dir() and SIGNERS.is_dir() and HAND_MODEL.is_file()):
        sys.exit(f"needs the shared photos and hand model under {SHARED}")
    backbone = create_backbone("efficientnet_lite0")
    encoder = choose_encoder(backbone, runtime="auto", device=torch.device("cpu"), cache_root=None)
    pipeline_args = dict(encoder=encoder, hand_model=HAND_MODEL, hand_settings=HandSettings(),
                         show_progress=False)
    kaggle, signers = discover(KAGGLE), discover(SIGNERS)
    classes = kaggle.classes
    label_of = {c.lower(): i for i, c in enumerate(classes)}
    nothing = label_of["nothing"]
    k_paths = [s.path for s in kaggle.samples]
    s_paths = [s.path for s in signers.samples]
    y_k = np.asarray([label_of[s.label.lower()] for s in kaggle.samples])
    y_s = np.asarray([label_of[s.label.lower()] for s in signers.samples])
    session_train = [i for i, s in enumerate(kaggle.samples) if (s.frame or 0) <= 1000]
    session_test = [i for i, s in enumerate(kaggle.samples) if (s.frame or 0) > 1000]
    frame = split_samples(kaggle.samples, strategy="frame", seed=0)
    signer_of = [s.signer for s in signers.samples]
    people = sorted(set(signer_of), key=lambda p: int(p) if p.isdigit() else p)
    folds = [people[k::5] for k in range(5)]

    rows = []
    header = f"{'features':<10}{'found':>7}{'session':>9}{'frame':>8}{'signer':>8}{'+kaggle':>9}"
    print(header, flush=True)
    for mode in args.modes.split(","):
        views = recipe_for_features(mode).augment_views
        x_k, found_k, views_k = features(mode, k_paths, pipeline_args, views)
        x_s, found_s, views_s = features(mode, s_paths, pipeline_args, views)
        marks_k = marks_s = []
        if mode == "fusion":  # the landmark half's jittered copies
            n_marks = recipe_for_features("landmarks").augment_views
            marks_k = features("landmarks", k_paths, pipeline_args, n_marks)[2]
            marks_s = features("landmarks", s_paths, pipeline_args, n_marks)[2]
        result = {"features": mode,
                  "hand_found": round(float(found_k[y_k != nothing].mean()), 4)}
        accuracy = {"session": [], "frame": [], "signer": [], "+kaggle": []}
        for seed in range(args.seeds):
            accuracy["session"].append(fit_and_score(mode, x_k, y_k, found_k, session_train,
                                                     session_test, nothing, views_k, marks_k,
                                                     seed))
            accuracy["frame"].append(fit_and_score(mode, x_k, y_k, found_k, frame.train,
                                                   frame.val, nothing, views_k, marks_k, seed))
            alone, merged = [], []
            for fold in folds:
                test = [i for i, p in enumerate(signer_of) if p in fold]
                train = [i for i, p in enumerate(signer_of) if p not in fold]
                alone.append(fit_and_score(mode, x_s, y_s, found_s, train, test, None, views_s,
                                           marks_s, seed) * len(test))
                # Kaggle frames added to training: rows after the multi-signer ones
                x_m = np.concatenate([x_s, x_k])
                y_m = np.concatenate([y_s, y_k])
                f_m = np.concatenate([found_s, found_k])
                v_m = [np.concatenate([a, b]) for a, b in zip(views_s, views_k, strict=True)]
                m_m = [np.concatenate([a, b]) for a, b in zip(marks_s, marks_k, strict=True)]
                train_m = train + list(range(len(x_s), len(x_m)))
                s_m = np.asarray([0] * len(x_s) + [1] * len(x_k))
                merged.append(fit_and_score(mode, x_m, y_m, f_m, train_m, test, nothing, v_m,
                                            m_m, seed, sources=s_m) * len(test))
            accuracy["signer"].append(sum(alone) / len(x_s))
            accuracy["+kaggle"].append(sum(merged) / len(x_s))
        result.update({k: round(float(np.mean(v)), 4) for k, v in accuracy.items()})
        rows.append(result)
        print(f"{mode:<10}{result['hand_found']:>7.1%}{result['session']:>9.1%}"
              f"{result['frame']:>8.1%}{result['signer']:>8.1%}{result['+kaggle']:>9.1%}",
              flush=True)
    output = {"kaggle": str(KAGGLE), "multi_signer": str(SIGNERS), "n_kaggle": len(k_paths),
              "n_multi_signer": len(s_paths), "seeds": args.seeds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
