"""What ``Model.predict`` returns: a ``Prediction`` per image (label, confidence, unsure, top-k,
the probability vector, the hand) that can draw and save itself, and ``Predictions``, the list
of them with the files that could not be read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
from PIL import Image

from .._atomic import write_atomic, write_text
from ..data.images import load_rgb
from ..errors import FingerspellError
from ..features.hands import Hand, HandSettings
from ..features.landmarks import BONES

# How a prediction was reached (Prediction.route)
ROUTE_IMAGE = "image"
ROUTE_HAND = "hand"
ROUTE_NO_HAND_NOTHING = "no hand: nothing"
ROUTE_NO_HAND_WHOLE_IMAGE = "no hand: whole image"


@dataclass(frozen=True)
class Prediction:
    """One image's answer.

    Attributes:
        path: the file, or ``image N`` for an image given in memory.
        label: the most probable class; ``confidence`` its calibrated probability.
        top_k: the ``top_k`` most probable classes with their probabilities.
        route: how it was reached: ``hand``, ``image`` (whole-photo features), or with no hand
            found ``no hand: nothing`` / ``no hand: whole image``.
        hand: the hand found (box, landmarks, handedness), or None.
        unsure: the confidence is under the model's calibrated "unsure" threshold.
        probs: every class's probability (the model's ``classes`` order).
    """

    path: str
    label: str
    confidence: float
    top_k: list[tuple[str, float]]
    route: str = ROUTE_IMAGE
    hand: Hand | None = None
    unsure: bool = False  # confidence under the model's calibrated "unsure" threshold
    probs: np.ndarray | None = field(default=None, repr=False, compare=False)
    image: Image.Image | None = field(default=None, repr=False, compare=False)  # in memory

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "label": self.label,
                               "confidence": self.confidence, "unsure": self.unsure,
                               "route": self.route,
                               "top_k": [[label, p] for label, p in self.top_k]}
        if self.hand is not None:
            out["hand"] = {"box": [round(min(1.0, max(0.0, v)), 4) for v in self.hand.box],
                           "handedness": self.hand.handedness,
                           "hands_in_view": self.hand.n_hands,
                           "score": round(self.hand.score, 4),
                           "landmarks": np.round(self.hand.landmarks.astype(float), 4).tolist()}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def plot(self) -> Image.Image:
        """The photo with the hand's skeleton, the crop the model read, and the answer drawn on
        it (a new RGB image; the photo is read again from ``path`` unless it was given in
        memory)."""
        photo = self.image if self.image is not None else load_rgb(self.path)
        canvas = np.array(photo.convert("RGB"))
        caption = (f"{self.label} {self.confidence:.0%}" + (" unsure" if self.unsure else "")
                   + (" (no hand)" if self.route.startswith("no hand") else ""))
        draw_answer(canvas, self.hand, caption)
        return Image.fromarray(canvas)

    def save(self, path: str | Path) -> Path:
        """Write ``plot()`` to ``path`` (PNG or JPEG by its extension); an existing file is
        never overwritten."""
        path = Path(path)
        if path.exists():
            raise FingerspellError(f"{path}: exists; choose another name (nothing is overwritten)")
        picture = self.plot()
        fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        try:
            return write_atomic(path, lambda tmp: picture.save(tmp, format=fmt))
        except OSError as exc:
            raise FingerspellError(f"{path}: cannot write the picture ({exc.strerror or exc})"
                                   ) from None


class Predictions(Sequence[Prediction]):
    """The answers of one ``Model.predict`` call: a sequence of ``Prediction`` (readable images,
    in order) and ``failed``, ``{path: reason}`` for files that could not be read."""

    def __init__(self, items: list[Prediction], failed: dict[str, str] | None = None) -> None:
        self.items = items
        self.failed = failed or {}

    @overload
    def __getitem__(self, index: int) -> Prediction: ...
    @overload
    def __getitem__(self, index: slice) -> list[Prediction]: ...

    def __getitem__(self, index: int | slice) -> Prediction | list[Prediction]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self.items)

    def __repr__(self) -> str:
        labels = " ".join(p.label for p in self.items[:10]) + (" ..." if len(self) > 10 else "")
        return f"Predictions({len(self)} answered: {labels}; {len(self.failed)} failed)"

    def to_dict(self) -> dict[str, Any]:
        return {"predictions": [p.to_dict() for p in self.items], "failed": self.failed}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, folder: str | Path) -> list[Path]:
        """Each prediction's picture (``plot()``) as ``folder/<name>.png`` and all answers as
        ``folder/predictions.json``. The folder is created if missing; if any of those files
        exists nothing is written."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise FingerspellError(f"{folder}: not a folder; choose a new or existing folder")
        names = _picture_names(self.items)
        targets = [folder / name for name in names] + [folder / "predictions.json"]
        taken = [t for t in targets if t.exists()]
        if taken:
            raise FingerspellError(f"{taken[0]}: exists; choose another folder (nothing is "
                                   f"overwritten)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FingerspellError(f"{folder}: cannot create the folder ({exc.strerror or exc})"
                                   ) from None
        written = [p.save(t) for p, t in zip(self.items, targets, strict=False)]
        return [*written, write_text(targets[-1], self.to_json() + "\n")]


def _picture_names(items: list[Prediction]) -> list[str]:
    """One file name per prediction from its photo's name, numbered where names repeat."""
    names: list[str] = []
    seen: set[str] = set()
    for item in items:
        stem = Path(item.path).stem.replace(" ", "_") or "image"
        name, n = f"{stem}.png", 1
        while name in seen or name == "predictions.json":
            n += 1
            name = f"{stem}_{n}.png"
        seen.add(name)
        names.append(name)
    return names


def draw_answer(canvas: np.ndarray, hand: Hand | None, caption: str,
                text: str | None = None, *, margin: float = HandSettings.margin) -> None:
    """Draw in place on an RGB image: the hand's skeleton and the crop box the model read
    (``margin`` around the hand), the caption (top left) and, if given, spelled ``text`` in a bar
    at the bottom. Shared by ``Prediction.plot``, inspect's picture and live's annotated
    videos."""
    import cv2
    height, width = canvas.shape[:2]
    scale = max(0.5, width / 640)
    if hand is not None:
        points = [(int(x * width), int(y * height)) for x, y in hand.landmarks[:, :2]]
        for parent, child in BONES:
            cv2.line(canvas, points[parent], points[child], (0, 255, 0), max(1, int(2 * scale)))
        for point in points:
            cv2.circle(canvas, point, max(2, int(3 * scale)), (255, 0, 0), -1)
        left, top, right, bottom = (int(v) for v in hand.crop_box(width, height, margin))
        cv2.rectangle(canvas, (left, top), (right, bottom), (255, 255, 0), 1)
    if caption:
        cv2.putText(canvas, caption, (int(10 * scale), int(40 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, (255, 255, 255),
                    max(2, int(3 * scale)), cv2.LINE_AA)
    if text is not None:
        bar = int(36 * scale)
        cv2.rectangle(canvas, (0, height - bar), (width, height), (0, 0, 0), -1)
        cv2.putText(canvas, f"text: {text}", (int(10 * scale), height - int(10 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255),
                    max(1, int(2 * scale)), cv2.LINE_AA)
