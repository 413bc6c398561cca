"""The resolved training configuration, and the rules for starting or resuming a run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import write_json
from ..data.split import SPLIT_STRATEGIES
from ..errors import FingerspellError
from ..features.backbones import get_spec
from ..features.hands import HandSettings
from ..features.modes import FEATURE_MODES
from ..head.recipes import Recipe, get_preset, recipe_for_features

CONFIG_FILE = "config.json"


def data_dirs(data: str | Path | list[str | Path]) -> list[str]:
    """The data folders as resolved path strings (one or several)."""
    return [str(Path(d).resolve()) for d in ([data] if isinstance(data, str | Path) else data)]


def resolve_config(data_dir: str | Path | list[str | Path], out: str | Path, *,
                   preset: str | None = None, features: str | None = None,
                   backbone: str | None = None, epochs: int | None = None,
                   batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
                   weights: str | None = None, val_fraction: float | None = None,
                   split_by: str | None = None, device: str | None = None,
                   runtime: str | None = None, keep_epochs: int | None = None,
                   finetune: int | None = None, finetune_epochs: int | None = None,
                   config_file: str | Path | None = None, hand_model: str | Path | None = None,
                   hand_pick: str | None = None, hand_confidence: float | None = None
                   ) -> dict[str, Any]:
    """The full configuration of a training run as plain JSON-able data (``--dry-run`` prints it).

    ``None`` means the default: preset "default" with ``fusion`` features (the seed preset:
    ``image``), seed 0, 20% validation split "auto" (by signer where file names say who signed,
    else by frame blocks), device "auto", every epoch checkpoint kept.
    """
    preset = preset or "default"
    seed = 0 if seed is None else seed
    val_fraction = 0.2 if val_fraction is None else val_fraction
    split_by = split_by or "auto"
    device = device or "auto"
    if features is not None and features not in FEATURE_MODES:
        raise FingerspellError(f"unknown --features {features!r}; choose from "
                               f"{', '.join(FEATURE_MODES)}")
    # fine-tuning trains the backbone on whole images: it implies image features
    default_mode = "fusion" if preset == "default" and not finetune else "image"
    mode = features or (default_mode if preset == "default" else get_preset(preset).features)
    recipe = recipe_for_features(mode, preset)
    if config_file:
        recipe = Recipe.from_dict({**recipe.to_dict(), **_read_recipe_file(Path(config_file))})
    recipe = recipe.with_overrides(backbone=backbone, epochs=epochs, batch_size=batch_size, lr=lr,
                                   finetune_blocks=finetune, finetune_epochs=finetune_epochs)
    get_spec(recipe.backbone)  # unknown names fail here, before any work
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise FingerspellError(f"epochs, batch size and learning rate must be positive "
                               f"(got {recipe.epochs}, {recipe.batch_size}, {recipe.lr})")
    if split_by not in SPLIT_STRATEGIES:
        raise FingerspellError(f"unknown --split-by {split_by!r}; choose from "
                               f"{', '.join(SPLIT_STRATEGIES)}")
    if not 0 < val_fraction < 1:
        raise FingerspellError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    if recipe.finetune_blocks and recipe.features != "image":
        raise FingerspellError(f"--finetune works with --features image only (got "
                               f"{recipe.features})")
    hand = HandSettings(**{k: v for k, v in (("pick", hand_pick),
                                             ("min_confidence", hand_confidence)) if v is not None})
    return {
        "fingerspell_version": __version__,
        "data": data_dirs(data_dir),
        "out": str(Path(out).resolve()),
        "preset": preset,
        "recipe": recipe.to_dict(),
        "weights": None if weights is None else str(weights),
        "seed": seed,
        "val_fraction": val_fraction,
        "split_by": split_by,
        "device": device,
        "runtime": runtime or "auto",
        "keep_epochs": keep_epochs,
        "hand": hand.to_dict(),
        "hand_model": None if hand_model is None else str(Path(hand_model).resolve()),
    }


def _read_recipe_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FingerspellError(f"{path}: cannot read recipe config ({exc})") from None
    if not isinstance(data, dict):
        raise FingerspellError(f"{path}: a recipe config must be a JSON object")
    return data.get("recipe", data)


def start_run_dir(config: dict[str, Any], *, force: bool) -> None:
    """Create the run folder; an existing non-empty one is replaced only with ``force``."""
    out = Path(config["out"])
    if out.exists() and not out.is_dir():
        raise FingerspellError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FingerspellError(f"{out}: run folder exists and is not empty; use --resume to "
                                   f"continue it or --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG_FILE, config)


# Options that only change how a run executes, not what it learns: a resume may change them.
RUNTIME_OPTIONS = ("epochs", "finetune_epochs", "device", "runtime", "keep_epochs", "hand_model")
_IN_RECIPE = {"backbone": "backbone", "batch_size": "batch_size", "lr": "lr", "epochs": "epochs",
              "finetune": "finetune_blocks", "finetune_epochs": "finetune_epochs",
              "features": "features"}
_IN_HAND = {"hand_pick": "pick", "hand_confidence": "min_confidence"}


def resume_config(data_dir: str | Path | list[str | Path], out: str | Path,
                  **explicit: Any) -> dict[str, Any]:
    """The saved configuration of ``out``; explicit options must agree with it (or be runtime ones)."""
    out = Path(out)
    saved_path = out / CONFIG_FILE
    if not saved_path.is_file():
        raise FingerspellError(f"{out}: nothing to resume (no {CONFIG_FILE}); start the run "
                               f"without --resume")
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    differences = []
    if data_dirs(data_dir) != saved["data"]:
        differences.append("data")
    for key, value in explicit.items():
        if value is None or key in RUNTIME_OPTIONS or key == "config_file":
            continue
        if key in _IN_HAND:
            before = saved["hand"].get(_IN_HAND[key])
        elif key in _IN_RECIPE:
            before = saved["recipe"].get(_IN_RECIPE[key])
        else:
            before = saved.get(key)
        if before != (str(value) if key == "weights" else value):
            differences.append(key)
    if differences:
        raise FingerspellError(f"{out}: cannot resume with different settings "
                               f"({', '.join(differences)}); resume with the run's own settings, "
                               f"or use --force to start over")
    for key in ("epochs", "finetune_epochs"):  # a resume may extend either stage
        if explicit.get(key) is not None:
            saved["recipe"][key] = int(explicit[key])
    for key in ("device", "runtime", "keep_epochs"):
        if explicit.get(key) is not None:
            saved[key] = explicit[key]
    if explicit.get("hand_model") is not None:  # the same model may live elsewhere now
        saved["hand_model"] = str(Path(explicit["hand_model"]).resolve())
    write_json(saved_path, saved)
    return saved
