"""Feature extraction and its cache: computed once, recomputed when a file changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fingerspell.features import FeatureCache, create_backbone, extract_features

from .conftest import noise_image


def test_cache_is_reused_and_follows_file_changes(tmp_path: Path) -> None:
    backbone = create_backbone("efficientnet_lite0")
    paths = [noise_image(tmp_path / f"{i}.jpg", seed=i) for i in range(5)]
    (tmp_path / "bad.jpg").write_text("not an image")
    paths.append(tmp_path / "bad.jpg")
    cache = FeatureCache(tmp_path / "cache", backbone.cache_namespace)

    first = extract_features(backbone, paths, cache=cache, workers=0, show_progress=False)
    assert first.computed == 6 and list(first.failed) == [5] and "not an image" in first.failed[5]
    assert np.abs(first.vectors[:5]).sum() > 0 and not first.vectors[5].any()

    second = extract_features(backbone, paths, cache=cache, workers=1, show_progress=False)
    assert second.computed == 1  # only the unreadable file is tried again
    np.testing.assert_array_equal(first.vectors, second.vectors)

    noise_image(paths[2], seed=99)
    os.utime(paths[2], ns=(1, 1))  # new content, new mtime
    third = extract_features(backbone, paths, cache=cache, workers=0, show_progress=False)
    assert third.computed == 2
    assert not np.array_equal(third.vectors[2], first.vectors[2])


def test_cache_follows_content_not_place(tmp_path: Path, monkeypatch) -> None:
    """A data folder moved or copied keeps its features (keys are content digests, remembered
    per path, size and time so that unchanged files are not read again); views are not shared
    between two names for one photo, since a view is seeded by the file's name."""
    import shutil

    from fingerspell.features import cache as cache_module
    backbone = create_backbone("efficientnet_lite0")
    first_dir = tmp_path / "data"
    paths = [noise_image(first_dir / f"{i}.jpg", seed=i) for i in range(4)]
    cache = FeatureCache(tmp_path / "cache", backbone.cache_namespace)
    first = extract_features(backbone, paths, cache=cache, workers=0, show_progress=False)
    assert first.computed == 4

    reads = []
    digest = cache_module._digest
    monkeypatch.setattr(cache_module, "_digest", lambda path: reads.append(path) or digest(path))
    again = extract_features(backbone, paths, cache=cache, workers=0, show_progress=False)
    assert again.computed == 0 and reads == []  # unchanged files: not even read

    moved = tmp_path / "moved"
    shutil.copytree(first_dir, moved)  # a copy elsewhere, with new modification times
    for path in moved.iterdir():
        os.utime(path, ns=(7, 7))
    copies = sorted(moved.iterdir())
    second = extract_features(backbone, copies, cache=cache, workers=0, show_progress=False)
    assert second.computed == 0 and len(reads) == 4
    np.testing.assert_array_equal(first.vectors, second.vectors)

    renamed = [path.rename(path.with_name(f"renamed-{path.name}")) for path in copies]
    view = extract_features(backbone, paths, cache=cache, workers=0, show_progress=False, view=1)
    other_names = extract_features(backbone, renamed, cache=cache, workers=0,
                                   show_progress=False, view=1)
    assert view.computed == 4 and other_names.computed == 4


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    """A multi-GB file named like a photo (a video, a disk image) is skipped with a one-line
    reason from its size alone: its digest (a full read) is never computed."""
    from fingerspell.data.images import MAX_FILE_BYTES
    from fingerspell.features import cache as cache_module
    backbone = create_backbone("efficientnet_lite0")
    good = noise_image(tmp_path / "data" / "0.jpg")
    huge = tmp_path / "data" / "1.jpg"
    with huge.open("wb") as handle:  # sparse: no disk is used
        handle.truncate(MAX_FILE_BYTES + 1)
    reads = []
    digest = cache_module._digest
    monkeypatch.setattr(cache_module, "_digest", lambda path: reads.append(path) or digest(path))
    cache = FeatureCache(tmp_path / "cache", backbone.cache_namespace)
    result = extract_features(backbone, [good, huge], cache=cache, workers=0, show_progress=False)
    assert reads == [good] and list(result.failed) == [1]
    assert "file too large" in result.failed[1] and "\n" not in result.failed[1]


def test_cache_is_per_backbone_weights(tmp_path: Path) -> None:
    pretrained = create_backbone("efficientnet_lite0")
    random = create_backbone("efficientnet_lite0", weights="none")
    assert pretrained.cache_namespace != random.cache_namespace


def test_background_replaced_or_masked_behind_the_hand() -> None:
    """Inside the hand's outline the crop is kept; outside, a new room (a seeded gradient with
    noise) or, with ``plain``, one flat colour (the background masked out)."""
    from PIL import Image

    from fingerspell.features.crops import replace_background
    crop = Image.fromarray(np.full((100, 100, 3), 200, np.uint8))
    outline = [(40.0, 40.0), (60.0, 40.0), (60.0, 60.0), (40.0, 60.0)]
    masked = np.asarray(replace_background(crop, outline, np.random.default_rng(0),
                                           plain=(10, 20, 30)))
    assert (masked[50, 50] == 200).all() and (masked[2, 2] == (10, 20, 30)).all()
    one = np.asarray(replace_background(crop, outline, np.random.default_rng(1)))
    two = np.asarray(replace_background(crop, outline, np.random.default_rng(1)))
    assert (one == two).all() and (one[50, 50] == 200).all() and one[:10, :10].std() > 0


def test_no_photos_give_no_rows_but_every_column() -> None:
    """A torchrun rank may own no photo of a small batch: its empty share keeps the columns."""
    from fingerspell.features.feature_mode import get_mode
    from fingerspell.features.modes import assemble
    fusion, marks = get_mode("fusion"), get_mode("landmarks")
    assert assemble(fusion, np.zeros((0, 1280)), []).shape == (0, 1280 + fusion.landmark_dim + 1)
    assert assemble(marks, None, []).shape == (0, marks.landmark_dim)
