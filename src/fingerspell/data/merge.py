"""Several data folders as one training set: classes merged by name, sources kept apart.

Folders may cover different classes (Kaggle's 29 from one signer, a 10-letter set from 21
people). Classes are merged case-insensitively (``a`` and ``A`` are one class, spelled as the
first folder spells it); each sample remembers its source, so that the loss can weigh the
sources equally within a class and reports can say which folder covers what.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import FingerspellError
from .layout import ImageSet, discover


def discover_many(roots: list[str | Path] | str | Path) -> ImageSet:
    """One ImageSet from one or several data folders (see ``discover`` for each folder).

    Example:
        >>> data = discover_many(["asl_alphabet_train", "multi_signer"])   # doctest: +SKIP
        >>> data.sources                                                    # doctest: +SKIP
        ['asl_alphabet_train', 'multi_signer']
    """
    roots = [roots] if isinstance(roots, str | Path) else list(roots)
    if not roots:
        raise FingerspellError("no data folder given")
    sets = [discover(root, min_classes=1 if len(roots) > 1 else 2) for root in roots]
    if len(sets) == 1:
        return sets[0]
    resolved = [s.root.resolve() for s in sets]
    for i, root in enumerate(resolved):
        if root in resolved[:i]:
            raise FingerspellError(f"{sets[i].root}: data folder given twice")
    spelling: dict[str, str] = {}
    for image_set in sets:
        for name in image_set.classes:
            spelling.setdefault(name.lower(), name)
    samples = [replace(sample, label=spelling[sample.label.lower()], source=index)
               for index, image_set in enumerate(sets) for sample in image_set.samples]
    classes = list(spelling.values())
    if len(classes) < 2:
        raise FingerspellError(f"{', '.join(str(s.root) for s in sets)}: only one class "
                               f"({classes[0]}) in all folders together")
    merged = ImageSet(sets[0].root, "+".join(s.layout for s in sets), classes, samples)
    merged.sources = [s.root for s in sets]
    return merged


def source_balanced_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Per-sample loss weights: within each class every source weighs the same in total, and
    each class keeps its total weight (one source: all ones).

    Example:
        >>> source_balanced_weights(np.array([0, 0, 0, 0, 1]), np.array([0, 0, 0, 1, 0])).tolist()
        [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0, 1.0]
    """
    weights = np.ones(len(labels), dtype=np.float64)
    for label in np.unique(labels):
        in_class = labels == label
        present = np.unique(sources[in_class])
        for source in present:
            rows = in_class & (sources == source)
            weights[rows] = in_class.sum() / (len(present) * rows.sum())
    return weights
