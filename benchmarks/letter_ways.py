"""Letters signed in more than one way: does a head that holds several prototypes per letter
read new people better than the landmark head alone?

Usage: python benchmarks/letter_ways.py [--out benchmarks/results/letter_ways.json]

Leave one source out over the seven shared sources (the default fusion recipe, the landmark
weight fixed at the built-in's 0.8 to spare the folds that choose it: about 14 minutes on 2
cores). For each held-out source, the training hands of each letter are clustered (k-means, m
clusters) in the landmark head's hidden layer ("hidden") or in its standardised input
("encoding"); a photo's similarity to a letter is its cosine to the nearest of that letter's
clusters, softmax at temperature tau, blended with the landmark head's probabilities at beta.
m = 1 is one prototype per letter; m = 16 comes close to a nearest-neighbour vote. Selection
sources (the setting one would choose on): multi_signer and mon95; the others are reported.
Prints and writes, per setting, accuracy per held-out source and the pooled recall of the
letters the sources sign differently (T, C, M, N, K, S, X).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import SOURCES, fit_heads, pooled_features
from fingerspell.head.heads import LateFusionHead

HARD = ("T", "C", "M", "N", "K", "S", "X")
SELECTION = ("multi_signer", "mon95")
SETTINGS = [("head", 1, 0.0, 1.0)] + [(space, m, beta, tau) for space in ("hidden", "encoding")
                                      for m in (1, 4, 8, 16) for beta in (0.3, 0.5)
                                      for tau in (0.05, 0.1)]


def kmeans(points: np.ndarray, m: int, iterations: int = 30, seed: int = 0) -> np.ndarray:
    if len(points) <= m:
        return points.copy()
    rng = np.random.default_rng(seed)
    centres = points[rng.choice(len(points), m, replace=False)]
    for _ in range(iterations):
        nearest = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        for j in range(m):
            if (nearest == j).any():
                centres[j] = points[nearest == j].mean(0)
    return centres


def embed(head: LateFusionHead, vectors: np.ndarray, space: str) -> np.ndarray:
    start = head.crop.config.in_dim
    marks = head.landmarks
    x = torch.from_numpy(vectors[:, start:start + marks.config.in_dim])
    x = (x - marks.feature_mean) / marks.feature_std
    if space == "hidden":
        with torch.no_grad():
            x = marks.layers[:-1](x)
    return torch.nn.functional.normalize(x, dim=1).numpy()


def answers(head: LateFusionHead, vectors: np.ndarray, labels: np.ndarray, train: np.ndarray,
            test: np.ndarray, n_classes: int, setting: tuple) -> np.ndarray:
    space, m, beta, tau = setting
    with torch.no_grad():
        p_crop, p_marks, found = head.parts(torch.from_numpy(vectors[test]))
    if beta:
        train_points, test_points = embed(head, vectors[train], space), embed(head, vectors[test], space)
        nearest = np.full((len(test), n_classes), -np.inf)
        for letter in np.unique(labels[train]):
            centres = kmeans(train_points[labels[train] == letter], m)
            centres /= np.linalg.norm(centres, axis=1, keepdims=True)
            nearest[:, letter] = (test_points @ centres.T).max(1)
        ways = torch.from_numpy(nearest / tau).softmax(1).float()
        p_marks = (1 - beta) * p_marks + beta * ways
    return LateFusionHead.mix(p_crop, p_marks, found, head.landmark_weight).argmax(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/letter_ways.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    pooled = pooled_features("fusion", list(SOURCES))
    vectors = pooled.examples.vectors.astype(np.float32)
    labels, sources = pooled.labels, pooled.sources
    found = vectors[:, -1] > 0.5
    classes = pooled.images.classes
    predicted: dict[str, dict[str, np.ndarray]] = {}
    truth: dict[str, np.ndarray] = {}
    for k, name in enumerate(SOURCES):
        others = [i for i in range(len(labels)) if sources[i] != k]
        head = fit_heads(pooled, others, landmark_weight=0.8).fitted.head.eval()
        train = np.where((sources != k) & pooled.readable & found)[0]
        test = np.where((sources == k) & pooled.readable)[0]
        truth[name] = labels[test]
        predicted[name] = {repr(s): answers(head, vectors, labels, train, test, len(classes), s)
                           for s in SETTINGS}
        print(f"{name}: head fitted and every setting scored "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    rows = []
    for setting in SETTINGS:
        key = repr(setting)
        accuracy = {n: round(float((predicted[n][key] == truth[n]).mean()), 4) for n in SOURCES}
        pred = np.concatenate([predicted[n][key] for n in SOURCES])
        true = np.concatenate([truth[n] for n in SOURCES])
        recall = {h: round(float((pred[true == classes.index(h)] == classes.index(h)).mean()), 4)
                  for h in HARD}
        row = {"space": setting[0], "prototypes_per_letter": setting[1], "beta": setting[2],
               "temperature": setting[3], "accuracy": accuracy,
               "selection_mean": round(float(np.mean([accuracy[n] for n in SELECTION])), 4),
               "mean": round(float(np.mean(list(accuracy.values()))), 4), "recall": recall}
        rows.append(row)
        print(f"{setting[0]:<8} m={setting[1]:<2} beta={setting[2]:<3} tau={setting[3]:<4} "
              f"selection {row['selection_mean']:.1%} mean {row['mean']:.1%} | "
              + " ".join(f"{h} {v:.0%}" for h, v in recall.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"selection_sources": SELECTION, "landmark_weight": 0.8,
                                    "rows": rows,
                                    "seconds": round(time.perf_counter() - started)},
                                   indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
