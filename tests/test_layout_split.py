"""Data folders in every layout users have, and the honest split."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from fingerspell.data import discover, split_samples
from fingerspell.data.layout import Sample
from fingerspell.errors import FingerspellError

from .conftest import write_image


def make_tree(root: Path, classes: dict[str, int]) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            write_image(root / name / f"{name}{i + 1}.jpg", color=(i * 7 % 255, 0, 0))
    return root


def test_imagefolder(tmp_path: Path) -> None:
    images = discover(make_tree(tmp_path / "d", {"A": 3, "B": 2}))
    assert images.layout == "folders" and images.classes == ["A", "B"]
    assert images.counts() == {"A": 3, "B": 2}
    assert sorted(s.frame for s in images.samples if s.label == "A") == [1, 2, 3]


def test_kaggle_nested_duplicate_folder(tmp_path: Path) -> None:
    make_tree(tmp_path / "asl_alphabet_train" / "asl_alphabet_train", {"A": 2, "del": 2})
    images = discover(tmp_path / "asl_alphabet_train")
    assert images.root.name == "asl_alphabet_train" and images.root.parent.name == "asl_alphabet_train"
    assert images.classes == ["A", "del"]


def test_flat_test_folder(tmp_path: Path) -> None:
    for name in ("A", "nothing", "space"):
        write_image(tmp_path / "t" / f"{name}_test.jpg")
    images = discover(tmp_path / "t")
    assert images.layout == "flat" and images.classes == ["A", "nothing", "space"]


def test_shared_layouts(shared_train: Path, shared_test: Path) -> None:
    train = discover(shared_train)
    assert len(train.classes) == 29 and len(train.samples) == 8700
    test = discover(shared_test)
    assert test.layout == "flat" and len(test.samples) == 28 and "del" not in test.classes


def test_hidden_and_non_image_files_are_ignored(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"A": 2, "B": 2})
    (root / "A" / "notes.txt").write_text("x")
    (root / "A" / ".DS_Store").write_bytes(b"x")
    assert discover(root).counts() == {"A": 2, "B": 2}


@pytest.mark.parametrize(("build", "message"), [
    (lambda r: make_tree(r, {"A": 2}), "at least 2"),
    (lambda r: (make_tree(r, {"A": 2}), (r / "B").mkdir()), "class folder has no images"),
    (lambda r: r.mkdir(), "no images found"),
    (lambda r: (make_tree(r, {"A": 1, "B": 1}), write_image(r / "loose.jpg")), "unknown layout"),
    (lambda r: (r.mkdir(), write_image(r / "nounderscore.jpg")), "unknown layout"),
])
def test_bad_folders(tmp_path: Path, build, message: str) -> None:
    root = tmp_path / "data"
    build(root)
    with pytest.raises(FingerspellError, match=message):
        discover(root)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FingerspellError, match="does not exist"):
        discover(tmp_path / "nope")


def _samples(classes: str = "AB", n: int = 300) -> list[Sample]:
    return [Sample(Path(f"{c}{i}.jpg"), c, i) for c in classes for i in range(5, 5 * n + 1, 5)]


def test_frame_split_keeps_neighbours_together() -> None:
    samples = _samples()
    split = split_samples(samples, val_fraction=0.2, seed=3)
    assert len(split.val) == 120 and len(split.train) == 480
    assert not set(split.train) & set(split.val)
    for label in "AB":
        val_frames = sorted(samples[i].frame for i in split.val if samples[i].label == label)
        # two contiguous runs of 30 frames (step 5): at most one gap between them
        gaps = [b - a for a, b in itertools.pairwise(val_frames) if b - a != 5]
        assert len(val_frames) == 60 and len(gaps) <= 1
        train_frames = {samples[i].frame for i in split.train if samples[i].label == label}
        neighbours = {f + d for f in val_frames for d in (-5, 5)} - set(val_frames)
        # only block edges touch training frames: at most 2 per val block
        assert len(neighbours & train_frames) <= 4


def test_split_is_reproducible_and_seeded() -> None:
    samples = _samples()
    assert split_samples(samples, seed=1) == split_samples(samples, seed=1)
    assert split_samples(samples, seed=1).val != split_samples(samples, seed=2).val


def test_random_split_interleaves() -> None:
    samples = _samples("A")
    split = split_samples(samples, strategy="random", seed=0)
    val_frames = sorted(samples[i].frame for i in split.val)
    gaps = [b - a for a, b in itertools.pairwise(val_frames) if b - a != 5]
    assert len(gaps) > 10  # scattered: the leak that frame blocks prevent
