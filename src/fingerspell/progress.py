"""Progress bars (rate and ETA) on stderr; silent when disabled or not wanted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, enabled: bool = True,
             unit: str = "it") -> Iterator[T]:
    """Wrap an iterable in a tqdm bar showing count, rate and ETA."""
    return iter(tqdm(iterable, desc=desc, total=total, disable=not enabled, unit=unit,
                     dynamic_ncols=True, leave=True, mininterval=0.5))


def bar(*, desc: str, total: int, enabled: bool = True, unit: str = "it") -> tqdm:
    """A manual bar for loops that update by more than one step at a time."""
    return tqdm(desc=desc, total=total, disable=not enabled, unit=unit, dynamic_ncols=True,
                mininterval=0.5)
