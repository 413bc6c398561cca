"""Training speed: the tutorial's recipe as it actually runs vs fingerspell's cached default.

(a) seed: VGG16 + the 8192-4096 head, forward and backward through the whole network for
    every batch of every epoch (the tutorial never froze VGG16), eager PyTorch, random weights.
    Far too slow on a CPU to run to the end: a few batches are timed after a warm-up and an
    epoch is extrapolated from them (the output says so).
(b) default: efficientnet-lite0 features extracted once (cold cache, decoding in workers),
    then the head trained for the same number of epochs; then a re-train on the warm cache.

Usage: python benchmarks/train_speed.py --images 870 [--epochs 15] [--data DIR] [--device cpu]
The last line printed is one JSON object; it is also written to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fingerspell.data import discover, load_rgb, split_samples
from fingerspell.features import FeatureCache, create_backbone, extract_features, resolve_device
from fingerspell.head import PRESETS
from fingerspell.training.loop import fit_head

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_alphabet" / "train"


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux reports KiB


def pick(images, n: int) -> list:
    """n images spread evenly over classes and frames."""
    by_class: dict[str, list] = {}
    for sample in images.samples:
        by_class.setdefault(sample.label, []).append(sample)
    per_class = max(1, n // len(by_class))
    chosen = []
    for samples in by_class.values():
        step = max(1, len(samples) // per_class)
        chosen.extend(samples[::step][:per_class])
    return chosen[:n]


def time_default(samples, epochs: int, device: torch.device, workers: int | None) -> dict:
    recipe = PRESETS["default"].with_overrides(epochs=epochs)
    backbone = create_backbone(recipe.backbone)
    paths = [s.path for s in samples]
    classes = sorted({s.label for s in samples})
    labels = torch.tensor([classes.index(s.label) for s in samples], device=device)
    split = split_samples(samples, seed=0)
    result: dict = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for phase in ("cold", "cached"):
            start = time.perf_counter()
            cache = FeatureCache(Path(cache_dir), backbone.cache_namespace)
            features = extract_features(backbone, paths, cache=cache, workers=workers,
                                        device=device, show_progress=phase == "cold")
            extract_s = time.perf_counter() - start
            x = torch.from_numpy(features.vectors).to(device)
            torch.manual_seed(0)
            head = recipe.make_head(x.shape[1], len(classes)).to(device)
            head.set_normalization(x[split.train])
            with tempfile.TemporaryDirectory() as checkpoints:
                fit = fit_head(head, recipe, x[split.train], labels[split.train], x[split.val],
                               labels[split.val], checkpoint_dir=Path(checkpoints), seed=0,
                               show_progress=False)
            total = time.perf_counter() - start
            result[phase] = {"extract_s": round(extract_s, 2), "head_s": round(fit.seconds, 2),
                             "total_s": round(total, 2), "val_acc": fit.best_val_acc}
            if phase == "cold":
                result["extract_images_per_s"] = round(len(paths) / extract_s, 1)
                result["head_epoch_s"] = round(fit.seconds / epochs, 3)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def time_seed(samples, n_images: int, epochs: int, batches: int, device: torch.device) -> dict:
    """Time full VGG16 + head training steps on real decoded images; extrapolate the run."""
    recipe = PRESETS["seed"]
    backbone = create_backbone("vgg16", weights="none")
    net = backbone.net.to(device)
    for parameter in net.parameters():  # as the tutorial ran it: nothing frozen
        parameter.requires_grad_(True)
    head = recipe.make_head(backbone.spec.feature_dim, 29).to(device)
    model = torch.nn.Sequential(net, head).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    pre = backbone.spec.preprocessing
    batch_images = [s.path for s in samples[: recipe.batch_size]]
    x = torch.from_numpy(np.stack([pre(load_rgb(p)) for p in batch_images])).to(device)
    y = torch.randint(0, 29, (len(x),), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        step()
    per_batch = (time.perf_counter() - start) / batches
    steps_per_epoch = math.ceil(n_images / recipe.batch_size)
    return {"timed_batches": batches, "batch_size": recipe.batch_size,
            "seconds_per_batch": round(per_batch, 3),
            "images_per_s": round(recipe.batch_size / per_batch, 2),
            "epoch_s_extrapolated": round(per_batch * steps_per_epoch, 1),
            "total_s_extrapolated": round(per_batch * steps_per_epoch * epochs, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=870)
    parser.add_argument("--epochs", type=int, default=15, help="epochs for both (tutorial: 15)")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed-batches", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"no data at {args.data}: pass --data DIR", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    samples = pick(discover(args.data), args.images)
    n = len(samples)
    print(f"{n} images from {args.data}, {args.epochs} epochs, {device}, "
          f"{torch.get_num_threads()} threads", flush=True)

    default = time_default(samples, args.epochs, device, args.workers)
    default_images_per_s = n * args.epochs / default["cold"]["total_s"]
    print(f"default: features {default['extract_images_per_s']} img/s, head "
          f"{default['head_epoch_s']} s/epoch, total {default['cold']['total_s']} s cold, "
          f"{default['cached']['total_s']} s on a warm cache, peak RSS {default['peak_rss_mb']} MB",
          flush=True)
    result = {"device": str(device), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
              "machine": platform.machine(), "torch": torch.__version__, "images": n,
              "epochs": args.epochs, "default": default,
              "default_images_per_s": round(default_images_per_s, 1),
              "peak_rss_mb": default["peak_rss_mb"]}
    if not args.skip_seed:
        seed = time_seed(samples, n, args.epochs, args.seed_batches, device)
        print(f"seed: {seed['images_per_s']} img/s measured over {seed['timed_batches']} batches "
              f"of {seed['batch_size']}; EXTRAPOLATED: {seed['epoch_s_extrapolated']} s/epoch, "
              f"{seed['total_s_extrapolated']} s for {args.epochs} epochs", flush=True)
        result.update(seed=seed, seed_images_per_s=seed["images_per_s"],
                      speedup=round(seed["total_s_extrapolated"] / default["cold"]["total_s"], 1),
                      seed_peak_rss_mb=round(peak_rss_mb(), 1))
    out = args.out or Path(__file__).parent / "results" / f"train_speed-{device.type}-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
