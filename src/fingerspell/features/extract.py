"""Batch feature extraction: decode in worker processes, run the frozen backbone in batches."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..data.images import load_rgb
from ..errors import FingerspellError, ImageError
from ..progress import bar
from ..threads import bulk_work
from .augment import augment_view
from .cache import FeatureCache, file_keys
from .crops import hand_crop, hand_outline, replace_background
from .hands import Hand
from .onnx_runtime import OnnxEncoder
from .preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch


class Encoder(Protocol):
    """What turns preprocessed images into features: a ``FrozenBackbone`` (PyTorch) or an
    ``OnnxEncoder`` (ONNX Runtime, no PyTorch needed)."""

    spec: Any  # BackboneSpec or GraphSpec: name, preprocessing, feature_dim
    runtime: str

    @property
    def cache_namespace(self) -> str: ...

    def encode(self, images: Any) -> np.ndarray: ...

# Measured on 2 CPU cores: EfficientNet-Lite0 runs ~110 img/s at batch 4-16 and ~75 at 32+
# (bigger batches fall out of cache), so extraction uses small batches.
DEFAULT_BATCH_SIZE = 16


@dataclass
class Features:
    """Features for a list of paths; rows of failed images are zero and listed in ``failed``."""

    vectors: np.ndarray  # (N, D) float16
    failed: dict[int, str] = field(default_factory=dict)
    computed: int = 0  # how many were extracted now rather than read from the cache
    seconds: float = 0.0

    @property
    def ok(self) -> np.ndarray:
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.failed)] = False
        return mask


@dataclass(frozen=True)
class HandCrops:
    """Extract from the square around each image's hand (the whole image where it has none)."""

    hands: list[Hand | None]
    margin: float

    def key(self, index: int) -> str:
        hand = self.hands[index]
        if hand is None:
            return ""  # the whole image: shares the image mode's cache entry
        box = ",".join(f"{v:.3f}" for v in hand.box)
        return f"#crop{self.margin:g}:{box}:{hand.handedness[0]}"

    def subset(self, rows: list[int]) -> HandCrops:
        return HandCrops([self.hands[i] for i in rows], self.margin)


class DecodedImages:
    """(preprocessed image, index, "" or the reason it could not be read), for DataLoaders."""

    def __init__(self, paths: list[Path], preprocessing: Preprocessing, view: int = 0,
                 crops: HandCrops | None = None) -> None:
        self.paths = paths
        self.preprocessing = preprocessing
        self.view = view
        self.crops = crops

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, str]:
        size = self.preprocessing.size
        try:
            # a hand is a part of the photo: decode big JPEGs less reduced for crops
            image = load_rgb(self.paths[index], min_decode_side=size * (4 if self.crops else 1))
            hand = self.crops.hands[index] if self.crops else None
            if hand is not None:
                assert self.crops is not None
                full_size = image.size
                image = hand_crop(image, hand, self.crops.margin)
                if self.view:  # another room behind the same hand
                    rng = np.random.default_rng([self.view, zlib.crc32(self.paths[index].name.encode())])
                    image = replace_background(
                        image, hand_outline(hand, full_size, self.crops.margin), rng)
            if self.view:
                image = augment_view(image, self.view, self.paths[index].name)
            return self.preprocessing(image), index, ""
        except ImageError as exc:
            return np.zeros((3, size, size), np.float32), index, exc.reason


def _mps_available() -> bool:
    import torch
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` (CUDA, else Apple MPS, else CPU), or a named device that must be usable here."""
    import torch
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise FingerspellError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise FingerspellError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise FingerspellError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) here")
    if resolved.type == "mps" and not _mps_available():
        raise FingerspellError(f"--device {device}: Apple MPS is not available here")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise FingerspellError(f"unsupported device {device!r}; use auto, cpu, cuda or mps")
    return resolved


def default_workers() -> int:
    import os
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def extract_features(backbone: Encoder, paths: list[Path], *, cache: FeatureCache | None,
                     batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None,
                     device: str | torch.device = "cpu", show_progress: bool = True,
                     view: int = 0, crops: HandCrops | None = None) -> Features:
    """Return the backbone's features for ``paths``, reading and filling ``cache``.

    ``view`` 0 is the image itself; ``view`` k >= 1 is its k-th augmented copy (see
    ``augment_view``), cached under its own key. With ``crops`` the backbone sees the square
    around each image's hand. Unreadable images do not stop the run: their reason is returned
    in ``Features.failed``.
    """
    started = time.perf_counter()
    dim = backbone.spec.feature_dim
    vectors = np.zeros((len(paths), dim), dtype=np.float16)
    readable, failed = file_keys(paths, cache)
    # a view is seeded by the file's name (augment_view), so two copies of one photo under
    # different names share their features but not their augmented views
    keys: list[str | None] = [
        readable[i] + (crops.key(i) if crops else "")
        + (f"#view{view}@{paths[i].name}" if view else "") if i in readable else None
        for i in range(len(paths))]
    cached = cache.get_many(k for k in keys if k) if cache else {}
    todo = []
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in cached and cached[key].shape[0] == dim:
            vectors[index] = cached[key]
        else:
            todo.append(index)
    if todo:
        with bulk_work():
            _run_backbone(backbone, [paths[i] for i in todo], todo, keys, vectors, failed,
                          cache, batch_size, workers, device, show_progress, view,
                          crops.subset(todo) if crops else None)
    return Features(vectors, failed, computed=len(todo), seconds=time.perf_counter() - started)


def _run_backbone(encoder: Encoder, todo_paths: list[Path], todo: list[int],
                  keys: list[str | None], vectors: np.ndarray, failed: dict[int, str],
                  cache: FeatureCache | None, batch_size: int, workers: int | None,
                  device: str | torch.device, show_progress: bool, view: int,
                  crops: HandCrops | None) -> None:
    workers = default_workers() if workers is None else workers
    cuda = False
    if not isinstance(encoder, OnnxEncoder):  # an OnnxEncoder always runs on the CPU
        device = resolve_device(device) if isinstance(device, str) else device
        encoder.place(device)  # type: ignore[attr-defined]
        cuda = device.type == "cuda"
    loader = _decoded_batches(DecodedImages(todo_paths, encoder.spec.preprocessing, view, crops),
                              batch_size, workers, pin_memory=cuda)
    label = (f"features {encoder.spec.name}" + (" (hand crops)" if crops else "")
             + (f" (augmented view {view})" if view else ""))
    progress = bar(desc=label, total=len(todo_paths), unit="img", enabled=show_progress)
    with progress:
        for images, local_index, reasons in loader:
            good = [j for j, reason in enumerate(reasons) if not reason]
            rows = [todo[int(local_index[j])] for j in range(len(reasons))]
            for j, reason in enumerate(reasons):
                if reason:
                    failed[rows[j]] = reason
            if good:
                output = encoder.encode(images[good]).astype(np.float16)
                for j, vector in zip(good, output, strict=True):
                    vectors[rows[j]] = vector
                if cache:
                    cache.put_many((keys[rows[j]], vectors[rows[j]]) for j in good)
            progress.update(len(reasons))


def _decoded_batches(images: DecodedImages, batch_size: int, workers: int, *, pin_memory: bool
                     ) -> Iterator[tuple[Any, list[int], list[str]]]:
    """Batches of (images, indices, reasons): decoded here when ``workers`` is 0 (a few photos:
    no worker processes to start, and no PyTorch to import), else by a DataLoader's workers."""
    if workers == 0:
        for start in range(0, len(images), batch_size):
            items = [images[i] for i in range(start, min(start + batch_size, len(images)))]
            yield (np.stack([item[0] for item in items]), [item[1] for item in items],
                   [item[2] for item in items])
        return
    from torch.utils.data import DataLoader
    yield from DataLoader(images, batch_size=batch_size, num_workers=workers, shuffle=False,
                          persistent_workers=False, prefetch_factor=4, pin_memory=pin_memory)
