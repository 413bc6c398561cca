"""The four feature modes end to end: train, evaluate, predict, inspect, export, from the CLI and
from Python; the no-hand routes, mirror invariance, cache reuse and merged data folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import fingerspell
from fingerspell.infer import Model

from .conftest import MODES, link_subset, noise_image, run_cli


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_trains_evaluates_and_predicts(mode: str, mode_runs: dict[str, Path],
                                                 small_data: Path, shared_train: Path,
                                                 tmp_path: Path) -> None:
    run = mode_runs[mode]
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "model" / "config.json").read_text())
    assert metrics["features"] == config["features"]["mode"] == mode
    assert metrics["best_val_acc"] > 0.6
    if mode == "image":
        assert metrics["hand_found"] is None and not (run / "model" / "hand_landmarker.task").exists()
    else:
        assert metrics["hand_found"] > 0.8
        assert (run / "model" / "hand_landmarker.task").is_file()
    # evaluate on unseen frames of the same letters (other lighting sessions)
    data = link_subset(shared_train, tmp_path / "later", ["A", "B", "C", "L", "Y"], per_class=6,
                       step=40)
    result = run_cli("evaluate", str(run / "model"), str(data), "--json",
                     str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["n"] == 30 and report["accuracy"] >= 0.5
    assert ("hand found" in result.stdout) == (mode != "image")
    if mode != "image":
        assert all(row["hand_found"] is not None for row in report["per_class"].values())
    photos = [str(shared_train / letter / f"{letter}1200.jpg") for letter in ("B", "L")]
    result = run_cli("predict", str(run / "model"), *photos, "--json")
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    assert [p["path"] for p in predictions] == photos
    for p in predictions:
        assert p["route"] == ("image" if mode == "image" else "hand")
        assert ("hand" in p) == (mode != "image")
        if mode != "image":
            assert len(p["hand"]["landmarks"]) == 21 and p["hand"]["hands_in_view"] == 1


@pytest.mark.parametrize("mode", ["landmarks", "crop", "fusion"])
def test_mirror_image_gives_the_same_letter(mode: str, mode_runs: dict[str, Path],
                                            shared_train: Path, tmp_path: Path) -> None:
    """A selfie camera shows the mirror image: hand modes mirror left hands back."""
    model = Model.load(mode_runs[mode] / "model")
    photos = [shared_train / letter / f"{letter}{i}.jpg"
              for letter in ("A", "B", "C", "L", "Y") for i in (900, 1300)]
    mirrored = []
    for path in photos:
        copy = tmp_path / f"mirror-{path.stem}.png"  # lossless: only the mirroring differs
        ImageOps.mirror(Image.open(path)).save(copy)
        mirrored.append(copy)
    original = model.predict(photos)
    flipped = model.predict(mirrored)
    pairs = [(a, b) for a, b in zip(original, flipped, strict=True)
             if a.hand is not None and b.hand is not None]
    assert len(pairs) >= 8
    assert all(a.hand.handedness != b.hand.handedness for a, b in pairs)
    # MediaPipe's landmarks of a mirrored photo are close to, not exactly, the mirrored
    # landmarks: the letter is the same, or a near tie with the runner-up
    for a, b in pairs:
        assert a.label == b.label or a.label in dict(b.top_k[:2]), (a, b)
    assert sum(a.label == b.label for a, b in pairs) >= 0.8 * len(pairs)


def test_no_hand_routes(mode_runs: dict[str, Path], small_data: Path, shared_train: Path,
                        tmp_path: Path) -> None:
    noise = noise_image(tmp_path / "noise.png", size=96)
    # landmarks without a `nothing` class: the whole-image fallback head answers
    landmarks = Model.load(mode_runs["landmarks"] / "model")
    assert landmarks.fallback_head is not None
    (prediction,) = landmarks.predict([noise])
    assert prediction.route == "no hand: whole image" and prediction.hand is None
    assert prediction.label in landmarks.classes
    # fusion sees the whole image where there is no hand
    (prediction,) = Model.load(mode_runs["fusion"] / "model").predict([noise])
    assert prediction.route == "no hand: whole image"
    # landmarks with a `nothing` class: an empty frame is `nothing`, by rule
    data = tmp_path / "with-nothing"
    for letter in ("A", "B", "C", "L", "Y"):
        (data / letter).mkdir(parents=True)
        for path in sorted((small_data / letter).iterdir())[:30]:
            (data / letter / path.name).symlink_to(path.resolve())
    link_subset(shared_train, data, ["nothing"], per_class=30, step=2)
    result = fingerspell.train(data, tmp_path / "run", features="landmarks", epochs=4,
                               show_progress=False)
    model = Model.load(result.model_dir)
    assert model.fallback_head is None
    (prediction,) = model.predict([shared_train / "nothing" / "nothing1500.jpg"])
    assert (prediction.label, prediction.route) == ("nothing", "no hand: nothing")
    assert result.metrics.val_per_class["nothing"]["recall"] == 1.0


def test_cache_reuse_and_python_api(small_data: Path, hand_model: Path, tmp_path: Path) -> None:
    """Detection and crop features are computed once: a second run reads everything, and gets
    exactly what a fresh computation gave (a crop's cache key is its hand's box)."""
    cache = tmp_path / "cache"
    first = fingerspell.train(small_data, tmp_path / "a", features="fusion", epochs=2,
                              cache_dir=cache, show_progress=False)
    second = fingerspell.train(small_data, tmp_path / "b", features="fusion", epochs=2,
                               cache_dir=cache, show_progress=False)
    n = len(list(small_data.rglob("*.jpg")))
    assert first.metrics.features_computed == n
    assert second.metrics.features_computed == 0 and second.metrics.features_cached == n
    assert first.metrics.best_val_acc == second.metrics.best_val_acc
    losses = [[h["val_loss"] for h in r.metrics.history] for r in (first, second)]
    assert losses[0] == losses[1]
    report = fingerspell.evaluate(second.model_dir, small_data, show_progress=False,
                                  out_dir=tmp_path / "eval", cache_dir=cache).report
    assert report["hand_found"] > 0.8 and report["accuracy"] > 0.9


def test_merged_folders_and_signer_split(small_data: Path, shared_signers: Path, hand_model: Path,
                                         tmp_path: Path) -> None:
    """Kaggle frames (one signer, 5 letters) + other people's photos (lower-case folder name):
    classes merge by name, whole signers are held out, evaluate reports per signer."""
    others = tmp_path / "others"
    others.mkdir()
    (others / "a").symlink_to(shared_signers / "A")  # merges with the Kaggle "A"
    (others / "B").symlink_to(shared_signers / "B")
    (others / "D").symlink_to(shared_signers / "D")  # a letter only this folder has
    result = run_cli("train", str(small_data), str(others), "--out", str(tmp_path / "run"),
                     "--features", "landmarks", "--epochs", "8")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["A", "B", "C", "L", "Y", "D"]
    assert metrics["split"] == "frame+signer"
    assert [len(s["classes"]) for s in metrics["sources"]] == [5, 3]
    assert metrics["sources"][1]["classes"] == ["A", "B", "D"] and "from " in result.stdout
    # several folders: by default the temperature comes from answers about the other folder (A
    # and B: the letters both folders have), which the training summary reports
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    fit = config["calibration"]
    assert fit["fitted_on"] == "leave one source out (2 folders)" and fit["n"] > 20
    assert metrics["calibration_fit"] == fit and "fitted on leave one source out" in result.stdout
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    held_out = {Path(p).name.split("_")[0] for p in split["val"] if "_" in Path(p).name}
    assert held_out
    trained = {p.name.split("_")[0] for p in (shared_signers / "A").iterdir()} - held_out
    assert trained and not held_out & trained
    data = tmp_path / "eval-data"
    data.mkdir()
    (data / "D").symlink_to(shared_signers / "D")
    result = run_cli("evaluate", str(tmp_path / "run"), str(data), "--json",
                     str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    assert len(report["per_signer"]) == 21 and "signer" in result.stdout


def test_inspect_draws_landmarks_and_grad_cam(mode_runs: dict[str, Path], shared_train: Path,
                                              tmp_path: Path) -> None:
    photo = shared_train / "L" / "L1200.jpg"
    for mode, cam in (("fusion", True), ("image", True), ("landmarks", False)):
        out = tmp_path / f"{mode}.png"
        result = run_cli("inspect", str(mode_runs[mode]), str(photo), "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert ("no Grad-CAM" in result.stdout) != cam
        assert result.stdout.split("\t")[1] in {"A", "B", "C", "L", "Y"}
        with Image.open(out) as picture:
            assert picture.width > 1000 and picture.height > 300


def test_grad_cam_is_the_class_evidence(mode_runs: dict[str, Path], shared_train: Path) -> None:
    """With a linear head on pooled features, Grad-CAM's weighted map summed over positions
    is exactly the class logit minus its bias: the gradients reach the right feature map."""
    import torch

    from fingerspell.features.crops import hand_crop
    from fingerspell.infer.inspect import grad_cam
    for mode in ("image", "crop"):
        model = Model.load(mode_runs[mode] / "model", runtime="torch")
        photo = shared_train / "B" / "B1200.jpg"
        (prediction,) = model.predict([photo])
        seen = Image.open(photo).convert("RGB")
        if mode == "crop":
            seen = hand_crop(seen, prediction.hand, model.hand_settings.margin)
        target = model.classes.index(prediction.label)
        weighted = grad_cam(model, seen, None, target, raw=True)
        assert weighted is not None and weighted.shape == (7, 7)
        with torch.inference_mode():
            features = model.backbone(torch.from_numpy(model.preprocessing(seen))[None])
            logit = model.head(features)[0, target]
        bias = model.head.layers[-1].bias[target].detach()
        assert float(weighted.sum()) == pytest.approx(float(logit - bias), rel=1e-3, abs=1e-3)
        cam = grad_cam(model, seen, None, target)
        assert cam is not None and cam.min() >= 0 and np.isclose(cam.max(), 1.0)


def test_fusion_export_runs_in_onnx_runtime(mode_runs: dict[str, Path], shared_train: Path,
                                            tmp_path: Path) -> None:
    import shutil
    model_dir = tmp_path / "model"
    shutil.copytree(mode_runs["fusion"] / "model", model_dir)
    result = run_cli("export", str(model_dir))
    assert result.returncode == 0, result.stderr
    photos = [shared_train / letter / f"{letter}1000.jpg" for letter in ("A", "C", "Y")]
    torch_predictions = Model.load(model_dir, runtime="torch").predict(photos)
    onnx_model = Model.load(model_dir, runtime="onnx")
    assert onnx_model.runtime == "onnx"
    onnx_predictions = onnx_model.predict(photos)
    for a, b in zip(torch_predictions, onnx_predictions, strict=True):
        assert a.label == b.label and abs(a.confidence - b.confidence) < 1e-3


def test_hand_options_errors(small_data: Path, tmp_path: Path) -> None:
    result = run_cli("train", str(small_data), "--out", str(tmp_path / "r1"), "--features",
                     "crop", "--hand-model", str(tmp_path / "missing.task"))
    assert result.returncode == 2 and "missing.task: hand model file does not exist" in result.stderr
    bogus = tmp_path / "bogus.task"
    bogus.write_bytes(b"not a model")
    result = run_cli("train", str(small_data), "--out", str(tmp_path / "r2"), "--features",
                     "landmarks", "--hand-model", str(bogus))
    assert result.returncode == 2 and "not a MediaPipe hand-landmarker bundle" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("train", str(small_data), "--out", str(tmp_path / "r3"), "--features",
                     "landmarks", "--finetune", "2")
    assert result.returncode == 2 and "--finetune needs backbone features" in result.stderr
    result = run_cli("train", str(small_data), str(small_data), "--out", str(tmp_path / "r4"))
    assert result.returncode == 2 and "given twice" in result.stderr


def test_fusion_weight_chosen_on_each_folder_answered_without_it(
        small_data: Path, shared_signers: Path, hand_model: Path, tmp_path: Path) -> None:
    """Two data folders: the landmark head's weight is the one that did best on each folder
    answered by heads fitted on the other; a number given on the command line is kept."""
    others = tmp_path / "others"
    others.mkdir()
    for letter in ("A", "B", "C"):
        (others / letter).symlink_to(shared_signers / letter)
    cache = tmp_path / "cache"
    result = run_cli("--cache-dir", str(cache), "train", str(small_data), str(others),
                     "--out", str(tmp_path / "auto"), "--features", "fusion", "--epochs", "3")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    scores = metrics["landmark_weight_by_source_folds"]
    assert set(scores) == {"0.5", "0.6", "0.7", "0.8", "0.9", "1.0"}
    best = max(scores.values())
    assert scores[str(metrics["landmark_weight"])] == best
    assert min(float(w) for w, s in scores.items() if s == best) == metrics["landmark_weight"]
    config = json.loads((tmp_path / "auto" / "model" / "config.json").read_text())
    assert config["head"]["landmark_weight"] == metrics["landmark_weight"]
    assert "landmark head weight" in result.stdout

    result = run_cli("--cache-dir", str(cache), "train", str(small_data), str(others),
                     "--out", str(tmp_path / "fixed"), "--features", "fusion", "--epochs", "3",
                     "--landmark-weight", "0.8")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "fixed" / "metrics.json").read_text())
    assert metrics["landmark_weight"] == 0.8 and "landmark_weight_by_source_folds" not in metrics
    bad = run_cli("train", str(small_data), "--out", str(tmp_path / "bad"),
                  "--landmark-weight", "1.5")
    assert bad.returncode != 0 and "--landmark-weight must be auto or a number" in bad.stderr
