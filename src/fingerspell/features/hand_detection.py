"""Hand detection over many images: once per image (cached), in parallel processes."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import load_rgb
from ..errors import ImageError
from ..progress import bar
from .cache import FeatureCache, file_keys
from .hands import Hand, HandDetector, HandSettings, file_digest

_CHUNK = 16


@dataclass
class Detections:
    """The signing hand (or None) for each path; unreadable images are listed in ``failed``."""

    hands: list[Hand | None]
    failed: dict[int, str] = field(default_factory=dict)
    computed: int = 0
    seconds: float = 0.0

    @property
    def found(self) -> np.ndarray:
        return np.asarray([hand is not None for hand in self.hands], dtype=bool)


def hand_cache_namespace(model: Path, settings: HandSettings) -> str:
    return f"hands-{file_digest(model)[:16]}-{settings.key()}"


# a worker process's own detector (set by _start_worker); never used in the calling process,
# where two threads (two Teach adaptations at once in the server) would share it: MediaPipe
# serves one thread at a time, and one thread closed it under the other (a segfault)
_worker_detector: HandDetector | None = None


def _start_worker(model: str, settings: HandSettings) -> None:
    global _worker_detector
    _worker_detector = HandDetector(model, settings)


def _detect_chunk(chunk: list[tuple[int, str]], detector: HandDetector | None = None
                  ) -> list[tuple[int, np.ndarray | None, str]]:
    """Detect a chunk with ``detector`` (in a worker process: that process's own)."""
    detector = detector or _worker_detector
    assert detector is not None
    out = []
    for index, path in chunk:
        try:
            hand = detector.find(load_rgb(path))
        except ImageError as exc:
            out.append((index, None, exc.reason))
            continue
        out.append((index, hand.to_vector() if hand else Hand.missing_vector(), ""))
    return out


def _pool_context() -> multiprocessing.context.BaseContext:
    """Worker processes that do not inherit this one's threads: forking after PyTorch and ONNX
    Runtime have started their thread pools can deadlock a child. The fork server is a clean
    process started once per program; workers fork from it with this module preloaded."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def default_detection_workers(n_images: int) -> int:
    """Detection is CPU-bound and the main process only waits: one process per core, none for
    a handful of images (starting a process costs more than a few detections)."""
    return 0 if n_images < 32 else max(1, min(8, os.cpu_count() or 1))


def detect_hands(paths: list[Path], *, model: Path, settings: HandSettings,
                 cache: FeatureCache | None, workers: int | None = None,
                 show_progress: bool = True) -> Detections:
    """The signing hand in each image of ``paths``, read from and written to ``cache``."""
    started = time.perf_counter()
    vectors: list[np.ndarray | None] = [None] * len(paths)
    keys, failed = file_keys(paths, cache)
    cached = cache.get_many(keys.values()) if cache else {}
    todo = []
    for index, key in keys.items():
        if key in cached and cached[key].shape[0] == Hand.VECTOR_DIM:
            vectors[index] = cached[key]
        else:
            todo.append((index, str(paths[index])))
    workers = default_detection_workers(len(todo)) if workers is None else workers
    chunks = [todo[i:i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
    progress = bar(desc="hands", total=len(todo), unit="img", enabled=show_progress and bool(todo))
    with progress:
        if workers > 0 and len(chunks) > 1:
            chunks = _in_pool(chunks, workers, model, settings, vectors, failed, keys, cache,
                              progress)
        if chunks:  # few images, or what a broken pool left: a detector of this call's own
            with HandDetector(model, settings) as detector:
                _collect((_detect_chunk(chunk, detector) for chunk in chunks), vectors, failed,
                         keys, cache, progress)
    hands = [Hand.from_vector(v) if v is not None else None for v in vectors]
    return Detections(hands, failed, computed=len(todo), seconds=time.perf_counter() - started)


def _in_pool(chunks: list[list[tuple[int, str]]], workers: int, model: Path,
             settings: HandSettings, *state: Any) -> list[list[tuple[int, str]]]:
    """Detect ``chunks`` in worker processes; returns the chunks left undone if the pool broke
    (a worker that cannot start: e.g. a ``__main__`` that cannot be imported again), so that
    the caller finishes them here instead of waiting on a pool that respawns dying workers."""
    done: set[int] = set()
    try:
        with ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_start_worker,
                                 initargs=(str(model), settings)) as pool:
            futures = {pool.submit(_detect_chunk, chunk): k for k, chunk in enumerate(chunks)}
            for future in as_completed(futures):
                _collect([future.result()], *state)
                done.add(futures[future])
    except BrokenProcessPool:
        print("fingerspell: warning: hand detection workers could not start; detecting in "
              "this process", file=sys.stderr)
    return [chunk for k, chunk in enumerate(chunks) if k not in done]


def _collect(results, vectors, failed, keys, cache, progress) -> None:
    for chunk in results:
        rows = []
        for index, vector, reason in chunk:
            if reason:
                failed[index] = reason
            else:
                # as the cache stores it, so a fresh detection and a cached one give the same
                # hand (and the same crop, whose cache key is the hand's box)
                vectors[index] = vector.astype(np.float16)
                rows.append((keys[index], vector))
        if cache and rows:
            cache.put_many(rows)
        progress.update(len(chunk))
