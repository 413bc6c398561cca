"""The resolved training configuration (the run's ``config.json``) from ``TrainOptions``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._version import __version__
from ..choices import CALIBRATION_SOURCES, SPLIT_STRATEGIES
from ..errors import FingerspellError
from ..features.backbones import get_spec
from ..features.feature_mode import get_mode
from ..features.hands import HandSettings
from ..head.recipes import Recipe, get_preset, recipe_for_features
from ..jsonfile import read_json
from .options import TrainOptions
from .run_folder import CONFIG_FILE, RUN_KIND


def data_dirs(data: str | Path | list[str | Path]) -> list[str]:
    """The data folders as resolved path strings (one or several)."""
    return [str(Path(d).resolve()) for d in ([data] if isinstance(data, str | Path) else data)]


def resolve_config(data_dir: str | Path | list[str | Path], out: str | Path,
                   options: TrainOptions | None = None, **overrides: Any) -> dict[str, Any]:
    """The full configuration of a training run as plain JSON-able data (``--dry-run`` prints it).

    ``None`` means the default: preset "default" with ``fusion`` features (the seed preset:
    ``image``), seed 0, 20% validation split "auto" (by signer where file names say who signed,
    else by frame blocks), device "auto", every epoch checkpoint kept.
    A ``config_file`` (e.g. ``tune``'s ``best_config.json``) replaces the preset's recipe
    fields it names; options given explicitly win over both.
    """
    o = TrainOptions.build(options, **overrides)
    preset = o.preset or "default"
    from_file = _read_recipe_file(Path(o.config_file)) if o.config_file else {}
    default_mode = get_preset(preset).features if preset != "default" else "fusion"
    mode = get_mode(o.features or from_file.get("features") or default_mode)
    recipe = recipe_for_features(mode.name, preset)
    recipe = Recipe.from_dict({**recipe.to_dict(), **from_file, "features": mode.name})
    recipe = recipe.with_overrides(backbone=o.backbone, epochs=o.epochs, batch_size=o.batch_size,
                                   lr=o.lr, finetune_blocks=o.finetune,
                                   finetune_epochs=o.finetune_epochs)
    get_spec(recipe.backbone)  # unknown names fail here, before any work
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise FingerspellError(f"epochs, batch size and learning rate must be positive "
                               f"(got {recipe.epochs}, {recipe.batch_size}, {recipe.lr})")
    split_by = o.split_by or "auto"
    if split_by not in SPLIT_STRATEGIES:
        raise FingerspellError(f"unknown --split-by {split_by!r}; choose from "
                               f"{', '.join(SPLIT_STRATEGIES)}")
    calibrate_on = o.calibrate_on or "sources"
    if calibrate_on not in CALIBRATION_SOURCES:
        raise FingerspellError(f"unknown --calibrate-on {calibrate_on!r}; choose from "
                               f"{', '.join(CALIBRATION_SOURCES)}")
    landmark_weight = _landmark_weight(o.landmark_weight)
    val_fraction = 0.2 if o.val_fraction is None else o.val_fraction
    if not 0 < val_fraction < 1:
        raise FingerspellError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    if recipe.finetune_blocks and not mode.finetunable:
        raise FingerspellError(f"--finetune needs backbone features (image, crop or fusion; "
                               f"got {mode.name})")
    hand = HandSettings(**{k: v for k, v in (("pick", o.hand_pick),
                                             ("min_confidence", o.hand_confidence))
                           if v is not None})
    return {
        "kind": RUN_KIND,
        "fingerspell_version": __version__,
        "data": data_dirs(data_dir),
        "out": str(Path(out).resolve()),
        "preset": preset,
        "recipe": recipe.to_dict(),
        "weights": None if o.weights is None else str(o.weights),
        "seed": 0 if o.seed is None else o.seed,
        "val_fraction": val_fraction,
        "split_by": split_by,
        "calibrate_on": calibrate_on,
        "landmark_weight": landmark_weight,
        # what the landmark features of this run's checkpoints mean (features/landmarks.py)
        "landmark_encoding": mode.landmark_encoding,
        "device": o.device or "auto",
        "runtime": o.runtime or "auto",
        "keep_epochs": o.keep_epochs,
        "hand": hand.to_dict(),
        "hand_model": None if o.hand_model is None else str(Path(o.hand_model).resolve()),
    }


def _landmark_weight(value: str | float | None) -> str | float:
    """``auto`` (chosen on leave-one-source-out answers: training/fusion_weight.py) or a share
    between 0 and 1."""
    if value is None or value == "auto":
        return "auto"
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not 0 <= weight <= 1:
        raise FingerspellError(f"--landmark-weight must be auto or a number from 0 to 1, "
                               f"got {value!r}")
    return weight


def _read_recipe_file(path: Path) -> dict[str, Any]:
    data = read_json(path, "recipe config")
    if not isinstance(data, dict) or not isinstance(data.get("recipe", data), dict):
        raise FingerspellError(f"{path}: a recipe config must be a JSON object")
    recipe = data.get("recipe", data)
    Recipe.from_dict(recipe)  # unknown fields fail here, naming them
    return recipe


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    saved = read_json(path, "run configuration")
    if not isinstance(saved, dict) or not isinstance(saved.get("recipe"), dict):
        raise FingerspellError(f"{path}: not a fingerspell run configuration")
    return saved


def resume_config(data_dir: str | Path | list[str | Path], out: str | Path, run_dir: Path,
                  options: TrainOptions | None = None, **overrides: Any) -> dict[str, Any]:
    """The saved configuration of ``run_dir``, for writing to ``out`` (where the user pointed,
    even if the run was copied or moved there). Options given must agree with the saved ones,
    except runtime options (``TrainOptions.is_runtime``), which the resume may change."""
    o = TrainOptions.build(options, **overrides)
    saved = read_run_config(run_dir)
    differences = ["data"] if data_dirs(data_dir) != saved.get("data") else []
    for name, value in o.given().items():
        if TrainOptions.is_runtime(name):
            continue
        before: Any = saved
        for key in TrainOptions.where(name):
            before = before.get(key) if isinstance(before, dict) else None
        if before != (str(value) if name == "weights" else value):
            differences.append(name)
    from ..features.landmarks import LATEST_ENCODING
    encoding = saved.get("landmark_encoding", 1)  # runs saved before it was recorded: 1
    if get_mode(saved["recipe"]["features"]).landmarks and encoding != LATEST_ENCODING:
        raise FingerspellError(f"{out}: the run was started with landmark encoding {encoding}, "
                               f"this fingerspell trains encoding {LATEST_ENCODING}; use "
                               f"--force to start over")
    if differences:
        raise FingerspellError(f"{out}: cannot resume with different settings "
                               f"({', '.join(differences)}); resume with the run's own settings, "
                               f"or use --force to start over")
    saved["out"] = str(Path(out).resolve())
    saved["recipe"]["epochs"] = o.epochs or saved["recipe"]["epochs"]
    if o.finetune_epochs:
        saved["recipe"]["finetune_epochs"] = o.finetune_epochs
    for name in ("device", "runtime", "keep_epochs"):
        if getattr(o, name) is not None:
            saved[name] = getattr(o, name)
    if o.hand_model is not None:  # the same model may live elsewhere now
        saved["hand_model"] = str(Path(o.hand_model).resolve())
    return saved
