"""``HeadFitter``: the head(s) of one feature mode, fitted on cached feature vectors.

One object per mode, used by ``train``, ``tune`` and the benchmarks alike, so that all of them
train exactly what ``fingerspell train`` ships:

- the mode's main head on its vectors (``fusion``: the crop columns only), plus the recipe's
  augmented views of the same photos; photos without a hand are left out where the mode's head
  needs a hand (``landmarks``);
- ``fusion``'s second head: the landmarks recipe on the landmark columns of photos with a hand,
  with jittered copies of each hand; the two are averaged by ``LateFusionHead``;
- optionally a whole-image ``fallback`` head, for ``landmarks`` models that have no ``nothing``
  class to answer when no hand is found.

Where vectors come from is the caller's business: ``Examples.views`` returns more views of some
rows (the trainer extracts and caches them; a benchmark passes arrays it computed once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.merge import source_balanced_weights
from ..features.feature_mode import FeatureMode, get_mode
from ..head.heads import LateFusionHead, MLPHead
from ..head.recipes import Recipe, recipe_for_features
from .loop import FitCallback, FitResult, fit_head

# (mode, view k, rows) -> (vectors of the rows that could be read, those rows); view 0 is the
# photo itself, k >= 1 the k-th augmented copy
ViewSource = Callable[[FeatureMode, int, list[int]], tuple[np.ndarray, list[int]]]

# the parts of a fitted mode, each trained (and checkpointed) on its own
MAIN, LANDMARKS, FALLBACK = "main", "landmarks", "fallback"


@dataclass
class Examples:
    """The photos as the heads see them, by row: the mode's vectors, class indices, hand found,
    the data folder each came from (for balancing merged folders), and more views on demand."""

    vectors: np.ndarray
    labels: np.ndarray
    found: np.ndarray
    sources: np.ndarray | None = None
    views: ViewSource | None = None

    def view(self, mode: FeatureMode, k: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
        if self.views is None:
            raise ValueError(f"{mode.name} view {k} asked for, but these examples have no views")
        return self.views(mode, k, rows)


@dataclass
class FittedHead:
    """The result of ``HeadFitter.fit``: the head as a model bundle stores it, and how it went."""

    head: MLPHead | LateFusionHead
    parts: dict[str, FitResult]
    fallback: MLPHead | None = None
    n_train_rows: int = 0  # training rows of the main head, augmented views included
    val_acc: float = float("nan")  # of the whole head on the validation rows it can answer

    @property
    def main(self) -> FitResult:
        return self.parts[MAIN]

    @property
    def seconds(self) -> float:
        return sum(part.seconds for part in self.parts.values())


@dataclass
class HeadFitter:
    """Fits the head(s) of ``mode`` with ``recipe`` (see the module's docstring).

    ``feature_dim`` is the backbone's feature length (where the crop columns end in ``fusion``
    vectors). ``callbacks(part)`` gives each part's callbacks (checkpoints in a folder per part,
    metrics, pruning).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(40, 8)).astype(np.float32), np.arange(40) % 2
        >>> x[:, 0] += 3 * y  # a learnable class signal
        >>> recipe = recipe_for_features("image").with_overrides(epochs=50, lr=0.05)
        >>> fitter = HeadFitter("image", recipe, n_classes=2, feature_dim=8, show_progress=False)
        >>> fitted = fitter.fit(Examples(x, y, np.ones(40, bool)), list(range(30)), list(range(30, 40)))
        >>> fitted.val_acc >= 0.8
        True
    """

    mode: FeatureMode | str
    recipe: Recipe
    n_classes: int
    feature_dim: int
    seed: int = 0
    device: torch.device | str = "cpu"
    show_progress: bool = True
    callbacks: Callable[[str], Sequence[FitCallback]] = field(default=lambda _part: ())
    # parts fitted before on the same rows, not refitted (a search varies the main head only)
    reuse: dict[str, FitResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mode = get_mode(self.mode)
        self.device = torch.device(self.device)
        self.fitted: FittedHead | None = None

    def fit(self, examples: Examples, train_rows: list[int], val_rows: list[int], *,
            fallback: bool = False) -> FittedHead:
        mode = self.mode
        assert isinstance(mode, FeatureMode)
        needs_hand = mode.head_needs_hand
        train = [i for i in train_rows if examples.found[i]] if needs_hand else list(train_rows)
        val = [i for i in val_rows if examples.found[i]] if needs_hand else list(val_rows)
        # fusion's main head is the crop half of the late fusion: crop features only
        columns = slice(0, self.feature_dim) if mode.late_fusion else slice(None)
        main, n_rows = self._fit_part(MAIN, self.recipe, mode, examples, train, val, columns)
        parts = {MAIN: main}
        head: MLPHead | LateFusionHead = main.head
        if mode.late_fusion:  # the landmark half, on the photos with a hand
            marks = recipe_for_features("landmarks")
            part = slice(self.feature_dim, self.feature_dim + mode.landmark_dim)
            landmarks = get_mode("landmarks").with_landmark_encoding(mode.landmark_encoding)
            parts[LANDMARKS], _ = self._fit_part(
                LANDMARKS, marks, landmarks, examples,
                [i for i in train_rows if examples.found[i]],
                [i for i in val_rows if examples.found[i]], part, view_columns=slice(None))
            head = LateFusionHead(main.head, parts[LANDMARKS].head)
        whole = None
        if fallback:  # whole-image features of every photo, for a landmarks model's no-hand case
            image = get_mode("image")
            image_recipe = recipe_for_features("image")
            base, kept = examples.view(image, 0, list(train_rows) + list(val_rows))
            whole_examples = Examples(np.zeros((len(examples.labels), base.shape[1]), np.float32),
                                      examples.labels, examples.found, examples.sources)
            whole_examples.vectors[kept] = base
            kept_set = set(kept)
            parts[FALLBACK], _ = self._fit_part(
                FALLBACK, image_recipe, image, whole_examples,
                [i for i in train_rows if i in kept_set], [i for i in val_rows if i in kept_set],
                slice(None))
            whole = parts[FALLBACK].head
        self.fitted = FittedHead(head, parts, whole, n_rows)
        if val:
            probs = self.predict_proba(examples.vectors[val])
            self.fitted.val_acc = float((probs.argmax(1) == examples.labels[val]).mean())
        return self.fitted

    @torch.inference_mode()
    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities of the fitted head for the mode's ``vectors`` (no no-hand rule:
        that is ``Model.decide``'s)."""
        if self.fitted is None:
            raise RuntimeError("fit() first")
        head = self.fitted.head.eval()
        logits = head(torch.from_numpy(np.asarray(vectors, np.float32)).to(self.device))
        return logits.softmax(-1).float().cpu().numpy()

    def _fit_part(self, name: str, recipe: Recipe, mode: FeatureMode, examples: Examples,
                  train: list[int], val: list[int], columns: slice,
                  view_columns: slice | None = None) -> tuple[FitResult, int]:
        """One head on ``columns`` of ``train`` rows plus ``recipe.augment_views`` views of them
        (``view_columns`` of ``mode``'s vectors; default: ``columns``)."""
        view_columns = columns if view_columns is None else view_columns
        if name in self.reuse:
            return self.reuse[name], 0
        x = [examples.vectors[train][:, columns]]
        rows = list(train)
        for k in range(1, recipe.augment_views + 1):
            vectors, kept = examples.view(mode, k, train)
            x.append(vectors[:, view_columns])
            rows += kept
        x_train = self._tensor(np.concatenate(x).astype(np.float32))
        y_train = self._tensor(examples.labels[rows])
        weights = None
        if recipe.balance_sources and examples.sources is not None \
                and len(np.unique(examples.sources[rows])) > 1:
            weights = self._tensor(source_balanced_weights(examples.labels[rows],
                                                           examples.sources[rows])).float()
        torch.manual_seed(self.seed)
        head = recipe.make_head(x_train.shape[1], self.n_classes)
        head.set_normalization(x_train)
        result = fit_head(head.to(self.device), recipe, x_train, y_train,
                          self._tensor(examples.vectors[val][:, columns].astype(np.float32)),
                          self._tensor(examples.labels[val]), seed=self.seed,
                          sample_weight=weights, show_progress=self.show_progress,
                          callbacks=self.callbacks(name))
        return result, len(rows)

    def _tensor(self, array: Any) -> torch.Tensor:
        tensor = torch.from_numpy(np.asarray(array))
        if tensor.dtype == torch.float64:
            tensor = tensor.float()
        return tensor.to(self.device)


def remember_views(views: ViewSource, n_rows: int) -> ViewSource:
    """``views`` kept in memory once computed, row by row, per (mode, view): heads fitted again
    on the same photos (the out-of-source folds of ``train``, a search's trials) compute each
    row's view once. A view is a function of its photo alone (its augmentation is seeded by
    the view and the file's name), so a remembered row is the row computed again."""
    kept: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def view(mode: FeatureMode, k: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
        key = (mode.name, k)
        if key not in kept and not rows:
            return views(mode, k, rows)
        done = kept[key][1] if key in kept else np.zeros(n_rows, dtype=bool)
        todo = [r for r in rows if not done[r]]
        if todo:
            vectors, computed = views(mode, k, todo)
            if key not in kept:
                kept[key] = (np.zeros((n_rows, vectors.shape[1]), np.float32), done,
                             np.zeros(n_rows, dtype=bool))
            table, done, readable = kept[key]
            table[computed] = vectors
            readable[computed] = True
            done[todo] = True
        table, _, readable = kept[key]
        rows = [r for r in rows if readable[r]]
        return table[rows], rows

    return view
