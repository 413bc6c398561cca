"""The command line as a user meets it: train, evaluate, predict, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import link_subset, noise_image, run_cli, write_image


def assert_one_line_error(result, *fragments: str, code: int = 2) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_train_writes_a_complete_run(trained_run: Path) -> None:
    for name in ("model/config.json", "model/model.safetensors", "metrics.json", "curves.png",
                 "confusion_matrix.png", "errors.png", "report.html", "split.json",
                 "checkpoints/last.pt", "checkpoints/best.pt", "checkpoints/epoch_001.pt",
                 "checkpoints/epoch_008.pt"):
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert len(metrics["history"]) == 8 and metrics["split"] == "frame"
    assert metrics["n_train"] + metrics["n_val"] == 300
    assert metrics["best_val_acc"] > 0.6  # 5 letters: chance is 0.2
    config = json.loads((trained_run / "model" / "config.json").read_text())
    assert config["classes"] == ["A", "B", "C", "L", "Y"]
    assert config["backbone"]["name"] == "efficientnet_lite0"
    assert config["preprocessing"]["size"] == 224 and config["fingerspell_version"]


def test_predict_json(trained_run: Path, shared_test: Path, tmp_path: Path) -> None:
    files = [str(shared_test / f"{c}_test.jpg") for c in ("A", "B", "C", "L", "Y")]
    saved = tmp_path / "answers"
    result = run_cli("predict", str(trained_run / "model"), *files, "--json", "--top-k", "3",
                     "--save", str(saved))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert json.loads((saved / "predictions.json").read_text())["predictions"] == rows
    assert sorted(p.name for p in saved.glob("*.png")) == sorted(Path(f).stem + ".png"
                                                               for f in files)
    not_a_folder = tmp_path / "answers.txt"
    not_a_folder.write_text("mine")
    refused = run_cli("predict", str(trained_run / "model"), files[0], "--save", str(not_a_folder))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "not a folder" in refused.stderr and not_a_folder.read_text() == "mine"
    assert [r["path"] for r in rows] == files
    for row in rows:
        assert len(row["top_k"]) == 3 and row["label"] == row["top_k"][0][0]
        assert 0 <= row["confidence"] <= 1
    correct = sum(Path(r["path"]).name.startswith(r["label"] + "_") for r in rows)
    assert correct >= 4


def test_predict_text_and_folder(trained_run: Path, shared_test: Path) -> None:
    result = run_cli("predict", str(trained_run), str(shared_test))  # a run folder works too
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 28
    for line in lines:  # path, letter, confidence, and a mark under the calibrated threshold
        _, _, confidence, *rest = line.split("\t")
        assert rest == (["[unsure]"] if float(confidence) < 0.5 else [])


def test_evaluate_subset_of_classes(trained_run: Path, shared_test: Path, tmp_path: Path) -> None:
    data = tmp_path / "test"
    data.mkdir()
    for name in ("A", "B", "C", "L"):
        (data / f"{name}_test.jpg").symlink_to(shared_test / f"{name}_test.jpg")
    report_path = tmp_path / "eval" / "metrics.json"
    result = run_cli("evaluate", str(trained_run / "model"), str(data), "--json", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["n"] == 4 and 0 <= report["accuracy"] <= 1
    assert set(report["per_class"]) <= {"A", "B", "C", "L", "Y"}
    assert set(report["per_class"]["A"]) == {"precision", "recall", "f1", "support"}
    assert report["missing_classes"] == ["Y"] and "missing from the data: Y" in result.stdout
    for name in ("confusion_matrix.png", "errors.png", "confidence.png", "report.html"):
        assert (report_path.parent / name).stat().st_size > 1000
    # honest confidence: calibration and accuracy on the most confident predictions
    assert 0 <= report["calibration"]["ece"] <= 1
    assert sum(b["n"] for b in report["calibration"]["bins"]) == 4
    assert set(report["risk_coverage"]["accuracy_at"]) == {"0.9", "0.8", "0.5"}
    assert "calibration error (ECE)" in result.stdout
    assert "calibration error (ECE)" in (report_path.parent / "report.html").read_text()


def test_evaluate_class_mismatch(trained_run: Path, shared_test: Path) -> None:
    result = run_cli("evaluate", str(trained_run / "model"), str(shared_test))
    assert_one_line_error(result, "classes not known to the model", "nothing")


def test_dry_run_prints_config(small_data: Path, tmp_path: Path) -> None:
    result = run_cli("train", str(small_data), "--out", str(tmp_path / "r"), "--dry-run",
                     "--preset", "seed", "--epochs", "3")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["recipe"]["backbone"] == "vgg16" and config["recipe"]["epochs"] == 3
    assert config["recipe"]["hidden"] == [8192, 4096] and not (tmp_path / "r").exists()


def test_refuses_to_overwrite_a_run(trained_run: Path, small_data: Path) -> None:
    before = (trained_run / "model" / "model.safetensors").stat().st_mtime_ns
    result = run_cli("train", str(small_data), "--out", str(trained_run))
    assert_one_line_error(result, "holds a fingerspell run", "--resume", "--force")
    assert (trained_run / "model" / "model.safetensors").stat().st_mtime_ns == before


def test_resume_extends_a_finished_run(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run_cli("train", str(small_data), "--out", str(out), "--epochs", "3", "--runtime", "torch")
    assert first.returncode == 0 and "(torch)" in first.stdout
    # the feature engine may change on resume: it does not change what is learnt
    result = run_cli("train", str(small_data), "--out", str(out), "--resume", "--epochs", "5",
                     "--runtime", "auto")
    assert result.returncode == 0, result.stderr
    assert "resumed after epoch 3" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    different = run_cli("train", str(small_data), "--out", str(out), "--resume", "--lr", "0.5")
    assert_one_line_error(different, "cannot resume with different settings", "lr")
    # a run saved before the landmark encoding was recorded: its checkpoints mean encoding 1
    config = json.loads((out / "config.json").read_text())
    assert config["landmark_encoding"] == 2
    del config["landmark_encoding"]
    (out / "config.json").write_text(json.dumps(config))
    older = run_cli("train", str(small_data), "--out", str(out), "--resume", "--epochs", "6")
    assert_one_line_error(older, "started with landmark encoding 1", "--force")


def test_unreadable_images_are_skipped_and_listed(shared_train: Path, tmp_path: Path) -> None:
    data = link_subset(shared_train, tmp_path / "data", ["A", "B"], per_class=20, step=5)
    (data / "A" / "A9999.jpg").write_bytes(b"")
    (data / "B" / "B9999.jpg").write_text("<html>not a photo</html>")
    good = noise_image(tmp_path / "g.jpg", size=128)
    (data / "B" / "B9998.jpg").write_bytes(good.read_bytes()[:300])
    result = run_cli("train", str(data), "--out", str(tmp_path / "run"), "--epochs", "2")
    assert result.returncode == 0, result.stderr
    skipped = (tmp_path / "run" / "skipped.txt").read_text().splitlines()
    assert len(skipped) == 3 and "3 unreadable images" in result.stdout
    reasons = dict(line.split("\t") for line in skipped)
    assert "empty file" in reasons[str(data / "A" / "A9999.jpg")]
    assert "not an image" in reasons[str(data / "B" / "B9999.jpg")]


@pytest.mark.parametrize("case", ["empty class", "one class", "no images", "not a folder"])
def test_train_bad_data_folders(case: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    if case == "empty class":
        write_image(data / "A" / "A1.jpg")
        (data / "B").mkdir()
    elif case == "one class":
        write_image(data / "A" / "A1.jpg")
    elif case == "no images":
        (data / "A").mkdir(parents=True)
        (data / "A" / "readme.txt").write_text("x")
    else:
        data.write_text("x")
    result = run_cli("train", str(data), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, str(data))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["zero-byte", "text", "truncated", "tiny"])
def test_predict_bad_images(tiny_model: Path, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.jpg"
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("just text")
    elif kind == "truncated":
        path.write_bytes(noise_image(tmp_path / "ok.jpg", size=256).read_bytes()[:500])
    else:
        write_image(path, size=(1, 1))
    result = run_cli("predict", str(tiny_model), str(path))
    assert_one_line_error(result, str(path), code=1)
    assert result.stdout.strip() in ("", "[]")


def test_predict_odd_but_valid_images(tiny_model: Path, tmp_path: Path) -> None:
    files = [write_image(tmp_path / "gray.png", mode="L", color=90),
             write_image(tmp_path / "rgba.png", mode="RGBA", color=(0, 0, 0, 0)),
             write_image(tmp_path / "pal.png", mode="P", color=7),
             write_image(tmp_path / "deep.png", mode="I;16", color=40000),
             write_image(tmp_path / "big.jpg", size=(8000, 8000))]
    result = run_cli("predict", str(tiny_model), *map(str, files), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5


@pytest.mark.parametrize("case", ["missing", "empty folder", "wrong files", "bad json"])
def test_not_a_model(tmp_path: Path, case: str) -> None:
    model = tmp_path / "model"
    if case != "missing":
        model.mkdir()
    if case == "wrong files":
        (model / "config.json").write_text('{"hello": 1}')
        (model / "model.safetensors").write_bytes(b"abc")
    if case == "bad json":
        (model / "config.json").write_text("{not json")
        (model / "model.safetensors").write_bytes(b"abc")
    image = write_image(tmp_path / "x.jpg")
    result = run_cli("predict", str(model), str(image))
    assert_one_line_error(result, str(model))


def test_backbones_listing() -> None:
    result = run_cli("backbones")
    assert result.returncode == 0
    assert "efficientnet_lite0" in result.stdout and "vgg16" in result.stdout


def test_recipe_config_file_with_augmented_views(small_data: Path, tmp_path: Path) -> None:
    config = tmp_path / "recipe.json"
    config.write_text(json.dumps({"recipe": {"augment_views": 1, "epochs": 2}}))
    out = tmp_path / "run"
    result = run_cli("train", str(small_data), "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train_rows"] == 2 * metrics["n_train"] and len(metrics["history"]) == 2


def test_data_download_without_kaggle_says_how(tmp_path: Path) -> None:
    pytest.importorskip("fingerspell")
    try:
        import kaggle  # noqa: F401
        pytest.skip("the Kaggle API is installed here; this test covers its absence")
    except ImportError:
        pass
    result = run_cli("data", "download", "--dest", str(tmp_path / "d"))
    assert_one_line_error(result, "pip install kaggle")


def test_make_demo_without_data_says_how_to_get_it(tmp_path: Path) -> None:
    import subprocess

    from .conftest import REPO
    result = subprocess.run(["make", "-s", "demo", f"DATA={tmp_path / 'none'}",
                             f"RUN={tmp_path / 'run'}"], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode != 0
    assert "kaggle.com/datasets/grassknoted/asl-alphabet" in result.stdout
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device", ["gpu", "cuda:7", "mps"])
def test_unusable_device_is_one_line(tiny_model: Path, tmp_path: Path, device: str) -> None:
    import torch
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    image = write_image(tmp_path / "x.jpg")
    result = run_cli("predict", str(tiny_model), str(image), "--device", device)
    assert_one_line_error(result, device)
