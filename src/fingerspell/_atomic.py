"""Atomic writes: a reader (or a resumed run after SIGKILL) sees the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def match_umask(path: str | Path) -> None:
    """Give a file the mode a plain ``open()`` would (0644 under the usual umask)."""
    os.chmod(path, 0o666 & ~_umask())


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    match_umask(tmp)  # mkstemp makes owner-only files
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_new(folder: str | Path, names: Callable[[int], str], write: Callable[[Path], Any],
              first: int = 1) -> Path:
    """Write a new file in ``folder`` named ``names(n)`` for the first free ``n`` from
    ``first``, never replacing one: the file is written in full to a temp file, then hard-linked
    to its name, which fails if another writer took the name first (then the next is tried)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".new.", suffix=".tmp", dir=folder)
    os.close(fd)
    match_umask(tmp)
    try:
        write(Path(tmp))
        n = first
        while True:
            target = folder / names(n)
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                n += 1
    finally:
        os.unlink(tmp)


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def replace_dir(build: Callable[[Path], Any], target: str | Path) -> Path:
    """Build a folder in a temp sibling, then swap it in place of ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        build(tmp)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
