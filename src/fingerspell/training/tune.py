"""``fingerspell tune``: search head hyper-parameters (and the backbone) on cached features.

Each trial trains a head on cached features in seconds, so a 50-trial Optuna search takes
minutes on a CPU. Bad trials are pruned early by their validation accuracy per epoch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_json
from ..data.layout import discover
from ..data.split import split_samples
from ..errors import FingerspellError
from ..features.backbones import create_backbone
from ..features.cache import FeatureCache
from ..features.extract import extract_features, resolve_device
from ..features.onnx_runtime import choose_encoder
from ..head.recipes import PRESETS, Recipe
from .loop import fit_head


@dataclass
class TuneResult:
    best_recipe: Recipe
    best_val_acc: float
    n_trials: int
    n_pruned: int
    out: Path


class _Pruned(Exception):
    pass


# The recipe fields a study searches (suggest_recipe); best_config.json holds these only.
TUNED_FIELDS = ("backbone", "hidden", "dropout", "input_dropout", "normalize", "lr",
                "weight_decay", "label_smoothing", "batch_size", "epochs")


def suggest_recipe(trial: Any, backbones: list[str]) -> Recipe:
    """One point of the search space."""
    hidden = trial.suggest_categorical("hidden", [0, 256, 512, 1024])
    return PRESETS["default"].with_overrides(
        backbone=trial.suggest_categorical("backbone", backbones),
        hidden=(hidden,) if hidden else (),
        dropout=(trial.suggest_float("dropout", 0.0, 0.7),) if hidden else (),
        input_dropout=trial.suggest_float("input_dropout", 0.0, 0.5),
        normalize=trial.suggest_categorical("normalize", [False, True]),
        lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        epochs=trial.suggest_int("epochs", 5, 40),
    )


def tune(data_dir: str | Path, out: str | Path, *, trials: int = 50,
         backbones: list[str] | None = None, weights: str | None = None, seed: int = 0,
         val_fraction: float = 0.2, timeout: float | None = None, device: str = "auto",
         cache_dir: Path | None = None, show_progress: bool = True) -> TuneResult:
    """Run an Optuna study; write ``best_config.json`` (for ``train --config``), ``trials.json``
    and ``study.png`` into ``out``."""
    try:
        import optuna
    except ImportError:
        raise FingerspellError("tune needs Optuna: pip install 'fingerspell[tune]'") from None
    backbones = backbones or [PRESETS["default"].backbone]
    images = discover(data_dir)
    split = split_samples(images.samples, val_fraction=val_fraction, seed=seed)
    labels = np.asarray([images.classes.index(s.label) for s in images.samples])
    target = resolve_device(device)
    features: dict[str, torch.Tensor] = {}
    readable = np.ones(len(images.samples), dtype=bool)
    for name in backbones:  # every backbone's features once, up front
        backbone = create_backbone(name, weights)
        cache = FeatureCache(cache_dir, backbone.cache_namespace)
        encoder = choose_encoder(backbone, runtime="auto", device=target, cache_root=cache_dir)
        extracted = extract_features(encoder, [s.path for s in images.samples], cache=cache,
                                     device=target, show_progress=show_progress)
        cache.close()
        features[name] = torch.from_numpy(extracted.vectors).to(target)
        readable &= extracted.ok
    train_idx = [i for i in split.train if readable[i]]
    val_idx = [i for i in split.val if readable[i]]
    y = torch.from_numpy(labels).to(target)

    def objective(trial: optuna.Trial) -> float:
        recipe = suggest_recipe(trial, backbones)
        x = features[recipe.backbone]
        torch.manual_seed(seed)
        head = recipe.make_head(x.shape[1], len(images.classes)).to(target)
        head.set_normalization(x[train_idx])

        def report(history: list[dict[str, Any]]) -> None:
            trial.report(history[-1]["val_acc"], history[-1]["epoch"])
            if trial.should_prune():
                raise _Pruned

        with tempfile.TemporaryDirectory() as checkpoints:
            try:
                fit = fit_head(head, recipe, x[train_idx], y[train_idx], x[val_idx], y[val_idx],
                               checkpoint_dir=Path(checkpoints), seed=seed, show_progress=False,
                               on_epoch=report)
            except _Pruned:
                raise optuna.TrialPruned from None
        trial.set_user_attr("recipe", recipe.to_dict())
        return fit.best_val_acc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                   n_warmup_steps=3))
    study.optimize(objective, n_trials=trials, timeout=timeout, show_progress_bar=show_progress)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise FingerspellError("no trial completed; raise --trials")
    out = Path(out)
    best = Recipe.from_dict(study.best_trial.user_attrs["recipe"])
    # only what the search chose: `train --config` keeps the user's features and other settings
    searched = {name: value for name, value in best.to_dict().items() if name in TUNED_FIELDS}
    write_json(out / "best_config.json", {"recipe": searched, "val_acc": study.best_value,
                                          "split": split.strategy, "data": str(images.root.resolve())})
    write_json(out / "trials.json", [{"number": t.number, "state": t.state.name, "value": t.value,
                                      "params": t.params} for t in study.trials])
    _plot_study(study, out / "study.png")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return TuneResult(best, float(study.best_value), len(study.trials), pruned, out)


def _plot_study(study: Any, path: Path) -> Path:
    from ..evaluation.plots import save_png, subplots
    values = [(t.number, t.value) for t in study.trials if t.value is not None]
    fig, ax = subplots(figsize=(7, 4))
    if values:
        numbers, accuracies = zip(*values, strict=True)
        ax.scatter(numbers, accuracies, s=14, label="completed trial")
        ax.plot(numbers, np.maximum.accumulate(accuracies), color="firebrick", label="best so far")
    pruned = [t.number for t in study.trials if t.state.name == "PRUNED"]
    if pruned:
        ax.scatter(pruned, [min(v for _, v in values)] * len(pruned) if values else [0] * len(pruned),
                   marker="x", color="grey", label="pruned")
    ax.set(xlabel="trial", ylabel="validation accuracy", title="Hyper-parameter search")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)
