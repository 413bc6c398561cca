"""Shared fixtures: real photos from ../shared (skipped with a reason when absent) and tiny images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_TRAIN = SHARED / "data" / "asl_alphabet" / "train"
SHARED_TEST = SHARED / "data" / "asl_alphabet" / "test"
SHARED_SIGNERS = SHARED / "data" / "multi_signer"
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"
FINGERSPELL = Path(sys.executable).with_name("fingerspell")


@pytest.fixture(scope="session", autouse=True)
def _feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for the whole session, never the user's own."""
    folder = tmp_path_factory.mktemp("feature-cache")
    from fingerspell.infer.web_runtime import WEB_RUNTIME_ENV, installed_runtime
    runtime = installed_runtime()  # the on-device page's npm packages, as make setup left them
    if runtime is not None:
        os.environ.setdefault(WEB_RUNTIME_ENV, str(runtime))
    os.environ["FINGERSPELL_CACHE"] = str(folder)
    if HAND_MODEL.is_file():  # offline: the hand model comes from ../shared, not a download
        os.environ["FINGERSPELL_HAND_MODEL"] = str(HAND_MODEL)
    return folder


@pytest.fixture(scope="session")
def hand_model() -> Path:
    if not HAND_MODEL.is_file():
        pytest.skip(f"MediaPipe hand model not available: {HAND_MODEL} is absent")
    return HAND_MODEL


@pytest.fixture(scope="session")
def shared_signers() -> Path:
    if not SHARED_SIGNERS.is_dir():
        pytest.skip(f"multi-signer photos not available: {SHARED_SIGNERS} is absent")
    return SHARED_SIGNERS


@pytest.fixture(scope="session")
def shared_train() -> Path:
    if not SHARED_TRAIN.is_dir():
        pytest.skip(f"real photos not available: {SHARED_TRAIN} is absent")
    return SHARED_TRAIN


@pytest.fixture(scope="session")
def shared_test() -> Path:
    if not SHARED_TEST.is_dir():
        pytest.skip(f"real photos not available: {SHARED_TEST} is absent")
    return SHARED_TEST


def link_subset(source: Path, dest: Path, classes: list[str], per_class: int,
                step: int = 1, offset: int = 0) -> Path:
    """A small ImageFolder of symlinks to real photos (nothing is copied): every ``step``-th
    frame of each class from its ``offset``-th."""
    for name in classes:
        files = sorted((source / name).iterdir(), key=lambda p: int("".join(filter(str.isdigit, p.stem))))
        (dest / name).mkdir(parents=True, exist_ok=True)
        for path in files[offset::step][:per_class]:
            (dest / name / path.name).symlink_to(path)
    return dest


@pytest.fixture(scope="session")
def small_data(shared_train: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 letters x 60 frames (every 2nd of the shared frames): trains in seconds."""
    return link_subset(shared_train, tmp_path_factory.mktemp("small") / "data",
                       ["A", "B", "C", "L", "Y"], per_class=60, step=2)


@pytest.fixture(scope="session")
def trained_run(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real training run through the CLI, shared by the tests that inspect its outputs."""
    out = tmp_path_factory.mktemp("runs") / "small"
    result = run_cli("train", str(small_data), "--out", str(out), "--epochs", "8", "--features",
                     "image")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on synthetic colour patches: no real photos needed, for error paths."""
    data = tmp_path_factory.mktemp("tiny") / "data"
    for label, colour in (("A", (200, 40, 40)), ("B", (40, 200, 40)), ("C", (40, 40, 200))):
        for i in range(12):
            rng = np.random.default_rng(i)
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (64, 64, 3)), 0, 255)
            path = data / label / f"{label}{i + 1}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path)
    out = data.parent / "run"
    result = run_cli("train", str(data), "--out", str(out), "--epochs", "3", "--features", "image")
    assert result.returncode == 0, result.stderr
    return out / "model"


MODES = ("image", "landmarks", "crop", "fusion")


@pytest.fixture(scope="session")
def mode_runs(small_data: Path, hand_model: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One CLI training run per mode on 5 letters (fusion without --features: the default)."""
    root = tmp_path_factory.mktemp("modes")
    runs = {}
    for mode in MODES:
        extra = [] if mode == "fusion" else ["--features", mode]
        result = run_cli("train", str(small_data), "--out", str(root / mode), "--epochs", "12",
                         *extra)
        assert result.returncode == 0, result.stderr
        assert f"trained    {mode} features" in result.stdout
        runs[mode] = root / mode
    return runs


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the installed ``fingerspell`` command as a user would."""
    return subprocess.run([str(FINGERSPELL), "-q", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def write_image(path: Path, size: tuple[int, int] = (64, 64), mode: str = "RGB",
                color: int | tuple[int, ...] = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def noise_image(path: Path, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path
