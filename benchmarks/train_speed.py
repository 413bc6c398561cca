"""Training speed: the tutorial's recipe as it actually runs vs what ``fingerspell train`` runs.

(a) seed: VGG16 + the 8192-4096 head, forward and backward through the whole network for
    every batch of every epoch (the tutorial never froze VGG16), eager PyTorch, random weights.
    Far too slow on a CPU to run to the end: a few batches are timed after a warm-up and an
    epoch is extrapolated from them (the output says so).
(b) default: the real default of ``fingerspell train`` (fusion features: MediaPipe hand
    detection, efficientnet-lite0 on the hand crops, one augmented view, jittered landmark
    copies, the crop head and the landmark head, its own epochs), timed per stage on a cold
    cache, then end to end as a user runs it: ``fingerspell.train`` on a cold cache, and again
    on the warm cache.

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
from fingerspell.features import create_backbone, resolve_device
from fingerspell.features.feature_mode import get_mode
from fingerspell.features.hands import HandSettings
from fingerspell.features.modes import FeaturePipeline
from fingerspell.features.onnx_runtime import choose_encoder
from fingerspell.head import PRESETS
from fingerspell.head.recipes import recipe_for_features
from fingerspell.training.fitting import Examples, HeadFitter
from fingerspell.training.run_features import RunFeatures

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_alphabet" / "train"
HAND_MODEL = SHARED.parents[2] / "models" / "hand_landmarker.task"


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


def time_default(samples, device: torch.device, workers: int | None) -> dict:
    """Stages of the default recipe on a cold cache, then ``fingerspell.train`` cold and warm."""
    import fingerspell
    recipe = recipe_for_features("fusion")
    paths = [s.path for s in samples]
    classes = sorted({s.label for s in samples})
    labels = np.asarray([classes.index(s.label) for s in samples])
    split = split_samples(samples, seed=0)
    result: dict = {"features": "fusion", "recipe_epochs": {"crop head": recipe.epochs,
                                                            "landmark head": 60}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        for sample in samples:  # the picked photos as a folder that `train` takes
            (data / sample.label).mkdir(parents=True, exist_ok=True)
            (data / sample.label / sample.path.name).symlink_to(sample.path)
        stages: dict[str, float] = {}
        backbone = create_backbone(recipe.backbone)
        encoder = choose_encoder(backbone, runtime="auto", device=device, cache_root=root / "s")
        extract = RunFeatures(encoder, hand_model=HAND_MODEL, hand_settings=HandSettings(),
                              cache_dir=root / "s", workers=workers, device=device,
                              show_progress=False)
        fusion, marks = get_mode("fusion"), get_mode("landmarks")
        pipeline = FeaturePipeline(fusion, encoder, hand_model=HAND_MODEL, cache_root=root / "s",
                                   workers=workers, device=device, show_progress=False)
        start = time.perf_counter()
        pipeline.detect(paths)
        stages["hands"] = time.perf_counter() - start
        start = time.perf_counter()
        features = extract(fusion, paths)  # hands now cached: the crops and their features
        stages["crops"] = time.perf_counter() - start
        start = time.perf_counter()
        extract(fusion, paths, 1)
        stages["augmented view"] = time.perf_counter() - start
        start = time.perf_counter()
        for k in range(1, recipe_for_features("landmarks").augment_views + 1):
            extract(marks, paths, k)
        stages["landmark copies"] = time.perf_counter() - start
        fitter = HeadFitter(fusion, recipe, len(classes), backbone.spec.feature_dim,
                            device=device, show_progress=False)
        start = time.perf_counter()
        fitted = fitter.fit(Examples(features.vectors, labels, features.found,
                                     views=extract.views(paths)), split.train, split.val)
        stages["heads"] = time.perf_counter() - start
        result["stages_s"] = {k: round(v, 2) for k, v in stages.items()}
        result["stages_total_s"] = round(sum(stages.values()), 2)
        result["val_acc_heads"] = round(fitted.val_acc, 4)
        for phase in ("cold", "cached"):
            start = time.perf_counter()
            run = fingerspell.train(data, root / "run", force=phase == "cached",
                                    cache_dir=root / "c", workers=workers, device=str(device),
                                    hand_model=HAND_MODEL, show_progress=False)
            result[phase] = {"total_s": round(time.perf_counter() - start, 2),
                             "features_s": run.metrics.feature_seconds,
                             "heads_s": run.metrics.head_seconds,
                             "features_computed": run.metrics.features_computed,
                             "val_acc": round(run.val_accuracy, 4)}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def time_seed(samples, n_images: int, epochs: int, batches: int, device: torch.device) -> dict:
    """Time full VGG16 + head training steps on real decoded images; extrapolate the run."""
    recipe = PRESETS["seed"].recipe()
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
    parser.add_argument("--epochs", type=int, default=15,
                        help="epochs of the tutorial's recipe (15); the default runs its own")
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

    default = time_default(samples, device, args.workers)
    print(f"default (fusion): stages {default['stages_s']} = {default['stages_total_s']} s; "
          f"fingerspell.train {default['cold']['total_s']} s cold, {default['cached']['total_s']} s "
          f"on a warm cache, peak RSS {default['peak_rss_mb']} MB", flush=True)
    result = {"device": str(device), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
              "machine": platform.machine(), "torch": torch.__version__, "images": n,
              "tutorial_epochs": args.epochs, "default": default,
              "default_images_per_s": round(n / default["cold"]["total_s"], 1),
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
