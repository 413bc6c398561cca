"""Stage two: unfreeze the backbone's last N blocks and train them with the head on images.

Stage one (the head on cached features) gives the head a good start; here the last blocks
adapt with a 10x lower learning rate than the head, on augmented images (a new augmented view
each epoch), in bfloat16 autocast on a GPU. BatchNorm statistics stay frozen: with small
batches, re-estimating them hurts more than it helps. The images are what the head reads:
whole photos, or the square around each photo's hand (``ImageRows.crops``: hand modes, where
every epoch's view also puts another room behind the hand, as the crop head's views do).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ..errors import FingerspellError
from ..features.backbones import FrozenBackbone, VGGConvBase, state_dict_digest
from ..features.extract import DecodedImages, HandCrops, default_workers
from ..head.heads import MLPHead
from ..head.recipes import Recipe
from ..progress import bar
from .checkpoints import (
    epoch_name,
    link_checkpoint,
    load_checkpoint,
    prune_epochs,
    save_checkpoint,
)
from .distributed import Dist
from .loop import LrPlan

LAST = "finetune_last.pt"
BEST = "finetune_best.pt"


@dataclass
class ImageRows:
    """Photos to fine-tune on: paths, class indices and, for hand modes, each photo's hand
    (the crop the head reads; the whole photo where none was found)."""

    paths: list[Path]
    labels: np.ndarray
    crops: HandCrops | None = None


def backbone_blocks(net: nn.Module) -> list[list[str]]:
    """Parameter names of the backbone's blocks, input side first."""
    if isinstance(net, VGGConvBase):
        blocks: list[list[str]] = [[]]
        for index, layer in enumerate(net.features):
            if isinstance(layer, nn.MaxPool2d):
                blocks.append([])
            blocks[-1] += [f"features.{index}.{n}" for n, _ in layer.named_parameters()]
        return [b for b in blocks if b]
    if hasattr(net, "parameter_groups"):
        return net.parameter_groups()
    if hasattr(net, "group_matcher"):
        from timm.models import group_parameters
        groups = group_parameters(net, net.group_matcher(coarse=False))
        return [groups[k] for k in sorted(groups)]
    raise FingerspellError(f"fine-tuning does not know the blocks of {type(net).__name__}")


def last_blocks(backbone: FrozenBackbone, n_blocks: int) -> list[list[str]]:
    """The parameter names of the last ``n_blocks`` blocks; a one-line error if there are fewer."""
    blocks = backbone_blocks(backbone.net)
    if not 1 <= n_blocks <= len(blocks):
        raise FingerspellError(f"--finetune {n_blocks}: backbone {backbone.spec.name} has "
                               f"{len(blocks)} blocks")
    return blocks[-n_blocks:]


def unfreeze_last_blocks(backbone: FrozenBackbone, n_blocks: int) -> list[nn.Parameter]:
    blocks = last_blocks(backbone, n_blocks)
    names = {name for block in blocks for name in block}
    parameters = []
    for name, parameter in backbone.net.named_parameters():
        parameter.requires_grad_(name in names)
        if name in names:
            parameters.append(parameter)
    return parameters


class _Network(nn.Module):
    def __init__(self, backbone: FrozenBackbone, head: MLPHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images).float())


def _loader(rows: ImageRows, backbone: FrozenBackbone, view: int, batch_size: int,
            shuffle: bool, seed: int, workers: int | None, dist: Dist | None = None) -> DataLoader:
    workers = default_workers() if workers is None else workers
    dataset = DecodedImages(rows.paths, backbone.spec.preprocessing, view, rows.crops)
    if dist is not None and dist.active:  # each rank takes its share of every epoch
        sampler = DistributedSampler(dataset, num_replicas=dist.world, rank=dist.rank,
                                     shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                          pin_memory=torch.cuda.is_available())
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=torch.Generator().manual_seed(seed) if shuffle else None,
                      pin_memory=torch.cuda.is_available())


@dataclass
class FinetuneResult:
    """What fine-tuning did: one history row per epoch, the best epoch and its validation
    accuracy and probabilities (in ``val`` order; None if no epoch ran), and its wall time."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_val_acc: float
    val_probs: torch.Tensor | None
    seconds: float


@dataclass
class _Progress:
    """Fine-tuning's state between epochs (what ``finetune_last.pt`` holds)."""

    optimizer: torch.optim.Optimizer
    plan: LrPlan
    schedule: torch.optim.lr_scheduler.LRScheduler
    history: list[dict[str, Any]]
    done: int = 0  # fine-tuning epochs finished
    best_epoch: int = 0
    best_acc: float = -1.0
    best_weights: dict[str, Any] | None = None


def finetune(backbone: FrozenBackbone, head: MLPHead, recipe: Recipe, *,
             train: ImageRows, val: ImageRows, checkpoint_dir: Path, device: torch.device,
             seed: int, first_epoch: int, keep_epochs: int | None, workers: int | None,
             show_progress: bool, dist: Dist | None = None) -> FinetuneResult:
    """Fine-tune in place (the best epoch's weights are kept).

    Resumes from ``checkpoint_dir/finetune_last.pt`` when present. Epoch numbers continue
    after stage one's (``first_epoch`` is the first fine-tuning epoch). Under torchrun
    (``dist``), gradients are averaged by DDP and only rank 0 writes checkpoints.
    """
    dist = dist or Dist()
    started = time.perf_counter()
    backbone_params = unfreeze_last_blocks(backbone, recipe.finetune_blocks)
    network = _Network(backbone, head).to(device)
    backbone.place(device)
    trainer: nn.Module = network
    if dist.active:
        trainer = nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None)
    state = _start(backbone, head, backbone_params, recipe, len(train.paths), checkpoint_dir)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                              enabled=device.type == "cuda")
    seen_as = " on hand crops" if train.crops is not None else ""
    progress = bar(desc=f"fine-tune {backbone.spec.name} (last {recipe.finetune_blocks} blocks)"
                        f"{seen_as}",
                   total=max(0, recipe.finetune_epochs - state.done) * len(train.paths),
                   unit="img", enabled=show_progress and dist.is_main)
    with progress:
        for round_ in range(state.done + 1, recipe.finetune_epochs + 1):
            epoch = first_epoch + round_ - 1
            epoch_start = time.perf_counter()
            head.train()  # the backbone's normalisation statistics stay as they were
            loader = _loader(train, backbone, round_, recipe.batch_size, True,
                             seed + round_, workers, dist)
            train_loss, train_acc = _train_epoch(trainer, loader, train.labels, state, recipe,
                                                 device, autocast,
                                                 lambda n: progress.update(n * dist.world))
            val_loss, val_acc, val_probs = _validate(network, val, backbone, recipe, device,
                                                     autocast, workers)
            state.history.append({
                "epoch": epoch, "stage": "finetune", "train_loss": round(train_loss, 5),
                "train_acc": round(train_acc, 5), "val_loss": round(val_loss, 5),
                "val_acc": round(val_acc, 5), "lr": state.optimizer.param_groups[1]["lr"],
                "seconds": round(time.perf_counter() - epoch_start, 3)})
            _end_epoch(state, backbone, head, epoch, round_, val_acc, val_probs,
                       checkpoint_dir, keep_epochs, write=dist.is_main)
    best = state.best_weights
    if best is not None:
        backbone.net.load_state_dict(best["backbone"])
        head.load_state_dict(best["head"])
    for parameter in backbone.net.parameters():
        parameter.requires_grad_(False)
    backbone.weights_id = state_dict_digest(backbone.net.state_dict())
    head.eval()
    return FinetuneResult(state.history, state.best_epoch, state.best_acc,
                          best["val_probs"] if best is not None else None,
                          round(time.perf_counter() - started, 2))


def _start(backbone: FrozenBackbone, head: MLPHead, backbone_params: list[nn.Parameter],
           recipe: Recipe, n_train: int, checkpoint_dir: Path) -> _Progress:
    """The optimiser (the backbone at a share of the head's rate) and its plan: a cosine over
    the fine-tuning epochs without warm-up, restored from ``finetune_last.pt`` when there is
    one (a finished run extended on resume continues its curve instead of starting over)."""
    optimizer = torch.optim.AdamW([
        {"params": backbone_params, "lr": recipe.finetune_lr * recipe.finetune_backbone_lr_scale},
        {"params": list(head.parameters()), "lr": recipe.finetune_lr}],
        weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(n_train / recipe.batch_size)
    plan_recipe = replace(recipe, epochs=recipe.finetune_epochs, warmup_epochs=0.0,
                          schedule="cosine")
    plan = LrPlan.fresh(plan_recipe, steps_per_epoch)
    last_path = checkpoint_dir / LAST
    if not last_path.is_file():
        return _Progress(optimizer, plan, plan.schedule(optimizer), [])
    saved = load_checkpoint(last_path)
    backbone.net.load_state_dict(saved["backbone"])
    head.load_state_dict(saved["head"])
    optimizer.load_state_dict(saved["optimizer"])
    done = int(saved["done"])
    plan = LrPlan.restored(plan_recipe, steps_per_epoch, saved.get("lr_plan"),
                           done * steps_per_epoch)
    schedule = plan.schedule(optimizer)
    schedule.load_state_dict(saved["schedule"])
    return _Progress(optimizer, plan, schedule, list(saved["history"]), done,
                     int(saved["best_epoch"]), float(saved["best_val_acc"]),
                     load_checkpoint(checkpoint_dir / BEST))


def _train_epoch(trainer: nn.Module, loader: DataLoader, labels: np.ndarray, state: _Progress,
                 recipe: Recipe, device: torch.device, autocast: torch.autocast,
                 advance: Callable[[int], Any]) -> tuple[float, float]:
    """One pass over the training images (unreadable ones left out); mean loss and accuracy."""
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    total_loss, correct, seen = 0.0, 0, 0
    for images, index, reasons in loader:
        good = torch.tensor([not r for r in reasons])
        if not good.any():
            continue
        images = images[good].to(device, non_blocking=True)
        targets = torch.from_numpy(labels[index[good].numpy()]).to(device)
        with autocast:
            logits = trainer(images)
            loss = loss_fn(logits.float(), targets)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.schedule.step()
        total_loss += loss.item() * len(targets)
        correct += int((logits.argmax(1) == targets).sum())
        seen += len(targets)
        advance(len(reasons))
    return total_loss / max(1, seen), correct / max(1, seen)


def _end_epoch(state: _Progress, backbone: FrozenBackbone, head: MLPHead, epoch: int,
               round_: int, val_acc: float, val_probs: torch.Tensor, checkpoint_dir: Path,
               keep_epochs: int | None, *, write: bool) -> None:
    """Keep the epoch's weights if best, and (rank 0) write its checkpoint, ``finetune_last.pt``
    (everything a resume needs) and the best link."""
    weights = {"epoch": epoch,
               "backbone": {k: v.detach().cpu().clone()
                            for k, v in backbone.net.state_dict().items()},
               "head": {k: v.detach().cpu().clone() for k, v in head.state_dict().items()},
               "val_probs": val_probs}
    improved = val_acc > state.best_acc
    if improved:
        state.best_epoch, state.best_acc, state.best_weights = epoch, val_acc, weights
    state.done = round_
    if not write:
        return
    epoch_file = "finetune_" + epoch_name(epoch)
    save_checkpoint(checkpoint_dir, epoch_file, weights)
    if improved:
        link_checkpoint(checkpoint_dir, epoch_file, BEST)
    save_checkpoint(checkpoint_dir, LAST, {
        **weights, "optimizer": state.optimizer.state_dict(),
        "schedule": state.schedule.state_dict(), "lr_plan": state.plan.to_dict(),
        "history": state.history, "done": round_,
        "best_epoch": state.best_epoch, "best_val_acc": state.best_acc})
    prune_epochs(checkpoint_dir, keep_epochs, pattern="finetune_epoch_*.pt")


@torch.no_grad()
def _validate(network: _Network, val: ImageRows, backbone: FrozenBackbone,
              recipe: Recipe, device: torch.device, autocast: torch.autocast,
              workers: int | None) -> tuple[float, float, torch.Tensor]:
    """Loss, accuracy and class probabilities (rows in ``val`` order) on the validation images."""
    probs = torch.zeros(len(val.paths), network.head.config.n_classes)
    if not val.paths:
        return math.nan, math.nan, probs
    network.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, index, reasons in _loader(val, backbone, 0, 64, False, 0, workers):
        good = torch.tensor([not r for r in reasons])
        if not good.any():
            continue
        targets = torch.from_numpy(val.labels[index[good].numpy()]).to(device)
        with autocast:
            logits = network(images[good].to(device)).float()
        total_loss += float(nn.functional.cross_entropy(logits, targets, reduction="sum"))
        correct += int((logits.argmax(1) == targets).sum())
        seen += len(targets)
        probs[index[good]] = logits.softmax(-1).cpu()
    return total_loss / max(1, seen), correct / max(1, seen), probs
