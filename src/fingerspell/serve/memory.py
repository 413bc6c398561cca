"""The server's memory under many threads: fewer glibc malloc arenas.

glibc gives each thread that allocates under contention an arena of its own, up to 8 per core,
and memory freed in one rarely goes back to the system. A server decoding uploads of up to
4096 x 4096 pixels (48 MB each) in worker threads grew by about 100 MB a minute in the soak run
(``benchmarks/soak.py``: 1.9 -> 2.6 GB over five minutes); with two arenas it stayed flat
(1.6-1.7 GB). Two arenas cost nothing measurable on this project's 2-core machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
SERVER_ARENAS = 2

log = logging.getLogger("fingerspell.serve")


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the threads started from now on (as MALLOC_ARENA_MAX
    does, without needing the variable set before Python starts). False where the C library
    is not glibc (musl, macOS, Windows): nothing is changed there."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
