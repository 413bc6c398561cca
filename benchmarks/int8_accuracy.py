"""Float vs int8 ONNX graphs of one trained run: validation/test accuracy and images/s.

Usage: python benchmarks/int8_accuracy.py RUN_DIR [--test DIR]
(first: fingerspell export RUN_DIR --int8). Writes benchmarks/results/int8.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fingerspell.data import discover, load_rgb
from fingerspell.features.onnx_runtime import OnnxEncoder
from fingerspell.infer import Model

SHARED_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_alphabet" / "test"


def accuracy(encoder: OnnxEncoder, model: Model, samples: list[tuple[Path, int]]) -> float:
    correct = 0
    for start in range(0, len(samples), 32):
        chunk = samples[start:start + 32]
        batch = np.stack([model.preprocessing(load_rgb(path)) for path, _ in chunk])
        predicted = encoder.run(batch)["probs"].argmax(1)
        correct += int(sum(p == label for p, (_, label) in zip(predicted, chunk, strict=True)))
    return correct / len(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--test", type=Path, default=SHARED_TEST)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "int8.json")
    args = parser.parse_args()
    model = Model.load(args.run, runtime="torch")
    index = {name.lower(): i for i, name in enumerate(model.classes)}
    config = json.loads((args.run / "config.json").read_text())
    held_out = set(json.loads((args.run / "split.json").read_text())["val"])
    sets = {"val": [(s.path, index[s.label.lower()]) for s in discover(config["data"]).samples
                    if str(s.path) in held_out]}
    if args.test.is_dir():
        sets["test"] = [(s.path, index[s.label.lower()]) for s in discover(args.test, min_classes=1).samples]
    result: dict[str, float] = {}
    for name, file in (("float", "model.onnx"), ("int8", "model.int8.onnx")):
        encoder = OnnxEncoder(args.run / "model" / file, model.backbone.spec, model.backbone.weights_id)
        for set_name, samples in sets.items():
            result[f"{name}_{set_name}_acc"] = round(accuracy(encoder, model, samples), 4)
        batch = np.random.default_rng(0).standard_normal((16, 3, 224, 224), dtype=np.float32)
        encoder.run(batch)
        start = time.perf_counter()
        for _ in range(5):
            encoder.run(batch)
        result[f"{name}_images_per_s"] = round(80 / (time.perf_counter() - start), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
