"""Named profiles for the web page's Teach mode: one person's example photos and adapted model.

``PROFILES_DIR/NAME/examples/<LETTER>/<n>.jpg`` holds what the page captured (re-encoded from the
decoded frame, never the uploaded bytes) and ``PROFILES_DIR/NAME/model`` the adapted bundle, an
ordinary model folder (``fingerspell live PROFILES_DIR/NAME/model``). Names are restricted to
safe characters and letters to the model's classes, so no request can reach outside the folder;
the counts per letter and per profile are bounded; adapting runs one at a time per profile.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .._atomic import write_new
from ..errors import FingerspellError
from ..infer.model import Model
from .uploads import BadInput


def default_profiles_dir() -> Path:
    """``$FINGERSPELL_PROFILES``, else ``$XDG_DATA_HOME/fingerspell/profiles``, else
    ``~/.local/share/fingerspell/profiles``: user data, not a cache."""
    import os
    if os.environ.get("FINGERSPELL_PROFILES"):
        return Path(os.environ["FINGERSPELL_PROFILES"])
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "fingerspell" / "profiles"


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_PER_LETTER = 20
MAX_PER_PROFILE = 400
MAX_EXAMPLE_SIDE = 480  # captures are stored at most this wide or high


@dataclass
class Adapted:
    """An ``adapt`` answer: counts, and the captured letters' accuracy before and after."""

    model: Model
    examples: dict[str, int]
    before: dict[str, float]
    after: dict[str, float]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "before": self.before, "after": self.after,
                "seconds": round(self.seconds, 2)}


class Profiles:
    """The profiles under ``root`` for one base model (``base_name``: how its bundle is named).

    Per profile, one lock serialises what changes its examples (the count check and the write,
    and a delete) and another marks an adaptation running (a second Adapt, or a delete, is
    refused meanwhile rather than made to wait)."""

    def __init__(self, root: str | Path, base: Model, base_name: str) -> None:
        self.root = Path(root)  # created with the first example
        self.base = base
        self.base_name = base_name
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, name: str, kind: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((name, kind), threading.Lock())

    def folder(self, name: str) -> Path:
        if not NAME.fullmatch(name):  # fullmatch: '$' would let a final newline through
            raise BadInput(422, "a profile name is 1-40 letters, digits, '-' or '_'")
        return self.root / name

    def letter(self, label: str) -> str:
        known = {c.lower(): c for c in self.base.classes}
        if label.lower() not in known:
            raise BadInput(422, f"unknown letter {label!r}")
        return known[label.lower()]

    def examples(self, name: str) -> dict[str, int]:
        folder = self.folder(name) / "examples"
        if not folder.is_dir():
            return {}
        counts = {p.name: sum(1 for _ in _example_files(p)) for p in folder.iterdir()
                  if p.is_dir()}
        return {k: v for k, v in sorted(counts.items()) if v}

    def describe(self, name: str) -> dict[str, Any]:
        return {"name": name, "examples": self.examples(name),
                "adapted": (self.folder(name) / "model" / "config.json").is_file(),
                "limits": {"per_letter": MAX_PER_LETTER, "per_profile": MAX_PER_PROFILE}}

    def add(self, name: str, label: str, image: Image.Image) -> dict[str, int]:
        """Keep one captured example (a new JPEG, never over another); refused over the bounds.
        Concurrent captures each get their own file: every ``saved`` answer is on disk."""
        letter = self.letter(label)
        folder = self._letter_folder(name, letter)
        image = image.convert("RGB")
        image.thumbnail((MAX_EXAMPLE_SIDE, MAX_EXAMPLE_SIDE))
        with self._lock(name, "examples"):  # the count checked and the file written as one
            counts = self.examples(name)
            if counts.get(letter, 0) >= MAX_PER_LETTER:
                raise BadInput(409, f"{letter} already has {MAX_PER_LETTER} examples in {name}")
            if sum(counts.values()) >= MAX_PER_PROFILE:
                raise BadInput(409, f"profile {name} already has {MAX_PER_PROFILE} examples")
            taken = [int(p.stem) for p in _example_files(folder)] if folder.is_dir() else []
            write_new(folder, lambda n: f"{n:03d}.jpg",
                      lambda tmp: image.save(tmp, "JPEG", quality=92),
                      first=max(taken, default=0) + 1)
            return self.examples(name)

    def adapt(self, name: str) -> Adapted:
        """Adapt the base model to the profile's examples and save it (one at a time per
        profile: a second request, or a delete, while one runs is refused)."""
        from ..infer.adapt import adapt
        if not (self.folder(name) / "examples").is_dir():  # (no lock kept for made-up names)
            raise BadInput(409, f"profile {name} has no examples yet")
        lock = self._lock(name, "adapting")
        if not lock.acquire(blocking=False):
            raise BadInput(409, f"profile {name} is already being adapted")
        try:
            started = time.perf_counter()
            folder = self.folder(name)
            paths = sorted(p for d in (folder / "examples").glob("*") if d.is_dir()
                           for p in _example_files(d))
            if not paths:
                raise BadInput(409, f"profile {name} has no examples yet")
            labels = [p.parent.name for p in paths]
            try:
                result = adapt(self.base, paths, labels, base_name=self.base_name)
            except FingerspellError as exc:
                raise BadInput(422, str(exc)) from None
            if not (folder / "examples").is_dir():  # removed by hand meanwhile: not recreated
                raise BadInput(409, f"profile {name} was deleted while adapting; nothing saved")
            result.model.save(folder / "model", store_backbone=None)
            before = _accuracy(self.base, paths, labels)
            after = _accuracy(result.model, paths, labels)
            return Adapted(result.model, result.examples, before, after,
                           time.perf_counter() - started)
        finally:
            lock.release()

    def delete(self, name: str) -> list[str]:
        """Remove a profile: its examples and adapted model, the files Teach wrote; returns the
        names of anything else found there, which is left alone. Refused while it adapts."""
        folder = self.folder(name)
        if not folder.is_dir():
            raise BadInput(404, f"no profile named {name}")
        adapting = self._lock(name, "adapting")
        if not adapting.acquire(blocking=False):
            raise BadInput(409, f"profile {name} is being adapted; delete it when that ends")
        try:
            with self._lock(name, "examples"):
                examples = folder / "examples"
                for letter in (examples.iterdir() if examples.is_dir() else ()):
                    for path in _example_files(letter) if letter.is_dir() else ():
                        path.unlink()
                    _remove_if_empty(letter)
                _remove_if_empty(examples)
                if (folder / "model" / "config.json").is_file():
                    shutil.rmtree(folder / "model")  # a bundle that adapt wrote
                _remove_if_empty(folder)
                return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) \
                    if folder.exists() else []
        finally:
            adapting.release()

    def load(self, name: str) -> Model:
        """A profile's adapted model (``serve --profile NAME``)."""
        try:
            bundle = self.folder(name) / "model"
        except BadInput as exc:
            raise FingerspellError(f"--profile {name!r}: {exc}") from None
        if not (bundle / "config.json").is_file():
            raise FingerspellError(f"{bundle}: profile {name} has no adapted model yet "
                                   f"(capture examples in the page's Teach mode, then Adapt)")
        return Model.load(bundle)

    def _letter_folder(self, name: str, letter: str) -> Path:
        """Where ``letter``'s examples go: a folder directly inside the profile's examples
        (class names are checked when a bundle loads; this is the second lock on that door)."""
        examples = self.folder(name) / "examples"
        folder = examples / letter
        if folder.resolve().parent != examples.resolve():
            raise BadInput(422, f"letter {letter!r} cannot be stored as a folder name")
        return folder


def _example_files(folder: Path) -> list[Path]:
    """The examples Teach wrote in a letter's folder (``NNN.jpg``), nothing else."""
    return [p for p in folder.glob("*.jpg") if p.stem.isdigit()]


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _accuracy(model: Model, paths: list[Path], labels: list[str]) -> dict[str, float]:
    """Per letter, the share of ``paths`` the model gets right (the captured examples: what the
    page shows as before/after; they are the adaptation's own examples)."""
    predictions = model.predict(paths, top_k=1)
    by_letter: dict[str, list[bool]] = {}
    for prediction, label in zip(predictions, labels, strict=True):
        by_letter.setdefault(label, []).append(prediction.label == label)
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(by_letter.items())}
