"""The built-in model: found by name everywhere a model folder is taken, small, and right."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fingerspell import FingerspellError, Model
from fingerspell.infer.builtin import BUILTIN_ROOT, DEFAULT_MODEL, builtin_models, resolve_model

from .conftest import FINGERSPELL, run_cli

BUNDLE = BUILTIN_ROOT / DEFAULT_MODEL


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FINGERSPELL), "-q", *args], capture_output=True, text=True,
                          cwd=folder, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture(scope="module")
def builtin(hand_model: Path) -> Model:
    return Model.load(DEFAULT_MODEL)


def test_the_bundle_is_small_and_refers_to_its_backbone():
    config = json.loads((BUNDLE / "config.json").read_text())
    assert config["backbone"]["weights"] == "pretrained"
    assert len(config["classes"]) == 29 and config["features"]["mode"] == "fusion"
    size = sum(p.stat().st_size for p in BUNDLE.iterdir() if p.is_file())
    assert size < 5e6, f"{size / 1e6:.1f} MB in the package"


def test_right_on_the_shared_test_photos(builtin: Model, shared_test: Path):
    photos = sorted(shared_test.glob("*_test.jpg"))
    predictions = builtin.predict(photos, top_k=1)
    failed = predictions.failed
    assert not failed and len(predictions) == 28
    wrong = [(Path(p.path).name, p.label) for p in predictions
             if p.label != Path(p.path).name.split("_test")[0]]
    assert len(wrong) <= 1, wrong


def test_models_lists_it_and_shows_its_card(hand_model: Path):
    listing = run_cli("models")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(DEFAULT_MODEL))
    assert "29" in row.split() and "fusion" in row and "test photos" in row
    card = run_cli("models", DEFAULT_MODEL)
    assert card.returncode == 0 and "Intended use" in card.stdout and "GPL-2.0" in card.stdout
    unknown = run_cli("models", "no-such-model")
    assert unknown.returncode == 2 and "not a built-in model" in unknown.stderr


def test_predict_by_name_from_any_folder(tmp_path: Path, shared_test: Path, hand_model: Path):
    result = run_in(tmp_path, "predict", DEFAULT_MODEL, str(shared_test / "L_test.jpg"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["label"] == "L"


def test_evaluate_and_inspect_by_name(tmp_path: Path, shared_test: Path, hand_model: Path):
    result = run_in(tmp_path, "evaluate", DEFAULT_MODEL, str(shared_test), "--json",
                    str(tmp_path / "eval" / "metrics.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy"] >= 27 / 28
    result = run_in(tmp_path, "inspect", DEFAULT_MODEL, str(shared_test / "B_test.jpg"),
                    "--out", str(tmp_path / "b.png"))
    assert result.returncode == 0 and (tmp_path / "b.png").stat().st_size > 10_000


def test_a_folder_of_that_name_wins(tmp_path: Path, shared_test: Path):
    (tmp_path / DEFAULT_MODEL).mkdir()  # the user's own (here: not a model) is taken, not ours
    result = run_in(tmp_path, "predict", DEFAULT_MODEL, str(shared_test / "L_test.jpg"))
    assert result.returncode == 2 and "not a fingerspell model" in result.stderr
    assert resolve_model(tmp_path / DEFAULT_MODEL) == tmp_path / DEFAULT_MODEL


def test_unknown_name_is_one_line(tmp_path: Path):
    with pytest.raises(FingerspellError, match=r"not a built-in model \(asl-alphabet"):
        resolve_model("alphabet-xl")
    result = run_in(tmp_path, "predict", "alphabet-xl", "x.jpg")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_live_and_serve_default_to_it():
    from fingerspell.cli import build_parser
    assert build_parser().parse_args(["serve"]).model_dir == DEFAULT_MODEL
    assert build_parser().parse_args(["live", "--camera", "0"]).model_dir == DEFAULT_MODEL
    assert DEFAULT_MODEL in builtin_models()


def test_live_on_a_shared_video_with_no_model_named(shared_test: Path, hand_model: Path):
    clip = shared_test.parents[1] / "videos" / "letters" / "B.mp4"
    if not clip.is_file():
        pytest.skip(f"letter videos not available: {clip} is absent")
    result = run_cli("live", "--video", str(clip), "--json")
    assert result.returncode == 0, result.stderr
    assert "B" in json.loads(result.stdout.splitlines()[-1])["text"]


def test_a_live_session_spends_two_passes_on_a_frame_without_a_hand(builtin: Model,
                                                                    shared_train: Path):
    """Live and the web page's stream: an empty frame costs PASSES_PER_FRAME detection passes
    (a photo gets the whole ladder), and the hand is still found in the frame that has one."""
    from PIL import Image

    from fingerspell.live.stream import PASSES_PER_FRAME, LiveSession
    empty = Image.open(shared_train / "nothing" / "nothing100.jpg").convert("RGB")
    hand = Image.open(shared_train / "L" / "L300.jpg").convert("RGB")
    with LiveSession(builtin) as session:
        tried: list[int] = []
        detect = session.detector.detect
        session.detector.detect = lambda image, attempt=0, *a: (  # type: ignore[method-assign]
            tried.append(attempt) or detect(image, attempt, *a))
        for k in range(4):
            before = len(tried)
            result = session.process(k / 15, empty)
            assert result.prediction.hand is None and len(tried) - before == PASSES_PER_FRAME
        assert session.process(4 / 15, hand).prediction.hand is not None
    assert PASSES_PER_FRAME < 1 + len(builtin.hand_settings.retries)


def test_export_writes_a_copy_never_into_the_package(tmp_path: Path, shared_test: Path,
                                                     hand_model: Path):
    before = sorted(p.name for p in BUNDLE.iterdir())
    result = run_in(tmp_path, "export", DEFAULT_MODEL)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "runs" / "export" / DEFAULT_MODEL
    assert (copy / "model.onnx").is_file() and sorted(p.name for p in BUNDLE.iterdir()) == before
    again = run_in(tmp_path, "predict", str(copy), str(shared_test / "Y_test.jpg"), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)[0]["label"] == "Y"
    refused = run_in(tmp_path, "export", DEFAULT_MODEL, "--out", str(copy))
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_wrong_backbone_weights_are_refused(tmp_path: Path, builtin: Model):
    import shutil
    copy = tmp_path / "copy"
    builtin.save(copy, store_backbone=False)
    config = json.loads((copy / "config.json").read_text())
    config["backbone"]["weights_id"] = "0" * 24
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(FingerspellError, match="differ from those this model was trained with"):
        Model.load(copy)
    shutil.rmtree(copy)


def test_only_packaged_unchanged_weights_may_be_left_out(tmp_path: Path, tiny_model: Path):
    model = Model.load(tiny_model)
    model.backbone.weights_id = "fine-tuned"
    with pytest.raises(FingerspellError, match="the bundle must hold them"):
        model.save(tmp_path / "x", store_backbone=False)
    assert not (tmp_path / "x").exists()


def test_packaged_backbone_file_is_checked(monkeypatch: pytest.MonkeyPatch):
    from fingerspell.features import backbones
    monkeypatch.setattr(backbones, "LITE0_SHA256", "0" * 64)
    with pytest.raises(FingerspellError, match="sha256 differs"):
        backbones.create_backbone("efficientnet_lite0")
