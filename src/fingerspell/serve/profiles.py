"""Named profiles for the web page's Teach mode: one person's example photos and adapted model.

``PROFILES_DIR/NAME/examples/<LETTER>/<n>.jpg`` holds what the page captured (re-encoded from the
decoded frame, never the uploaded bytes) and ``PROFILES_DIR/NAME/model`` the adapted bundle, an
ordinary model folder (``fingerspell live PROFILES_DIR/NAME/model``). Names are restricted to
safe characters and letters to the model's classes, so no request can reach outside the folder;
the counts per letter and per profile are bounded; adapting runs one at a time per profile.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .._atomic import write_atomic
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


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
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
    """The profiles under ``root`` for one base model (``base_name``: how its bundle is named)."""

    def __init__(self, root: str | Path, base: Model, base_name: str) -> None:
        self.root = Path(root)  # created with the first example
        self.base = base
        self.base_name = base_name
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def folder(self, name: str) -> Path:
        if not NAME.match(name):
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
        counts = {p.name: sum(1 for _ in p.glob("*.jpg")) for p in folder.iterdir() if p.is_dir()}
        return {k: v for k, v in sorted(counts.items()) if v}

    def describe(self, name: str) -> dict[str, Any]:
        return {"name": name, "examples": self.examples(name),
                "adapted": (self.folder(name) / "model" / "config.json").is_file(),
                "limits": {"per_letter": MAX_PER_LETTER, "per_profile": MAX_PER_PROFILE}}

    def add(self, name: str, label: str, image: Image.Image) -> dict[str, int]:
        """Keep one captured example (a JPEG written atomically); refused over the bounds."""
        letter = self.letter(label)
        counts = self.examples(name)
        if counts.get(letter, 0) >= MAX_PER_LETTER:
            raise BadInput(409, f"{letter} already has {MAX_PER_LETTER} examples in {name}")
        if sum(counts.values()) >= MAX_PER_PROFILE:
            raise BadInput(409, f"profile {name} already has {MAX_PER_PROFILE} examples")
        folder = self.folder(name) / "examples" / letter
        folder.mkdir(parents=True, exist_ok=True)
        image = image.convert("RGB")
        image.thumbnail((MAX_EXAMPLE_SIDE, MAX_EXAMPLE_SIDE))
        taken = {int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit()}
        path = folder / f"{max(taken, default=0) + 1:03d}.jpg"
        write_atomic(path, lambda tmp: image.save(tmp, "JPEG", quality=92))
        return self.examples(name)

    def adapt(self, name: str) -> Adapted:
        """Adapt the base model to the profile's examples and save it (one at a time per
        profile: a second request while one runs is refused)."""
        from ..training.adapt import adapt
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            raise BadInput(409, f"profile {name} is already being adapted")
        try:
            started = time.perf_counter()
            folder = self.folder(name)
            paths = sorted((folder / "examples").glob("*/*.jpg"))
            if not paths:
                raise BadInput(409, f"profile {name} has no examples yet")
            labels = [p.parent.name for p in paths]
            try:
                result = adapt(self.base, paths, labels, base_name=self.base_name)
            except FingerspellError as exc:
                raise BadInput(422, str(exc)) from None
            result.model.save(folder / "model", store_backbone=None)
            before = _accuracy(self.base, paths, labels)
            after = _accuracy(result.model, paths, labels)
            return Adapted(result.model, result.examples, before, after,
                           time.perf_counter() - started)
        finally:
            lock.release()

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


def _accuracy(model: Model, paths: list[Path], labels: list[str]) -> dict[str, float]:
    """Per letter, the share of ``paths`` the model gets right (the captured examples: what the
    page shows as before/after; they are the adaptation's own examples)."""
    predictions, _ = model.predict(paths, top_k=1)
    by_letter: dict[str, list[bool]] = {}
    for prediction, label in zip(predictions, labels, strict=True):
        by_letter.setdefault(label, []).append(prediction.label == label)
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(by_letter.items())}
