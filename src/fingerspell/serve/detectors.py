"""Hand detectors lent to single-image requests, one request at a time each.

A MediaPipe landmarker must not serve two threads at once; one shared detector behind a lock
capped ``/v1/predict`` at one request at a time whatever the cores (``benchmarks/
serve_load.py``). The pool makes the first detector at once and up to ``size`` in all, each
when a request finds every other one busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..features.hands import HandDetector
from ..infer.model import Model


class DetectorPool:
    """Example:
        >>> pool = DetectorPool(model, size=2)                    # doctest: +SKIP
        >>> with pool.lease() as detector:                         # doctest: +SKIP
        ...     model.predict_images([image], detector=detector)
    """

    def __init__(self, model: Model, size: int) -> None:
        self.model = model
        self.size = max(1, size)
        self._free: queue.SimpleQueue[HandDetector] = queue.SimpleQueue()
        self._made: list[HandDetector] = []
        self._making = threading.Lock()
        self.uses_hands = model.mode.needs_hands
        if self.uses_hands:  # the first one now, as the server starts: not in a request
            with self.lease():
                pass

    @contextmanager
    def lease(self) -> Iterator[HandDetector | None]:
        """A detector of this pool's own for the ``with`` block (None: the model needs none)."""
        if not self.uses_hands:
            yield None
            return
        detector = self._take()
        try:
            yield detector
        finally:
            self._free.put(detector)

    def _take(self) -> HandDetector:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._making:
            if len(self._made) < self.size:
                detector = self.model.detector()
                assert detector is not None, "a hand mode makes a detector"
                self._made.append(detector)
                return detector
        return self._free.get()  # every detector is lent: wait for one

    def close(self) -> None:
        with self._making:
            for detector in self._made:
                detector.close()
            self._made.clear()
