"""Read a JSON file from outside (a model bundle's or a run's config.json, a recipe): bounded in
bytes and depth, every failure one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import FingerspellError

MAX_JSON_BYTES = 4 * 1024 * 1024  # configs are a few KB; more is not one of ours


def read_json(path: str | Path, what: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed content of ``path`` (``what`` names it in errors: "model config", ...).

    Example:
        >>> import tempfile, os
        >>> bomb = os.path.join(tempfile.mkdtemp(), "config.json")
        >>> _ = open(bomb, "w").write("[" * 100_000)
        >>> read_json(bomb, "model config")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fingerspell.errors.FingerspellError: ...config.json: not a valid model config (nested too deeply)
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FingerspellError(f"{path}: {size:,} bytes is too large for a {what} "
                                   f"(at most {max_bytes:,})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FingerspellError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise FingerspellError(f"{path}: not a valid {what} (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FingerspellError(f"{path}: not a valid {what} (bad JSON: {exc})") from None
    except RecursionError:  # a few KB of '[' is enough to exhaust the parser's stack
        raise FingerspellError(f"{path}: not a valid {what} (nested too deeply)") from None
