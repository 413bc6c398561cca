"""On-disk feature cache: each image's backbone features are computed once.

One SQLite file per (backbone, weights, preprocessing); rows are keyed by the image's absolute
path, size and modification time, so an edited file is recomputed. Each batch is committed, so
a killed run keeps everything extracted before the kill.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        try:
            for attempt in range(100):
                try:  # switching a new file to WAL does not wait for a concurrent opener: retry
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, "
                               "vec BLOB)")
                    db.execute("SELECT key FROM features LIMIT 1").fetchall()
                    return db
                except sqlite3.OperationalError:
                    if attempt == 99:
                        raise
                    time.sleep(0.1)
        except sqlite3.OperationalError:
            db.close()
            raise
        except sqlite3.DatabaseError:  # not a database, or a damaged one
            db.close()
            self._set_aside()
            return self._open()
        raise AssertionError("unreachable")

    def _set_aside(self) -> None:
        """Move a corrupt cache file out of the way (kept for inspection) and start a new one."""
        if getattr(self, "_db", None) is not None:
            self._db.close()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        print(f"fingerspell: warning: {self.path}: feature cache was corrupt; moved to "
              f"{aside.name}, features are computed again", file=sys.stderr)

    def _query(self, run: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return run(self._db)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError:  # damaged while in use (truncated, overwritten)
            self._set_aside()
            self._db = self._open()
            return run(self._db)

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(keys)

        def run(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in db.execute(
                        f"SELECT key, vec FROM features WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float16)
            return found

        return self._query(run)

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(key, np.asarray(vec, dtype=np.float16).tobytes()) for key, vec in items]

        def run(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?)", rows)

        self._query(run)

    def close(self) -> None:
        self._db.close()
