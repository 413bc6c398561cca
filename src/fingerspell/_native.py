"""Quiet native libraries: MediaPipe and FFmpeg log straight to file descriptor 2.

File descriptor 2 belongs to the whole process, so the silencing is shared: the first thread to
enter points it at /dev/null, the last to leave points it back. (Each thread once saved and
restored it on its own: two overlapping threads could restore /dev/null for good, and the
server's log went silent; issue 26.) Python's own messages need not go through it at all: a
long-running command calls ``keep_python_stderr`` first, so its log is never hidden.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_holders = 0
_saved_fd: int | None = None


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what C/C++ code writes to stderr meanwhile (set-up chatter, not errors: those come
    back as Python exceptions or return values and are reported in one line)."""
    global _holders, _saved_fd
    with _lock:
        if _holders == 0:
            _flush_stderr()
            _saved_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None


def keep_python_stderr() -> None:
    """Make ``sys.stderr`` write to a copy of today's file descriptor 2, so that Python's
    messages (logging, warnings, tracebacks) are never hidden while a native library is being
    silenced on another thread. For a process's entry point (``serve``), not for libraries."""
    if getattr(sys.stderr, "_fingerspell_kept", False):
        return
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return  # already redirected (pytest's capture, a caller's stream): leave it
    except (AttributeError, OSError, ValueError):
        return
    _flush_stderr()
    stream = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding,
                       errors="backslashreplace")
    stream._fingerspell_kept = True  # type: ignore[attr-defined]
    sys.stderr = stream


def _flush_stderr() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
