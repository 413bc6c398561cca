"""User-facing errors: each one prints as a single line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class FingerspellError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""


class ImageError(FingerspellError):
    """An image file that cannot be used, with the file named in the message."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")
