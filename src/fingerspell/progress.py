"""Progress on stderr: tqdm bars (count, rate, ETA) in a terminal; in a log that is not a
terminal (CI, nohup, a pipe), plain lines instead: one every ``LOG_EVERY_S`` seconds and one
when the stage ends, rather than hundreds of carriage-return updates."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm

LOG_EVERY_S = 30.0


def _terminal() -> bool:
    return sys.stderr.isatty()


class LineProgress:
    """The part of tqdm's interface the package uses, writing whole lines."""

    def __init__(self, *, desc: str, total: int | None, unit: str) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n = 0
        self.postfix = ""
        self.started = self.last_line = time.monotonic()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last_line >= LOG_EVERY_S:
            self.last_line = now
            self._line(done=False)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.n:
            self._line(done=True)
        self.n = 0

    def _line(self, *, done: bool) -> None:
        seconds = max(time.monotonic() - self.started, 1e-9)
        rate = self.n / seconds
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        text = f"{self.desc}: {count} {self.unit} in {seconds:.1f} s ({rate:.1f} {self.unit}/s"
        if not done and self.total and rate > 0:
            text += f", ETA {(self.total - self.n) / rate:.0f} s"
        text += ")" + (f" {self.postfix}" if self.postfix else "")
        print(text, file=sys.stderr, flush=True)


def bar(*, desc: str, total: int, enabled: bool = True, unit: str = "it") -> tqdm | LineProgress:
    """A manual bar for loops that update by more than one step at a time."""
    if enabled and not _terminal():
        return LineProgress(desc=desc, total=total, unit=unit)
    return tqdm(desc=desc, total=total, disable=not enabled, unit=unit, dynamic_ncols=True,
                mininterval=0.5)
