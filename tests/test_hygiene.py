"""What a user's environment keeps: their plotting backend, a readable log, a cache that heals
itself, and output folders that never collide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, run_cli


def test_plotting_never_switches_the_users_backend() -> None:
    code = ("import matplotlib; matplotlib.use('svg'); "
            "import fingerspell.evaluation.plots as p, fingerspell.infer.inspect; "
            "p.plot_curves([{'epoch': 1, 'train_loss': 1, 'val_loss': 1, 'train_acc': 0.5, "
            "'val_acc': 0.5}], __import__('pathlib').Path('c.png')); "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO / "src", check=False)
    (REPO / "src" / "c.png").unlink(missing_ok=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"


def test_progress_in_a_log_is_lines_not_carriage_returns(tiny_model: Path, tmp_path: Path) -> None:
    data = tiny_model.parents[1] / "data"  # 36 small images; a fresh cache: every stage runs
    result = subprocess.run([str(Path(sys.executable).with_name("fingerspell")), "--cache-dir",
                             str(tmp_path / "cache"), "train", str(data), "--out",
                             str(tmp_path / "run"), "--features", "image", "--epochs", "2"],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if " in " in line and "/s" in line]
    assert any(line.startswith("features") for line in lines), result.stderr
    assert any(line.startswith("head ") for line in lines), result.stderr


def test_a_corrupt_cache_is_set_aside_and_rebuilt(tiny_model: Path,
                                                  tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_cli("--cache-dir", str(cache), "evaluate", str(tiny_model),
                    str(tiny_model.parents[1] / "data"), "--out", str(tmp_path / "e1"))
    assert first.returncode == 0, first.stderr
    files = list((cache / "features").glob("*.sqlite"))
    assert files
    for file in files:  # truncated to garbage, as a crash or a full disk can leave it
        file.write_bytes(b"SQLite format 3\0" + b"\xff" * 100)
    second = run_cli("--cache-dir", str(cache), "evaluate", str(tiny_model),
                     str(tiny_model.parents[1] / "data"), "--out", str(tmp_path / "e2"))
    assert second.returncode == 0, second.stderr
    assert "feature cache was corrupt" in second.stderr and "Traceback" not in second.stderr
    assert list((cache / "features").glob("*.corrupt-*"))
    assert first.stdout.splitlines()[-1].split(" on ")[0] == second.stdout.splitlines()[-1].split(" on ")[0]


def test_evaluate_writes_a_new_numbered_folder_by_default(tiny_model: Path, tmp_path: Path) -> None:
    data = tiny_model.parents[1] / "data"
    for expected in ("data", "data2"):
        result = subprocess.run([str(Path(sys.executable).with_name("fingerspell")), "-q",
                                 "evaluate", str(tiny_model), str(data)], capture_output=True,
                                text=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "runs" / "eval" / expected / "report.html").is_file()
    assert not (tmp_path / "fingerspell-eval").exists()
