"""How many threads each kind of work gets: the one place that decides.

Threads pay only for large matrix work. For small work — fitting and running a head (an MLP of
a few hundred units), adapting one, per-frame and per-request work in ``live`` and ``serve`` —
a second thread adds synchronisation and nothing else, and on a machine where another program
is busy it is ruinous: PyTorch's worker threads wait for each other at every operation, and a
waiting thread that lost its core waits for the scheduler. Measured on this project's 2-core
machine (a 162->256->29 MLP, batch 64, AdamW): idle, 768 steps/s on 1 thread and 762 on 2;
with one busy program 599 vs 178; with two, 189 vs 29.

- **small work** runs on one thread, always (``small_work``; heads through ``head_work``,
  which gives a head as large as the tutorial's dense 8192/4096 the bulk threads): PyTorch's
  threads when it trains or adapts a head, NumPy's BLAS threads (``blas_threads``) when a head
  answers (``head/arrays.py``);
- **bulk work** — a backbone over batches of photos (feature extraction, fine-tuning) — uses
  every core this process may run on, or ``FINGERSPELL_THREADS`` / ``--threads N``
  (``bulk_work``);
- ``live`` and ``serve`` put the whole process on one thread per frame or request
  (``per_request``; more only when the user asks): a server's parallelism is across requests
  and streams, one core each, and a live loop keeps its frame rate when the machine is busy.

ONNX Runtime sessions take the thread count of the work they are made for (``onnx_threads``).
MediaPipe's hand landmarker runs its own graph (one at a time per detector); a pool of
detectors is sized to the cores (``serve/detectors.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

THREADS_ENV = "FINGERSPELL_THREADS"
SMALL_WORK_THREADS = 1


def available_cores() -> int:
    """The cores this process may run on (a container's or ``taskset``'s limit included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def bulk_threads() -> int:
    """Threads for bulk work: ``$FINGERSPELL_THREADS`` if set, else every available core.

    Example:
        >>> os.environ[THREADS_ENV] = "3"; bulk_threads()
        3
        >>> del os.environ[THREADS_ENV]; bulk_threads() == available_cores()
        True
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            from .errors import FingerspellError
            raise FingerspellError(f"{THREADS_ENV}={value!r}: a thread count must be a "
                                   f"positive integer")
        return threads
    return available_cores()


def set_bulk_threads(threads: int | None) -> None:
    """``--threads N``: bulk work uses N threads in this process and its workers."""
    if threads is not None:
        os.environ[THREADS_ENV] = str(threads)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` for the block, then put back (nothing is
    changed when it already has that many: the server's request threads, all on one). In a
    process that has not imported PyTorch there is nothing to set (a prediction that runs on
    ONNX Runtime and NumPy: its session took its count when made, ``onnx_threads``)."""
    if sys.modules.get("torch") is None:
        yield
        return
    import torch
    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# a head this large does real matrix work (the tutorial's 25088 -> 8192 -> 4096 head has 240 M
# parameters, 13 GMAC a batch): threads pay there; the default heads have under a million
LARGE_HEAD_PARAMETERS = 4_000_000


_blas_libraries: tuple[int, Any] | None = None  # (modules loaded when found, the controller)


def _blas() -> Any:
    """The BLAS libraries loaded in this process (NumPy's OpenBLAS, SciPy's own, MKL, ...)
    through threadpoolctl; None without it. Found again (1 ms) whenever modules were imported
    since: a new module may have brought its own BLAS (SciPy does)."""
    global _blas_libraries
    if _blas_libraries is None or _blas_libraries[0] != len(sys.modules):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _blas_libraries = (len(sys.modules), ThreadpoolController())
    return _blas_libraries[1]


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """NumPy's BLAS threads set to ``threads`` for the block, then put back. A head answers in
    NumPy (``head/arrays.py``); OpenBLAS threads a product of 32 rows and more, which costs
    more than it gives on products this small, and on a busy machine much more."""
    controller = _blas()
    if controller is None:
        yield
        return
    with controller.limit(limits=threads, user_api="blas"):
        yield


@contextlib.contextmanager
def _threads(threads: int) -> Iterator[None]:
    with torch_threads(threads), blas_threads(threads):
        yield


def small_work() -> contextlib.AbstractContextManager[None]:
    """For small work (a default head, per-frame work): one thread."""
    return _threads(SMALL_WORK_THREADS)


def head_work(head: object) -> contextlib.AbstractContextManager[None]:
    """For fitting, adapting or running ``head`` (a torch module, or ``HeadArrays``): one
    thread for a head of the usual size, bulk threads for one as large as the tutorial's."""
    weights = getattr(head, "weights", None)
    parameters = (sum(w.size for w in weights.values()) if isinstance(weights, dict)
                  else sum(p.numel() for p in head.parameters()))  # type: ignore[attr-defined]
    return bulk_work() if parameters >= LARGE_HEAD_PARAMETERS else small_work()


def bulk_work() -> contextlib.AbstractContextManager[None]:
    """For a backbone over batches of photos: ``bulk_threads()``."""
    return _threads(bulk_threads())


def per_request() -> int:
    """For ``live`` and ``serve``: every PyTorch operation of this process on one thread, bulk
    work included, unless the user asked for more (``--threads``, ``$FINGERSPELL_THREADS``).
    Set once, before any model is loaded: ONNX Runtime sessions take the same count, and no
    request thread changes the process-wide setting under another. Returns the count.

    On this project's 2-core machine (``benchmarks/under_load.py``) ``live`` ran 8.0 frames/s
    with one other busy program on two threads, 14.5 on one; idle, the same within the spread
    (15-17 frames/s)."""
    import torch
    threads = bulk_threads() if os.environ.get(THREADS_ENV) else SMALL_WORK_THREADS
    os.environ[THREADS_ENV] = str(threads)
    torch.set_num_threads(threads)
    if _blas() is not None:  # the heads' NumPy products too, for good (no block to leave)
        _blas().limit(limits=threads, user_api="blas")
    return threads


def onnx_threads() -> int:
    """Intra-op threads for a new ONNX Runtime session: what PyTorch has now, so a session made
    for a server or a live loop runs on one, one made for extracting features on the cores. In
    a process that never imported PyTorch (a prediction), what bulk work would get."""
    if sys.modules.get("torch") is None:
        return bulk_threads()
    import torch
    return torch.get_num_threads()
