"""The head's training loop on cached features: epochs, validation, checkpoints, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..head.heads import MLPHead
from ..head.recipes import Recipe
from ..progress import bar
from ..threads import head_work
from .checkpoints import (
    BEST,
    LAST,
    epoch_name,
    link_checkpoint,
    load_checkpoint,
    prune_epochs,
    save_checkpoint,
)


@dataclass
class FitResult:
    head: MLPHead  # with the best epoch's weights loaded
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_acc: float
    resumed_from: int  # last completed epoch found on disk (0 = fresh start)
    seconds: float


def make_optimizer(head: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    parameters = [p for p in head.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r} (sgd or adamw)")


# Extending a finished cosine run (resume with more epochs) starts a gentle second cycle at least
# at this share of the recipe's learning rate: the first cycle ended near zero.
EXTENSION_LR_SHARE = 0.1


@dataclass(frozen=True)
class LrPlan:
    """The learning-rate factor per optimiser step: warm-up, then constant or cosine to zero at
    ``total``. A run extended on resume continues from ``anchor_step`` (where it stopped) with a
    cosine from ``anchor_factor`` to zero at the new end, so the rate never jumps back up to
    where a fresh plan of the new length would be."""

    recipe: Recipe
    steps_per_epoch: int
    total: int
    anchor_step: int = 0
    anchor_factor: float | None = None  # None: the plain plan

    @classmethod
    def fresh(cls, recipe: Recipe, steps_per_epoch: int) -> LrPlan:
        return cls(recipe, steps_per_epoch, max(1, recipe.epochs * steps_per_epoch))

    def factor(self, step: int) -> float:
        if self.anchor_factor is not None and step >= self.anchor_step:
            progress = min(1.0, (step - self.anchor_step) / max(1, self.total - self.anchor_step))
            return self.anchor_factor * 0.5 * (1 + math.cos(math.pi * progress))
        warmup = int(self.recipe.warmup_epochs * self.steps_per_epoch)
        if step < warmup:
            return (step + 1) / warmup
        if self.recipe.schedule == "cosine":
            progress = min(1.0, (step - warmup) / max(1, self.total - warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    @classmethod
    def restored(cls, recipe: Recipe, steps_per_epoch: int, saved: dict[str, Any] | None,
                 step: int) -> LrPlan:
        """The plan a checkpoint recorded (``to_dict``), continued at ``step`` with ``recipe``;
        runs of 0.1 recorded none: they ran one plain plan that ended at ``step``."""
        saved = saved or {"total": step}
        plan = cls(recipe, steps_per_epoch, int(saved["total"]), int(saved.get("anchor_step", 0)),
                   saved.get("anchor_factor"))
        return plan.resumed(recipe, step)

    def resumed(self, recipe: Recipe, step: int) -> LrPlan:
        """This plan for a run resumed at ``step`` with ``recipe`` (whose epochs may differ)."""
        total = max(1, recipe.epochs * self.steps_per_epoch)
        if total == self.total or recipe.schedule != "cosine":
            return LrPlan(recipe, self.steps_per_epoch, total, self.anchor_step,
                          self.anchor_factor)
        return LrPlan(recipe, self.steps_per_epoch, total, step,
                      max(self.factor(step), EXTENSION_LR_SHARE))

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "anchor_step": self.anchor_step,
                "anchor_factor": self.anchor_factor}

    def schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self.factor(step))


@torch.inference_mode()
def predict_logits(head: MLPHead, features: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    head.eval()
    return torch.cat([head(features[i:i + batch_size]) for i in range(0, len(features), batch_size)])


@dataclass
class EpochEnd:
    """What a callback sees after each epoch."""

    epoch: int
    history: list[dict[str, Any]]
    head_state: dict[str, torch.Tensor]  # this epoch's weights (CPU copies)
    improved: bool  # the new best epoch
    resume_state: dict[str, Any]  # everything needed to resume


class FitCallback:
    """Hooks into ``fit_head`` (like Ultralytics' callbacks): override what you need."""

    def restore(self) -> dict[str, Any] | None:
        """A ``resume_state`` saved earlier, to continue from (None: start fresh)."""
        return None

    def on_epoch_end(self, end: EpochEnd) -> None:
        """After each epoch; raising stops training (e.g. pruning a search trial)."""


class OnEpoch(FitCallback):
    """Calls ``function(history)`` after each epoch (the trainer writes metrics.json there)."""

    def __init__(self, function: Callable[[list[dict[str, Any]]], None]) -> None:
        self.function = function

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.function(end.history)


class Checkpoints(FitCallback):
    """``epoch_NNN.pt`` (head weights) and ``last.pt`` (everything to resume) every epoch,
    ``best.pt`` for the best validation accuracy, all written atomically in ``folder``; resumes
    from ``last.pt`` when it is there. ``keep_epochs`` keeps only the newest epoch files."""

    def __init__(self, folder: Path, keep_epochs: int | None = None, *, write: bool = True) -> None:
        self.folder = folder
        self.keep_epochs = keep_epochs
        self.write = write  # False: resume only (torchrun ranks other than 0)

    def restore(self) -> dict[str, Any] | None:
        if not (self.folder / LAST).is_file():
            return None
        state = load_checkpoint(self.folder / LAST)
        state["best_head"] = load_checkpoint(self.folder / BEST)["head"]
        return state

    def on_epoch_end(self, end: EpochEnd) -> None:
        if not self.write:
            return
        state = {"epoch": end.epoch, "head": end.head_state, "val_acc": end.history[-1]["val_acc"]}
        save_checkpoint(self.folder, epoch_name(end.epoch), state)
        if end.improved:
            link_checkpoint(self.folder, epoch_name(end.epoch), BEST)
        save_checkpoint(self.folder, LAST, end.resume_state)
        prune_epochs(self.folder, self.keep_epochs)


def fit_head(head: MLPHead, recipe: Recipe, x_train: torch.Tensor, y_train: torch.Tensor,
             x_val: torch.Tensor, y_val: torch.Tensor, *, seed: int,
             sample_weight: torch.Tensor | None = None, show_progress: bool = True,
             callbacks: Sequence[FitCallback] = ()) -> FitResult:
    """Train ``head`` for ``recipe.epochs`` and return it with the best validation epoch's
    weights. ``sample_weight`` (one per training row) weights the loss. ``callbacks`` see every
    epoch; the first whose ``restore`` returns a state resumes training from it
    (``Checkpoints`` saves and restores; without callbacks nothing is written).
    """
    with head_work(head):  # a default head: one thread, a second only waits (threads.py)
        return _fit_head(head, recipe, x_train, y_train, x_val, y_val, seed=seed,
                         sample_weight=sample_weight, show_progress=show_progress,
                         callbacks=callbacks)


def _train_epoch(head: MLPHead, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
                 batch_size: int, loss_fn: nn.Module, sample_weight: torch.Tensor | None,
                 optimizer: torch.optim.Optimizer, schedule: Any, progress: Any
                 ) -> tuple[float, int]:
    """One pass over the rows in ``order``: the summed loss and the right answers."""
    head.train()
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        logits = head(x[index])
        losses = loss_fn(logits, y[index])
        if sample_weight is None:
            loss = losses.mean()
        else:  # weighted mean: merged data folders count equally within a class
            weight = sample_weight[index]
            loss = (losses * weight).sum() / weight.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total_loss += loss.item() * len(index)
        correct += int((logits.argmax(1) == y[index]).sum())
        progress.update(1)
    return total_loss, correct


def _validate(head: MLPHead, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Validation loss and accuracy (NaN without validation rows)."""
    if not len(x):
        return math.nan, math.nan
    logits = predict_logits(head, x)
    return (float(nn.functional.cross_entropy(logits, y)),
            float((logits.argmax(1) == y).float().mean()))


@dataclass
class _HeadProgress:
    """A head fit's state between epochs: the optimiser, its plan, the shuffling generator, the
    history and the best epoch so far (what a callback's resume state holds)."""

    optimizer: torch.optim.Optimizer
    plan: LrPlan
    schedule: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    history: list[dict[str, Any]]
    best_state: dict[str, torch.Tensor]
    best_epoch: int = 0
    best_acc: float = -1.0
    best_loss: float = math.inf
    epoch: int = 0  # epochs finished

    def end_epoch(self, epoch: int, head: MLPHead, val_acc: float, val_loss: float) -> EpochEnd:
        """Keep the epoch's weights if best; what the callbacks see."""
        head_state = {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}
        # ties in accuracy (common on small validation sets) go to the lower loss: a
        # later, more confident epoch rather than the first one that got there
        improved = (val_acc > self.best_acc or math.isnan(val_acc)
                    or (val_acc == self.best_acc and val_loss < self.best_loss))
        if improved:
            self.best_epoch, self.best_acc, self.best_loss = epoch, val_acc, val_loss
            self.best_state = head_state
        self.epoch = epoch
        resume_state = {  # references, not copies: cheap to build every epoch
            "epoch": epoch, "head": head_state, "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(), "history": list(self.history),
            "best_epoch": self.best_epoch, "best_val_acc": self.best_acc,
            "best_val_loss": self.best_loss, "lr_plan": self.plan.to_dict()}
        return EpochEnd(epoch, self.history, head_state, improved, resume_state)


def _start_fit(head: MLPHead, recipe: Recipe, steps_per_epoch: int, seed: int,
               callbacks: Sequence[FitCallback]) -> _HeadProgress:
    """A fresh optimiser, plan and generator from ``seed``, or the state the first callback
    that has one restores (an interrupted run resumes exactly where it stopped)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(head, recipe)
    plan = LrPlan.fresh(recipe, steps_per_epoch)
    progress = _HeadProgress(optimizer, plan, plan.schedule(optimizer), generator, [],
                             {k: v.detach().cpu().clone() for k, v in head.state_dict().items()})
    state = next((saved for saved in (c.restore() for c in callbacks) if saved), None)
    if state is None:
        return progress
    head.load_state_dict(state["head"])
    optimizer.load_state_dict(state["optimizer"])
    progress.plan = LrPlan.restored(recipe, steps_per_epoch, state.get("lr_plan"),
                                    int(state["epoch"]) * steps_per_epoch)
    progress.schedule = progress.plan.schedule(optimizer)
    progress.schedule.load_state_dict(state["schedule"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    progress.history = list(state["history"])
    progress.best_epoch, progress.best_acc = int(state["best_epoch"]), float(state["best_val_acc"])
    progress.best_loss = float(state.get("best_val_loss", math.inf))
    progress.best_state = state["best_head"]
    progress.epoch = int(state["epoch"])
    return progress


def _fit_head(head: MLPHead, recipe: Recipe, x_train: torch.Tensor, y_train: torch.Tensor,
              x_val: torch.Tensor, y_val: torch.Tensor, *, seed: int,
              sample_weight: torch.Tensor | None, show_progress: bool,
              callbacks: Sequence[FitCallback]) -> FitResult:
    started = time.perf_counter()
    device = x_train.device
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    state = _start_fit(head, recipe, steps_per_epoch, seed, callbacks)
    resumed_from = state.epoch
    train_loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing,
                                        reduction="none")
    progress = bar(desc=f"head {head.config.in_dim}->{head.config.n_classes}",
                   total=max(0, recipe.epochs - resumed_from) * steps_per_epoch, unit="step",
                   enabled=show_progress)
    with progress:
        for epoch in range(resumed_from + 1, recipe.epochs + 1):
            epoch_start = time.perf_counter()
            order = torch.randperm(len(x_train), generator=state.generator).to(device)
            total_loss, correct = _train_epoch(head, x_train, y_train, order, recipe.batch_size,
                                               train_loss_fn, sample_weight, state.optimizer,
                                               state.schedule, progress)
            val_loss, val_acc = _validate(head, x_val, y_val)
            state.history.append({
                "epoch": epoch, "train_loss": round(total_loss / len(x_train), 5),
                "train_acc": round(correct / len(x_train), 5),
                "val_loss": round(val_loss, 5), "val_acc": round(val_acc, 5),
                "lr": state.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - epoch_start, 3)})
            progress.set_postfix(epoch=epoch, val_acc=f"{val_acc:.3f}")
            end = state.end_epoch(epoch, head, val_acc, val_loss)
            for callback in callbacks:
                callback.on_epoch_end(end)

    head.load_state_dict(state.best_state)
    head.eval()
    return FitResult(head, state.history, state.best_epoch,
                     float(np.nan_to_num(state.best_acc)), resumed_from,
                     time.perf_counter() - started)
