"""Wrong model folders and files: one line naming the file, exit code 2, from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import noise_image, run_cli


def broken_copy(tiny_model: Path, tmp_path: Path, case: str) -> Path:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    config_path = model / "config.json"
    config = json.loads(config_path.read_text())
    if case == "not json":
        config_path.write_text("{ nope")
    elif case == "other format":
        config_path.write_text(json.dumps({**config, "format": "keras"}))
    elif case == "newer":
        config_path.write_text(json.dumps({**config, "format_version": 99}))
    elif case == "no version":
        config_path.write_text(json.dumps({k: v for k, v in config.items()
                                           if k != "format_version"}))
    elif case == "weights":
        (model / "model.safetensors").write_bytes(b"\x00" * 64)
    elif case == "hand model missing":
        config["features"] = {**config["features"], "mode": "landmarks"}
        config_path.write_text(json.dumps(config))
    elif case.startswith("no "):  # a field missing
        config_path.write_text(json.dumps({k: v for k, v in config.items() if k != case[3:]}))
    elif case == "classes not a list":
        config_path.write_text(json.dumps({**config, "classes": "ABC"}))
    elif case in ("more classes", "fewer classes"):
        classes = config["classes"] + ["D"] if case == "more classes" else config["classes"][:2]
        config_path.write_text(json.dumps({**config, "classes": classes}))
    elif case == "wider head":  # a hidden layer the weights do not have
        config["head"] = {**config["head"], "hidden": [100_000_000], "dropout": [0.5]}
        config_path.write_text(json.dumps(config))
    elif case == "head in_dim":
        config["head"] = {**config["head"], "in_dim": 7}
        config_path.write_text(json.dumps(config))
    elif case == "unknown landmark encoding":
        config["features"] = {**config["features"], "landmark_encoding": 7}
        config_path.write_text(json.dumps(config))
    elif case == "huge config":
        config_path.write_text(json.dumps({**config, "padding": "x" * (5 * 1024 * 1024)}))
    return model


@pytest.mark.parametrize(("case", "message"), [
    ("not json", "config.json: not a valid model config (bad JSON"),
    ("other format", "config.json: not a fingerspell model config"),
    ("newer", "model format 99 is newer"),
    ("no version", "config.json: no valid format_version"),
    ("weights", "model.safetensors: unreadable weights"),
    ("hand model missing", "landmarks model without its hand_landmarker.task"),
    ("wider head", "model.safetensors: weights do not match config.json"),
])
def test_wrong_model_files(tiny_model: Path, tmp_path: Path, case: str, message: str) -> None:
    model = broken_copy(tiny_model, tmp_path, case)
    result = run_cli("predict", str(model), str(noise_image(tmp_path / "x.png")))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("case", "message"), [
    ("no classes", "config.json: field 'classes' is missing"),
    ("no backbone", "config.json: field 'backbone' is missing"),
    ("no head", "config.json: field 'head' is missing"),
    ("no preprocessing", "config.json: field 'preprocessing' is missing"),
    ("classes not a list", "config.json: field 'classes' should be list, not str"),
    ("more classes", "the head has 3 outputs but 'classes' lists 4"),
    ("fewer classes", "the head has 3 outputs but 'classes' lists 2"),
    ("head in_dim", "the head takes 7 inputs but image features have 1280"),
    ("huge config", "config.json: 5"),
    ("unknown landmark encoding", "config.json: landmark encoding 7 is not one this"),
])
def test_malformed_bundle_configs(tiny_model: Path, tmp_path: Path, case: str,
                                  message: str) -> None:
    """Each a FingerspellError (one line in the CLI, as above) naming the file, before anything
    is built from the config."""
    from fingerspell import FingerspellError, Model
    model = broken_copy(tiny_model, tmp_path, case)
    with pytest.raises(FingerspellError) as refused:
        Model.load(model)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_not_a_model_folder(tmp_path: Path) -> None:
    image = noise_image(tmp_path / "x.png")
    for folder, message in ((tmp_path / "missing", "model folder does not exist"),
                            (tmp_path, "not a fingerspell model")):
        result = run_cli("predict", str(folder), str(image))
        assert result.returncode == 2 and message in result.stderr


def test_hand_model_checksum_is_verified(mode_runs: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(mode_runs["landmarks"] / "model", model)
    task = model / "hand_landmarker.task"
    data = bytearray(task.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    task.write_bytes(bytes(data))
    result = run_cli("predict", str(model), str(noise_image(tmp_path / "x.png")))
    assert result.returncode == 2 and "hand_landmarker.task: differs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_saved_weights_have_the_usual_permissions(tiny_model: Path) -> None:
    import os
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "config.json"):
        assert (tiny_model / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_bundles_name_their_landmark_encoding(mode_runs: dict[str, Path], tmp_path: Path,
                                              shared_train: Path) -> None:
    """A bundle records the landmark encoding its head learnt; one written before the field
    existed reads as encoding 1 (its head's inputs are checked against that) and still
    predicts."""
    from fingerspell import FingerspellError, Model
    from fingerspell.features.landmarks import landmark_dim
    from fingerspell.head.heads import HeadConfig, MLPHead
    trained = Model.load(mode_runs["landmarks"] / "model")
    config = json.loads((mode_runs["landmarks"] / "model" / "config.json").read_text())
    assert config["features"]["landmark_encoding"] == trained.mode.landmark_encoding == 2
    unnamed = tmp_path / "unnamed"
    shutil.copytree(mode_runs["landmarks"] / "model", unnamed)
    del config["features"]["landmark_encoding"]
    (unnamed / "config.json").write_text(json.dumps(config))
    with pytest.raises(FingerspellError, match=f"takes {landmark_dim(2)} inputs but landmarks "
                                               f"features have {landmark_dim(1)}"):
        Model.load(unnamed)
    # an old bundle: a head on encoding 1's features, the field absent
    head = MLPHead(HeadConfig(in_dim=landmark_dim(1), n_classes=len(trained.classes),
                              hidden=(8,), dropout=(0.0,)))
    old = Model(trained.backbone, head, trained.classes, features=trained.mode
                .with_landmark_encoding(1), hand_model=trained.hand_model)
    old.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["features"]["landmark_encoding"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = Model.load(tmp_path / "old")
    assert loaded.mode.landmark_encoding == 1
    prediction = loaded.predict([shared_train / "L" / "L300.jpg"])[0]
    assert prediction.hand is not None and prediction.label in trained.classes
