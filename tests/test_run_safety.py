"""Nothing a user owns is lost: --force only ever replaces a fingerspell run, and only once the
new run has succeeded; runs without --out are numbered; a resume writes where it is pointed;
explicit flags win over --config; a full disk leaves the previous model intact."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, run_cli
from .test_cli import assert_one_line_error

QUICK = ("--features", "image", "--epochs", "2", "--runtime", "torch")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_that_is_not_a_run_is_never_touched(small_data: Path, tmp_path: Path,
                                                     force: bool) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "thesis.txt").write_text("years of work")
    shutil.copytree(small_data, home / "data")  # the training data itself inside --out
    before = snapshot(home)
    result = run_cli("train", str(home / "data"), "--out", str(home), *QUICK,
                     *(["--force"] if force else []))
    assert_one_line_error(result, str(home), "holds no fingerspell run")
    assert snapshot(home) == before


def test_force_replaces_a_run_only_after_success(trained_run: Path, small_data: Path,
                                                 tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    old_model = (run / "model" / "model.safetensors").read_bytes()
    # a failing replacement (no such backbone) leaves the old run exactly as it was
    before = snapshot(run)
    failed = run_cli("train", str(small_data), "--out", str(run), "--force", "--backbone", "nope")
    assert failed.returncode == 2 and snapshot(run) == before
    result = run_cli("train", str(small_data), "--out", str(run), "--force", *QUICK)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["features"] == "image"
    assert (run / "model" / "model.safetensors").read_bytes() != old_model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left
    config = json.loads((run / "config.json").read_text())
    assert config["out"] == str(run.resolve()) and config["kind"] == "fingerspell-run"


def test_full_disk_keeps_the_previous_model(trained_run: Path, small_data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The disk fills up while the new model is written: one line, exit 2, old run intact."""
    import safetensors.torch

    from fingerspell.cli import main
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = snapshot(run)

    def disk_full(_tensors: object, filename: str, *args: object, **kwargs: object) -> None:
        Path(filename).write_bytes(b"\0" * 100)  # a partial file, then ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    code = main(["-q", "train", str(small_data), "--out", str(run), "--force", *QUICK])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert "No space left on device" in lines[0] and "model.safetensors" in lines[0]
    assert snapshot(run) == before  # model, metrics.json and all


def test_runs_without_out_are_numbered(small_data: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import fingerspell
    monkeypatch.chdir(tmp_path)
    first = fingerspell.train(small_data, epochs=1, features="image", runtime="torch",
                              show_progress=False)
    assert first.run_dir == (tmp_path / "runs" / "train").resolve()
    assert (first.model_dir / "model.safetensors").is_file()
    second = run_cli("train", str(small_data), "--dry-run")  # runs in tmp_path too
    assert json.loads(second.stdout)["out"] == str(tmp_path.resolve() / "runs" / "train2")


def test_resume_writes_where_it_is_pointed_and_extends_gently(small_data: Path,
                                                              tmp_path: Path) -> None:
    """A copied run resumes in the copy (the original is untouched); extending a finished
    cosine run is a gentle second cycle, not a jump back to a fresh plan's rate."""
    original = tmp_path / "original"
    assert run_cli("train", str(small_data), "--out", str(original), *QUICK[:2], "--epochs", "3",
                   "--runtime", "torch").returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    before = snapshot(original)
    result = run_cli("train", str(small_data), "--out", str(copy), "--resume", "--epochs", "6")
    assert result.returncode == 0, result.stderr
    assert snapshot(original) == before
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy.resolve())
    history = json.loads((copy / "metrics.json").read_text())["history"]
    rates = [h["lr"] for h in history]
    base = json.loads((copy / "config.json").read_text())["recipe"]["lr"]
    assert len(rates) == 6 and rates[2] < 0.05 * base  # the first cycle ends near zero
    assert all(rate <= 0.1 * base + 1e-12 for rate in rates[3:])
    assert rates[3] > rates[4] > rates[5]


def test_explicit_flags_win_over_the_config_file(small_data: Path, tmp_path: Path) -> None:
    best = tmp_path / "best_config.json"
    best.write_text(json.dumps({"recipe": {"features": "image", "lr": 0.01, "hidden": [256],
                                           "dropout": [0.5], "epochs": 9}}))
    result = run_cli("train", str(small_data), "--out", str(tmp_path / "r"), "--dry-run",
                     "--config", str(best), "--features", "fusion", "--lr", "0.002")
    recipe = json.loads(result.stdout)["recipe"]
    assert recipe["features"] == "fusion" and recipe["lr"] == 0.002  # the flags
    assert recipe["hidden"] == [256] and recipe["epochs"] == 9  # the file
    alone = run_cli("train", str(small_data), "--out", str(tmp_path / "r"), "--dry-run",
                    "--config", str(best))
    assert json.loads(alone.stdout)["recipe"]["features"] == "image"  # the file, no flag


def test_the_package_imports_without_torch() -> None:
    import subprocess
    import sys
    code = ("import sys, fingerspell, fingerspell.cli; fingerspell.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'timm', 'matplotlib', 'numpy', 'mediapipe') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"
