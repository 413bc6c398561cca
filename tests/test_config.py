"""The one training configuration: presets, recipe files and options in layers, read back typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fingerspell import choices
from fingerspell.errors import FingerspellError
from fingerspell.features.feature_mode import MODES
from fingerspell.head.recipes import PRESETS, Recipe
from fingerspell.training.config import RunConfig, resolve_config
from fingerspell.training.metrics import TrainMetrics


def test_the_names_the_cli_offers_are_the_ones_defined() -> None:
    assert choices.FEATURE_MODES == tuple(MODES)
    assert choices.PRESETS == tuple(PRESETS)
    for preset in PRESETS.values():  # every preset trains every mode, each recipe naming its mode
        assert preset.features in choices.FEATURE_MODES
        assert {mode: r.features for mode, r in preset.recipes.items()} == \
            {mode: mode for mode in choices.FEATURE_MODES}


def test_presets_say_what_they_train() -> None:
    default, seed = PRESETS["default"], PRESETS["seed"]
    assert default.recipe().features == "fusion" and seed.recipe().features == "image"
    assert default.recipe("image") == Recipe()  # Recipe's defaults are the default preset's
    assert default.recipe("landmarks").hidden == (256,) and seed.recipe("landmarks").hidden == \
        (8192, 4096)  # the seed preset keeps its head whatever it sees


def test_layers_defaults_preset_file_options(tmp_path: Path) -> None:
    recipe_file = tmp_path / "best_config.json"
    recipe_file.write_text(json.dumps({"recipe": {"lr": 0.005, "hidden": [128], "epochs": 7}}))
    config = resolve_config(tmp_path, tmp_path / "run", config_file=recipe_file, lr=0.02,
                            features="crop", seed=3)
    assert config.recipe.features == "crop" and config.recipe.hidden == (128,)
    assert config.recipe.epochs == 7 and config.recipe.lr == 0.02  # options win over the file
    assert config.recipe.finetune_epochs == 12  # the preset's choice for crops
    assert (config.seed, config.val_fraction, config.split_by) == (3, 0.2, "auto")
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_saved_configurations_are_checked_and_old_runs_read(tmp_path: Path) -> None:
    saved = resolve_config(tmp_path, tmp_path / "run").to_dict()
    with pytest.raises(FingerspellError, match="unknown fields colour"):
        RunConfig.from_dict({**saved, "colour": "red"})
    with pytest.raises(FingerspellError, match="val-fraction"):
        RunConfig.from_dict({**saved, "val_fraction": 2})
    old = {k: v for k, v in saved.items() if k not in ("landmark_encoding", "calibrate_on")}
    read = RunConfig.from_dict(old)  # what runs saved before these fields meant
    assert read.landmark_encoding == 1 and read.calibrate_on == "validation"


def test_metrics_file_has_only_what_was_measured() -> None:
    metrics = TrainMetrics(data=["d"], layout="class folders", sources=[], classes=["A"],
                           features="image", split="frame", n_train=8, n_val=2, hand_found=None,
                           n_skipped=0, feature_seconds=1.0, features_computed=10,
                           features_cached=0)
    saved = metrics.to_dict()
    assert saved["hand_found"] is None and "landmark_weight" not in saved
    metrics.landmark_weight = 0.8
    assert metrics.to_dict()["landmark_weight"] == 0.8
    assert TrainMetrics.from_dict({**metrics.to_dict(), "from_a_newer_version": 1}) == metrics
