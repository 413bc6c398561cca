"""``fingerspell tune``: search head hyper-parameters (and the backbone) on cached features, for
any feature mode (the heads are fitted exactly as ``train`` fits them: ``HeadFitter``).

Each trial trains a head on cached features in seconds, so a 50-trial Optuna search takes
minutes on a CPU. Bad trials are pruned early by their validation accuracy per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_json
from ..data.merge import discover_many
from ..data.split import split_samples
from ..errors import FingerspellError
from ..features.backbones import create_backbone
from ..features.extract import resolve_device
from ..features.feature_mode import get_mode
from ..features.hands import check_hand_model, resolve_hand_model
from ..features.onnx_runtime import choose_encoder
from ..head.recipes import Recipe
from .config import RunConfig, resolve_config
from .fitting import MAIN, Examples, HeadFitter, remember_views
from .loop import EpochEnd, FitCallback
from .options import TrainOptions
from .run_features import RunFeatures


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


def suggest_recipe(trial: Any, base: Recipe, backbones: list[str]) -> Recipe:
    """One point of the search space, around the run's recipe ``base``."""
    hidden = trial.suggest_categorical("hidden", [0, 256, 512, 1024])
    return base.with_overrides(
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


class _Prune(FitCallback):
    """Reports each epoch's validation accuracy to Optuna; stops a trial it prunes."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.trial.report(end.history[-1]["val_acc"], end.epoch)
        if self.trial.should_prune():
            raise _Pruned


@dataclass
class _SearchData:
    """What every trial reads: each backbone's examples (features computed once, up front), the
    feature size per backbone, the split's readable rows and the classes."""

    examples: dict[str, Examples]
    feature_dims: dict[str, int]
    train_idx: list[int]
    val_idx: list[int]
    classes: list[str]
    split_strategy: str


def tune(data_dir: str | Path | list[str | Path], out: str | Path,
         options: TrainOptions | None = None, *, trials: int = 50,
         backbones: list[str] | None = None, timeout: float | None = None,
         cache_dir: Path | None = None, show_progress: bool = True,
         **overrides: Any) -> TuneResult:
    """Run an Optuna study over the head(s) of the run that ``train`` would make with the same
    data and options (``TrainOptions`` fields: features, preset, seed, split, hand, device, ...):
    the main head's recipe is searched around that run's (fusion's landmark head keeps its own).
    Writes ``best_config.json`` (for ``train --config``; the searched fields only),
    ``trials.json`` and ``study.png`` into ``out``."""
    try:
        import optuna
    except ImportError:
        raise FingerspellError("tune needs Optuna: pip install 'fingerspell[tune]'") from None
    config = resolve_config(data_dir, out, options, **overrides)
    mode = get_mode(config.mode_name)
    backbones = backbones or [config.recipe.backbone]
    target = resolve_device(config.device)
    data = _search_data(config, backbones, target, cache_dir, show_progress)
    fixed_parts: dict[str, Any] = {}  # fusion's landmark head: the same in every trial

    def objective(trial: optuna.Trial) -> float:
        recipe = suggest_recipe(trial, config.recipe, backbones)
        fitter = HeadFitter(mode, recipe, len(data.classes), data.feature_dims[recipe.backbone],
                            seed=config.seed, device=target, show_progress=False,
                            callbacks=lambda part: [_Prune(trial)] if part == MAIN else [],
                            reuse=fixed_parts)
        try:
            fitted = fitter.fit(data.examples[recipe.backbone], data.train_idx, data.val_idx)
        except _Pruned:
            raise optuna.TrialPruned from None
        fixed_parts.update({k: v for k, v in fitted.parts.items() if k != MAIN})
        trial.set_user_attr("recipe", recipe.to_dict())
        return fitted.val_acc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=config.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                   n_warmup_steps=3))
    study.optimize(objective, n_trials=trials, timeout=timeout, show_progress_bar=show_progress)
    return _write_study(study, Path(out), config, data.split_strategy)


def _search_data(config: RunConfig, backbones: list[str], device: torch.device,
                 cache_dir: Path | None, show_progress: bool) -> _SearchData:
    """The run's photos split as ``train`` splits them, and each backbone's features (cached)."""
    mode = get_mode(config.mode_name)
    images = discover_many(config.data)
    split = split_samples(images.samples, val_fraction=config.val_fraction, seed=config.seed,
                          strategy=config.split_by)
    labels = np.asarray([images.classes.index(s.label) for s in images.samples])
    sources = np.asarray([s.source for s in images.samples])
    paths = [s.path for s in images.samples]
    hands = (check_hand_model(resolve_hand_model(config.hand_model, cache_dir))
             if mode.needs_hands else None)
    examples: dict[str, Examples] = {}
    feature_dims: dict[str, int] = {}
    readable = np.ones(len(paths), dtype=bool)
    for name in backbones:
        backbone = create_backbone(name, config.weights)
        encoder = choose_encoder(backbone, runtime=config.runtime, device=device,
                                 cache_root=cache_dir)
        extract = RunFeatures(encoder, hand_model=hands, hand_settings=config.hand,
                              cache_dir=cache_dir, device=device, show_progress=show_progress)
        found = extract(mode, paths)
        readable[list(found.failed)] = False
        examples[name] = Examples(found.vectors, labels, found.found,
                                  sources if len(images.sources) > 1 else None,
                                  views=remember_views(extract.views(paths), len(paths)))
        feature_dims[name] = backbone.spec.feature_dim
    return _SearchData(examples, feature_dims, [i for i in split.train if readable[i]],
                       [i for i in split.val if readable[i]], images.classes, split.strategy)


def _write_study(study: Any, out: Path, config: RunConfig, split_strategy: str) -> TuneResult:
    """``best_config.json`` (only what the search chose: ``train --config`` keeps the user's
    features and other settings), ``trials.json`` and ``study.png``."""
    import optuna
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise FingerspellError("no trial completed; raise --trials")
    best = Recipe.from_dict(study.best_trial.user_attrs["recipe"])
    searched = {name: value for name, value in best.to_dict().items() if name in TUNED_FIELDS}
    write_json(out / "best_config.json", {"recipe": searched, "val_acc": study.best_value,
                                          "searched_with": {"features": config.mode_name},
                                          "split": split_strategy,
                                          "data": [Path(d).name for d in config.data]})
    write_json(out / "trials.json", [{"number": t.number, "state": t.state.name, "value": t.value,
                                      "params": t.params} for t in study.trials])
    _plot_study(study, out / "study.png")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return TuneResult(best, float(study.best_value), len(study.trials), pruned, out)


def _plot_study(study: Any, path: Path) -> Path:
    from ..figures import save_png, subplots
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
