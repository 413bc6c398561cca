"""On-disk feature cache: each image's backbone features are computed once.

One SQLite file per (backbone, weights, preprocessing); rows are keyed by the image's absolute
path, size and modification time, so an edited file is recomputed. Each batch is committed, so
a killed run keeps everything extracted before the kill.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    """``$FINGERSPELL_CACHE``, else ``$XDG_CACHE_HOME/fingerspell``, else ``~/.cache/fingerspell``."""
    if os.environ.get("FINGERSPELL_CACHE"):
        return Path(os.environ["FINGERSPELL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fingerspell"


def file_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


class FeatureCache:
    """Feature vectors (float16) by file key, for one backbone namespace.

    Example:
        >>> import tempfile
        >>> cache = FeatureCache(Path(tempfile.mkdtemp()), "demo")
        >>> cache.put_many([("k", np.ones(3, np.float32))])
        >>> cache.get_many(["k", "missing"])["k"].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, root: Path | None, namespace: str) -> None:
        self.path = (root or default_cache_dir()) / "features" / f"{namespace}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        for attempt in range(100):
            try:  # switching a new file to WAL does not wait for a concurrent opener: retry
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, "
                                 "vec BLOB)")
                break
            except sqlite3.OperationalError:
                if attempt == 99:
                    raise
                time.sleep(0.1)

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(keys)
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                    f"SELECT key, vec FROM features WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float16)
        return found

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(key, np.asarray(vec, dtype=np.float16).tobytes()) for key, vec in items]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()
