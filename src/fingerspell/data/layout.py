"""Find the images and their labels in a data folder, whatever layout the user points at.

Understood layouts:
- ``<CLASS>/<image>`` (ImageFolder), including Kaggle's nested duplicate
  ``asl_alphabet_train/asl_alphabet_train/<CLASS>/``;
- a flat folder of ``<CLASS>_<anything>.jpg`` files, such as Kaggle's ``asl_alphabet_test``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FingerspellError
from .images import is_image_file

_TRAILING_NUMBER = re.compile(r"(\d+)$")
_FLAT_NAME = re.compile(r"^(?P<label>[^_]+)_")


MAX_CLASS_NAME = 64


def class_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a class (None: it can). Classes are folder names when a model is
    trained, and folder names again when Teach stores a capture: a bundle from elsewhere naming
    a class ``../../x`` must not write outside its folder.

    Example:
        >>> class_name_problem("space") is None, class_name_problem("../../escaped")
        (True, "class '../../escaped' is not a plain folder name")
    """
    if not isinstance(name, str) or not name:
        return "a class name must be a non-empty string"
    if len(name) > MAX_CLASS_NAME:
        return f"class name of {len(name)} characters (at most {MAX_CLASS_NAME})"
    if name.startswith(".") or any(c in name for c in "/\\") \
            or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"class {name!r} is not a plain folder name"
    return None


@dataclass(frozen=True)
class Sample:
    """One labelled image.

    ``frame`` is the number at the end of its name (Kaggle's frame index), ``signer`` the person
    named by ``<signer>_<CLASS>_<n>`` file names (None when names do not say), ``source`` the
    index of the data folder it came from when several are merged.
    """

    path: Path
    label: str
    frame: int | None = None
    signer: str | None = None
    source: int = 0


@dataclass
class ImageSet:
    """The labelled images of one data folder."""

    root: Path
    layout: str
    classes: list[str]
    samples: list[Sample] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)  # the data folders (one unless merged)

    def __post_init__(self) -> None:
        if not self.sources:
            self.sources = [self.root]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for sample in self.samples:
            counts[sample.label] += 1
        return counts


def frame_index(path: Path) -> int | None:
    match = _TRAILING_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


_SIGNER_NAME = re.compile(r"^(?P<signer>[^_]+)_(?P<label>[^_]+)_\d+$")


def signer_of(path: Path, label: str) -> str | None:
    """``7`` for ``7_A_2.jpg`` of class A: the person, when file names say who signed."""
    match = _SIGNER_NAME.match(path.stem)
    return match.group("signer") if match and match.group("label").lower() == label.lower() else None


def _sample(path: Path, label: str) -> Sample:
    return Sample(path, label, frame_index(path), signer_of(path, label))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _unwrap_nested(root: Path) -> Path:
    """Descend through single wrapper folders such as ``asl_alphabet_train/asl_alphabet_train``."""
    while True:
        subdirs = _subdirs(root)
        top_images = [p for p in root.iterdir() if p.is_file() and is_image_file(p)]
        if len(subdirs) == 1 and not top_images and _subdirs(subdirs[0]):
            root = subdirs[0]
        else:
            return root


def discover(root: str | Path, *, min_classes: int = 2) -> ImageSet:
    """Return the labelled images under ``root``.

    Raises FingerspellError (one line, naming the folder) for a missing folder, no images,
    an empty class folder, fewer than ``min_classes`` classes, or an unknown layout.
    """
    given = Path(root)
    if not given.exists():
        raise FingerspellError(f"{given}: data folder does not exist")
    if not given.is_dir():
        raise FingerspellError(f"{given}: not a folder (expected <CLASS>/<image> folders or "
                               f"<CLASS>_test.jpg files)")
    root = _unwrap_nested(given)
    class_dirs = _subdirs(root)
    top_images = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))

    if class_dirs and not top_images:
        samples: list[Sample] = []
        classes: list[str] = []
        for class_dir in class_dirs:
            images = _images_in(class_dir)
            if not images:
                raise FingerspellError(f"{class_dir}: class folder has no images")
            problem = class_name_problem(class_dir.name)
            if problem:  # a model could be trained but never loaded: say so now
                raise FingerspellError(f"{class_dir}: {problem}; rename the folder")
            classes.append(class_dir.name)
            samples.extend(_sample(p, class_dir.name) for p in images)
        image_set = ImageSet(root, "folders", classes, samples)
    elif top_images and not class_dirs:
        samples = []
        for path in top_images:
            match = _FLAT_NAME.match(path.name)
            if not match:
                raise FingerspellError(f"{path}: unknown layout: a flat folder needs names like "
                                       f"<CLASS>_test.jpg")
            samples.append(_sample(path, match.group("label")))
        classes = sorted({s.label for s in samples})
        image_set = ImageSet(root, "flat", classes, samples)
    elif top_images and class_dirs:
        raise FingerspellError(f"{root}: unknown layout: both image files and sub-folders at the top "
                               f"(expected either <CLASS>/<image> folders or <CLASS>_test.jpg files)")
    else:
        raise FingerspellError(f"{root}: no images found (expected <CLASS>/<image> folders or "
                               f"<CLASS>_test.jpg files)")

    if len(image_set.classes) < min_classes:
        raise FingerspellError(f"{root}: found {len(image_set.classes)} class "
                               f"({', '.join(image_set.classes)}); at least {min_classes} are needed "
                               f"to train a classifier")
    return image_set
