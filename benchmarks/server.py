"""A real ``fingerspell serve`` for the benchmarks: started on a free 127.0.0.1 port, waited for,
its memory sampled from /proc, and stopped. Loopback only."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
HAND_MODEL = Path(__file__).resolve().parents[2] / "shared" / "models" / "hand_landmarker.task"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(model: str | Path, *options: str, log: Path | None = None
            ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``fingerspell serve MODEL OPTIONS`` until the block ends: (base URL, process); its
    stderr goes to ``log`` (else nowhere)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    if HAND_MODEL.is_file():
        env.setdefault("FINGERSPELL_HAND_MODEL", str(HAND_MODEL))
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log.open("w")) if log else subprocess.DEVNULL
        server = subprocess.Popen([str(BIN / "fingerspell"), "serve", str(model), "--port",
                                   str(port), *options], stdout=subprocess.DEVNULL,
                                  stderr=stderr, env=env)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("the server did not start")
                    time.sleep(0.3)
            yield base, server
        finally:
            if server.poll() is not None:
                print(f"the server exited with code {server.returncode}", file=sys.stderr)
            server.terminate()
            server.wait(timeout=30)


class MemorySampler(threading.Thread):
    """The server's resident memory, sampled every ``every`` seconds from /proc (peak, last and
    the whole series)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_mb, self.last_mb, self.running = 0.0, 0.0, True
        self.series: list[tuple[float, float]] = []

    def run(self) -> None:
        started = time.monotonic()
        while self.running:
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.last_mb = int(line.split()[1]) / 1024
                        self.peak_mb = max(self.peak_mb, self.last_mb)
                        self.series.append((time.monotonic() - started, self.last_mb))
            except OSError:
                return
            time.sleep(self.every)
