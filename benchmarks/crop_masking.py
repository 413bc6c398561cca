"""Does masking the background out of the hand crops help on people it has never seen?

Usage: OMP_NUM_THREADS=1 python benchmarks/crop_masking.py [--out benchmarks/results/crop_masking.json]

The fusion's crop head is weak on unseen sources (15-45% alone, generalisation.py --head-rules):
crops carry the training signers' skin, light and room. Here every crop, in training and in
testing, keeps only the hand (the landmarks' hull, widened as for the augmented views' new
rooms) on a flat grey, and the same leave-one-source-out folds are fitted twice, the crop head
without augmented views in both so that only the crops differ (the landmark head as today):
crops as today, and masked crops.
Reported per held-out source: each head alone and the mean (generalisation.head_rules).
Nothing here changes the default; it says whether masking is worth building into a mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import SOURCES, pooled_features
from fingerspell.data import load_rgb
from fingerspell.errors import ImageError
from fingerspell.features.crops import hand_crop, hand_outline, replace_background
from fingerspell.features.feature_mode import get_mode
from fingerspell.features.hands import HandSettings
from fingerspell.head.recipes import recipe_for_features
from fingerspell.training.fitting import Examples, HeadFitter
from generalisation import head_rules

GREY = (128, 128, 128)


def masked_crop_features(paths: list[Path], hands: list, encoder, margin: float,
                         vectors: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """``vectors`` with the crop part recomputed from background-masked crops (rows with a
    hand; the others keep their whole-image features, as the model does)."""
    out = vectors.copy()
    dim = encoder.spec.feature_dim
    rows, pixels = [], []
    rng = np.random.default_rng(0)  # unused by a plain background; replace_background wants one

    def flush() -> None:
        if rows:
            out[rows, :dim] = encoder.encode(np.stack(pixels))
            rows.clear()
            pixels.clear()

    for i, (path, hand) in enumerate(zip(paths, hands, strict=True)):
        if hand is None:
            continue
        try:
            image = load_rgb(path, min_decode_side=encoder.spec.preprocessing.size * 4)
        except ImageError:
            continue
        crop = replace_background(hand_crop(image, hand, margin),
                                  hand_outline(hand, image.size, margin), rng, plain=GREY)
        rows.append(i)
        pixels.append(encoder.spec.preprocessing(crop))
        if len(rows) == batch_size:
            flush()
    flush()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/crop_masking.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    names = list(SOURCES)
    mode = get_mode("fusion")
    recipe = replace(recipe_for_features(mode.name), augment_views=0)
    pooled = pooled_features(mode.name, names)
    images, paths, labels, sources = pooled.images, pooled.paths, pooled.labels, pooled.sources
    features, readable, views = pooled.features, pooled.readable, pooled.examples.views
    encoder, settings = pooled.encoder, HandSettings()
    masked = masked_crop_features(paths, features.hands, encoder, settings.margin,
                                  features.vectors)
    print(f"masked crops of {len(paths)} photos in {time.perf_counter() - started:.0f} s",
          flush=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for k, name in enumerate(names):
        train = [i for i in range(len(paths)) if sources[i] != k and readable[i]]
        known = set(labels[train].tolist())
        test = [i for i in range(len(paths)) if sources[i] == k and readable[i]
                and labels[i] in known]
        results[name] = {}
        for variant, vectors in (("crops as today", features.vectors), ("masked crops", masked)):
            examples = Examples(vectors, labels, features.found, sources, views)
            fitter = HeadFitter(mode, recipe, len(images.classes), pooled.feature_dim,
                                seed=0, show_progress=False)
            fitter.fit(examples, train, [])
            results[name][variant] = head_rules(fitter.fitted.head, examples, test,
                                                features.found)
            print(f"{name:<14} {variant:<15} {results[name][variant]}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"recipe": recipe.to_dict(), "results": results,
                                    "seconds": round(time.perf_counter() - started)},
                                   indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
