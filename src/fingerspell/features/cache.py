"""On-disk feature cache: each image's backbone features are computed once.

One SQLite file per (backbone, weights, preprocessing); rows are keyed by the image's content
(``file_keys``: a digest and the size), so an edited file is recomputed while a data folder that
is moved, copied or downloaded again keeps its features. Each batch is committed, so a killed
run keeps everything extracted before the kill.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..data.images import file_size_problem

T = TypeVar("T")


def default_cache_dir() -> Path:
    """``$FINGERSPELL_CACHE``, else ``$XDG_CACHE_HOME/fingerspell``, else ``~/.cache/fingerspell``."""
    if os.environ.get("FINGERSPELL_CACHE"):
        return Path(os.environ["FINGERSPELL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fingerspell"


def cache_namespace(spec: Any, weights_id: str) -> str:
    """Identifies (backbone, weights, preprocessing) for the feature cache and the backbone's
    ONNX graph there; ``spec``: a ``BackboneSpec`` or a ``GraphSpec`` (name, preprocessing)."""
    pre = repr(sorted(spec.preprocessing.to_dict().items()))
    digest = hashlib.sha256(f"{weights_id}|{pre}".encode()).hexdigest()[:16]
    return f"{spec.name}-{digest}"


DIGESTS = "file-digests"  # the cache's namespace for content digests by (path, size, mtime)


def file_keys(paths: list[Path], cache: FeatureCache | None
              ) -> tuple[dict[int, str], dict[int, str]]:
    """The cache key of each readable file of ``paths`` (by index), and why the others cannot
    be read. A key is the file's BLAKE2b digest and size; the digest is remembered in
    ``cache``'s folder per (path, size, modification time), so a run over unchanged files reads
    none of them to find its keys. Without a cache nothing is stored, so a key only needs to
    say that the file can be read: path, size and time.
    """
    stats: dict[int, tuple[str, int]] = {}
    failed: dict[int, str] = {}
    for index, path in enumerate(paths):
        try:
            stat = path.stat()
        except OSError as exc:
            failed[index] = f"cannot read file ({exc.strerror or exc})"
            continue
        problem = file_size_problem(stat.st_size)
        if problem:  # before reading it for its digest
            failed[index] = problem
            continue
        stats[index] = (f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}", stat.st_size)
    if cache is None:
        return {index: stat_key for index, (stat_key, _) in stats.items()}, failed
    digests = FeatureCache(cache.root, DIGESTS)
    try:
        known = digests.get_blobs(stat_key for stat_key, _ in stats.values())
        keys: dict[int, str] = {}
        new: list[tuple[str, bytes]] = []
        for index, (stat_key, size) in stats.items():
            digest = known.get(stat_key)
            if digest is None:
                try:
                    digest = _digest(paths[index])
                except OSError as exc:
                    failed[index] = f"cannot read file ({exc.strerror or exc})"
                    continue
                new.append((stat_key, digest))
            keys[index] = f"{digest.hex()}|{size}"
        if new:
            digests.put_blobs(new)
    finally:
        digests.close()
    return keys, failed


def _digest(path: Path) -> bytes:
    hasher = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            hasher.update(block)
    return hasher.digest()


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
        self.root = root or default_cache_dir()
        self.path = self.root / "features" / f"{namespace}.sqlite"
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
        return {key: np.frombuffer(blob, dtype=np.float16)
                for key, blob in self.get_blobs(keys).items()}

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self.put_blobs((key, np.asarray(vec, dtype=np.float16).tobytes()) for key, vec in items)

    def get_blobs(self, keys: Iterable[str]) -> dict[str, bytes]:
        keys = list(keys)

        def run(db: sqlite3.Connection) -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in db.execute(
                        f"SELECT key, vec FROM features WHERE key IN ({marks})", chunk):
                    found[key] = blob
            return found

        return self._query(run)

    def put_blobs(self, items: Iterable[tuple[str, bytes]]) -> None:
        rows = list(items)

        def run(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?)", rows)

        self._query(run)

    def close(self) -> None:
        self._db.close()
