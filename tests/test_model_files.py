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
    return model


@pytest.mark.parametrize(("case", "message"), [
    ("not json", "config.json: not valid JSON"),
    ("other format", "config.json: not a fingerspell model config"),
    ("newer", "model format 99 is newer"),
    ("no version", "config.json: no valid format_version"),
    ("weights", "model.safetensors: unreadable weights"),
    ("hand model missing", "landmarks model without its hand_landmarker.task"),
])
def test_wrong_model_files(tiny_model: Path, tmp_path: Path, case: str, message: str) -> None:
    model = broken_copy(tiny_model, tmp_path, case)
    result = run_cli("predict", str(model), str(noise_image(tmp_path / "x.png")))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_not_a_model_folder(tmp_path: Path) -> None:
    image = noise_image(tmp_path / "x.png")
    for folder, message in ((tmp_path / "missing", "model folder does not exist"),
                            (tmp_path, "not a fingerspell model")):
        result = run_cli("predict", str(folder), str(image))
        assert result.returncode == 2 and message in result.stderr
