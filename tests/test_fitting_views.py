"""Augmented views are computed once per photo: ``train`` fits its heads again without each
data folder (the out-of-source folds), on rows whose views the main fit already computed."""

from __future__ import annotations

import numpy as np

from fingerspell.features.feature_mode import get_mode
from fingerspell.training.fitting import Examples, HeadFitter, remember_views
from fingerspell.training.source_calibration import out_of_source_folds


def _views(asked: list[tuple[int, list[int]]]):
    """A view source whose k-th view of row r is a function of (r, k) alone; every fourth row
    unreadable; records the rows it is asked for."""
    def views(mode, k, rows):
        asked.append((k, list(rows)))
        readable = [r for r in rows if r % 4 != 3]
        rows_out = [np.random.default_rng([r, k]).normal(size=6) for r in readable]
        return np.asarray(rows_out, np.float32).reshape(len(readable), 6), readable
    return views


def test_each_rows_view_is_computed_once_and_given_back_the_same() -> None:
    asked: list[tuple[int, list[int]]] = []
    direct, remembered = _views([]), remember_views(_views(asked), 40)
    mode = get_mode("landmarks")
    rng = np.random.default_rng(0)
    for _ in range(6):
        rows = sorted(rng.choice(40, size=15, replace=False).tolist())
        for k in (1, 2):
            got, got_rows = remembered(mode, k, rows)
            expected, expected_rows = direct(mode, k, rows)
            assert got_rows == expected_rows
            np.testing.assert_array_equal(got, expected)
    for k in (1, 2):
        computed = [r for view, rows in asked if view == k for r in rows]
        assert len(computed) == len(set(computed))  # no row computed twice for a view


def test_folds_answer_the_same_with_remembered_views() -> None:
    rng = np.random.default_rng(1)
    n, classes = 90, 3
    labels = np.arange(n) % classes
    vectors = (rng.normal(size=(n, 6)) + labels[:, None]).astype(np.float32)
    sources = np.arange(n) // 30
    answers = []
    for views in (_views([]), remember_views(_views([]), n)):
        examples = Examples(vectors, labels, np.ones(n, bool), sources, views)
        fitter = HeadFitter("landmarks", _recipe(), classes, 6, seed=0, show_progress=False)
        folds = out_of_source_folds(fitter, examples, list(range(n)), show_progress=False)
        answers.append(np.concatenate([fold.probs for fold in folds]))
    np.testing.assert_array_equal(answers[0], answers[1])


def _recipe():
    from fingerspell.head.recipes import Recipe
    return Recipe(features="landmarks", epochs=3, batch_size=16, augment_views=2)
