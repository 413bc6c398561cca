"""Data folders in every layout users have, and the honest split."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from fingerspell.data import discover, discover_many, source_balanced_weights, split_samples
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


def _signer_folder(root: Path, classes: list[str], signers: int, per: int = 2,
                   suffix: str = ".jpg") -> Path:
    for label in classes:
        for person in range(1, signers + 1):
            for n in range(1, per + 1):
                write_image(root / label / f"{person}_{label}_{n}{suffix}")
    return root


def test_signer_names_are_parsed(tmp_path: Path) -> None:
    data = _signer_folder(tmp_path / "s", ["A"], signers=2, suffix=".JPG")
    write_image(tmp_path / "s" / "A" / "A17.jpg")  # a Kaggle-style name: no signer
    samples = discover(data, min_classes=1).samples
    assert {s.signer for s in samples} == {"1", "2", None}
    assert next(s for s in samples if s.path.name == "A17.jpg").frame == 17


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_signer_split_never_shares_a_person(tmp_path: Path, seed: int) -> None:
    samples = discover(_signer_folder(tmp_path / "s", ["A", "B", "C"], signers=10)).samples
    split = split_samples(samples, seed=seed)  # auto: the names say who signed
    assert split.strategy == "signer"
    train = {samples[i].signer for i in split.train}
    val = {samples[i].signer for i in split.val}
    assert len(val) == 2 and not train & val and train | val == {str(p) for p in range(1, 11)}
    assert split_samples(samples, seed=seed, strategy="frame").strategy == "frame"


def test_merged_folders(tmp_path: Path) -> None:
    kaggle = tmp_path / "kaggle"
    for label in ("A", "B", "nothing"):
        for i in range(1, 21):
            write_image(kaggle / label / f"{label}{i}.jpg")
    people = _signer_folder(tmp_path / "people", ["a", "B", "D"], signers=5)
    merged = discover_many([kaggle, people])
    assert merged.classes == ["A", "B", "nothing", "D"]  # "a" joins "A", spelled as first seen
    assert merged.sources == [kaggle, people]
    assert {s.label for s in merged.samples if s.source == 1} == {"A", "B", "D"}
    split = split_samples(merged.samples, seed=0)
    assert split.strategy == "frame+signer"
    val_people = {merged.samples[i].signer for i in split.val if merged.samples[i].source == 1}
    train_people = {merged.samples[i].signer for i in split.train if merged.samples[i].source == 1}
    assert val_people and not val_people & train_people
    labels = np.asarray([merged.classes.index(s.label) for s in merged.samples])
    sources = np.asarray([s.source for s in merged.samples])
    weights = source_balanced_weights(labels, sources)
    for label in range(len(merged.classes)):  # class totals kept, sources equal within a class
        rows = labels == label
        assert weights[rows].sum() == pytest.approx(rows.sum())
        totals = [weights[rows & (sources == s)].sum() for s in np.unique(sources[rows])]
        assert np.allclose(totals, totals[0])
    with pytest.raises(FingerspellError, match="given twice"):
        discover_many([kaggle, kaggle])
    with pytest.raises(FingerspellError, match="does not exist"):
        discover_many([kaggle, tmp_path / "missing"])
