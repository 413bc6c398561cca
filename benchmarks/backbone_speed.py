"""Feature-extraction speed per curated backbone: PyTorch vs ONNX Runtime, and end to end.

For each backbone (random weights: speed does not depend on them):
- the runtime's own limit: forward passes on pre-decoded tensors (batch 16), eager PyTorch
  (channels-last) and ONNX Runtime;
- end to end: ``extract_features`` on real photos (decoding in a worker process) with ONNX Runtime;
- head training: the default recipe (30 epochs) on 6,960 feature vectors of the backbone's size
  (the shared set's training split; random values: the time depends only on the shapes).

Usage: python benchmarks/backbone_speed.py [--images 160] [--data DIR] [--only NAME ...]
Writes benchmarks/results/backbones.json and the package's measured_speed.json, which
``fingerspell backbones`` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from fingerspell.data import discover
from fingerspell.features import create_backbone, extract_features, list_backbones
from fingerspell.features.onnx_runtime import cached_onnx_encoder
from fingerspell.head import PRESETS
from fingerspell.training.loop import fit_head

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_alphabet" / "train"
PACKAGE_TABLE = (Path(__file__).resolve().parents[1] / "src" / "fingerspell" / "features"
                 / "measured_speed.json")


def images_per_second(run, batch: torch.Tensor, min_seconds: float = 3.0) -> float:
    run(batch)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds or count < 2:
        run(batch)
        count += 1
    return len(batch) * count / (time.perf_counter() - start)


def head_seconds(feature_dim: int, n_train: int = 6960, n_val: int = 1740, classes: int = 29) -> float:
    recipe = PRESETS["default"].recipe("image")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_val, feature_dim, generator=generator).half()
    y = torch.randint(0, classes, (n_train + n_val,), generator=generator)
    head = recipe.make_head(feature_dim, classes)
    fit = fit_head(head, recipe, x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                   seed=0, show_progress=False)
    return fit.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "backbones.json")
    args = parser.parse_args()
    samples = discover(args.data).samples[:: max(1, 8700 // args.images)][: args.images]
    paths = [s.path for s in samples]
    rows = []
    print(f"{'backbone':<24}{'params M':>9}{'torch img/s':>13}{'onnx img/s':>12}{'end-to-end':>12}"
          f"{'head s':>8}", flush=True)
    for spec in list_backbones():
        if args.only and spec.name not in args.only:
            continue
        backbone = create_backbone(spec.name, weights="none").place(torch.device("cpu"))
        size = spec.preprocessing.size
        batch = torch.randn(16, 3, size, size)
        torch_ips = images_per_second(backbone.encode, batch)
        with tempfile.TemporaryDirectory() as cache:
            encoder = cached_onnx_encoder(backbone, Path(cache))
            onnx_ips = images_per_second(encoder.encode, batch)
            features = extract_features(encoder, paths, cache=None, show_progress=False)
        row = {"name": spec.name, "params_m": round(sum(p.numel() for p in backbone.parameters()) / 1e6, 1),
               "feature_dim": spec.feature_dim, "input": size,
               "torch_images_per_s": round(torch_ips, 1), "onnx_images_per_s": round(onnx_ips, 1),
               "end_to_end_images_per_s": round(len(paths) / features.seconds, 1),
               "head_train_s": round(head_seconds(spec.feature_dim), 1)}
        rows.append(row)
        print(f"{spec.name:<24}{row['params_m']:>9}{row['torch_images_per_s']:>13}"
              f"{row['onnx_images_per_s']:>12}{row['end_to_end_images_per_s']:>12}"
              f"{row['head_train_s']:>8}", flush=True)
    if args.only and args.out.exists():  # re-measured rows replace their old values
        fresh = {r["name"] for r in rows}
        rows = [r for r in json.loads(args.out.read_text())["rows"] if r["name"] not in fresh] + rows
    result = {"cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "images": len(paths), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    table = json.loads(PACKAGE_TABLE.read_text()) if PACKAGE_TABLE.exists() else {}
    table.update({r["name"]: {k: r[k] for k in ("params_m", "torch_images_per_s", "onnx_images_per_s")}
                  for r in rows})
    PACKAGE_TABLE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
