"""Soak: ``fingerspell serve`` under mixed good and hostile traffic from several clients for a
few minutes. Does it stay healthy, is memory flat, does its log still get written?

Usage: python benchmarks/soak.py [--minutes 3] [--clients 6] [--model asl-alphabet]
                                 [--out benchmarks/results/soak.json]

The server is started for real on a free 127.0.0.1 port (loopback only; every loop is bounded
by the time given) with Teach profiles in a temporary folder. Each client runs, in turn:
a good 640x480 webcam-like photo to ``/v1/predict``; a hostile upload (a random file from the
fuzz generator: any size, mode, format, orientation, animation, truncation or corruption; a
bomb; the 32x524288 strip; text); a stream of 20 frames, one in four hostile; a Teach capture
and now and then Adapt or a delete of the client's profile. Reported: answers by kind and
status (a 500 or a dropped connection is a failure), the good photos' p50/p95 per minute,
resident memory per minute, whether a refusal sent at the end reached the log, and /healthz.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from common import require_shared, webcam_frames
from server import MemorySampler, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_inputs import RandomHostile


class Tally:
    """Answers by kind and status, and the good photos' latencies by minute (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        self.latency: dict[int, list[float]] = {}
        self.started = time.monotonic()

    def count(self, kind: str, status: object) -> None:
        with self.lock:
            self.answers[f"{kind} {status}"] += 1

    def good(self, seconds: float) -> None:
        with self.lock:
            minute = int((time.monotonic() - self.started) // 60)
            self.latency.setdefault(minute, []).append(seconds)


def client(index: int, base: str, until: float, photos: list[bytes], tally: Tally) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    hostile = RandomHostile(seed=index)
    profile = f"soak{index}"
    letters = ["A", "B", "C", "L", "Y"]
    with httpx.Client(timeout=60) as http:
        for turn in range(10**6):
            if time.monotonic() > until:
                return
            photo = photos[turn % len(photos)]
            try:
                started = time.perf_counter()
                reply = http.post(f"{base}/v1/predict", content=photo)
                tally.count("good photo", reply.status_code)
                if reply.status_code == 200:
                    tally.good(time.perf_counter() - started)
                tally.count("hostile upload", http.post(f"{base}/v1/predict",
                                                        content=hostile()).status_code)
                frame = b""
                try:
                    with connect(base.replace("http", "ws") + "/v1/stream", open_timeout=30,
                                 max_size=None) as ws:
                        for k in range(20):
                            frame = (hostile() or b"\0") if k % 4 == 3 else photos[k % len(photos)]
                            ws.send(frame)
                            answer = json.loads(ws.recv(timeout=60))
                            tally.count("stream frame", "error" if "error" in answer
                                        else "answer")
                except ConnectionClosed as closed:  # 1009: a frame over the byte limit; 1013:
                    # more streams than --max-streams; both are the documented answers (a 1009
                    # can arrive while the big frame is still being sent, and go unread)
                    code = closed.rcvd.code if closed.rcvd else (
                        1009 if len(frame) > 5 * 2**20 else "?")
                    tally.count("stream closed", code)
                capture = http.post(f"{base}/v1/profiles/{profile}/examples?label="
                                    f"{letters[turn % 5]}", content=photo)
                tally.count("teach capture", capture.status_code)
                if turn % 5 == 4:
                    tally.count("teach adapt", http.post(
                        f"{base}/v1/profiles/{profile}/adapt", timeout=120).status_code)
                if turn % 10 == 9:
                    tally.count("teach delete",
                                http.delete(f"{base}/v1/profiles/{profile}").status_code)
            except Exception as exc:  # noqa: BLE001 - a dropped connection is a finding
                tally.count("failure", type(exc).__name__)
                print(f"client {index}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--model", default="asl-alphabet")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/soak.json"))
    parser.add_argument("--log", type=Path, default=None, help="keep the server's log here")
    args = parser.parse_args()
    require_shared()
    photos = webcam_frames(30)
    tally = Tally()
    with tempfile.TemporaryDirectory() as folder:
        log = args.log or Path(folder) / "server.log"
        with serving(args.model, "--profiles", str(Path(folder) / "profiles"),
                     log=log) as (base, server):
            rss = MemorySampler(server.pid, every=1.0)
            rss.start()
            until = time.monotonic() + args.minutes * 60
            workers = [threading.Thread(target=client, args=(i, base, until, photos, tally))
                       for i in range(args.clients)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            rss.running = False
            marker = f"soak.end.{time.time_ns()}"  # a refused profile name: its line is logged
            httpx.post(f"{base}/v1/profiles/{marker}/examples?label=A", content=photos[0])
            time.sleep(0.5)
            log_written = marker in log.read_text()
            health = httpx.get(f"{base}/healthz", timeout=60)
            log_lines = len(log.read_text().splitlines())
    minutes = {}
    for minute, seconds in sorted(tally.latency.items()):
        ms = np.asarray(seconds) * 1000
        mb = [m for t, m in rss.series if int(t // 60) == minute]
        minutes[minute] = {"good_photos": len(ms), "p50_ms": round(float(np.percentile(ms, 50))),
                           "p95_ms": round(float(np.percentile(ms, 95))),
                           "rss_mb": round(float(np.median(mb))) if mb else None}
    failures = {k: v for k, v in tally.answers.items() if k.startswith("failure")
                or k.endswith(" 500") or (k.startswith("stream closed") and k[-4:] not in ("1009", "1013"))}
    result = {"model": args.model, "minutes": args.minutes, "clients": args.clients, "cores": 2,
              "answers": dict(sorted(tally.answers.items())), "failures": failures,
              "per_minute": minutes, "peak_rss_mb": round(rss.peak_mb),
              "log_written_at_end": log_written, "log_lines": log_lines,
              "healthz_at_end": health.status_code}
    print(f"{'minute':>6}{'good photos':>13}{'p50 ms':>8}{'p95 ms':>8}{'RSS MB':>8}")
    for minute, row in minutes.items():
        print(f"{minute:>6}{row['good_photos']:>13}{row['p50_ms']:>8}{row['p95_ms']:>8}"
              f"{row['rss_mb'] or '?':>8}")
    for kind, count in sorted(tally.answers.items()):
        print(f"  {kind:<34}{count:>7}")
    print(f"failures (500s, dropped connections): {sum(failures.values())}; log written at the "
          f"end: {log_written}; /healthz at the end: {health.status_code}; peak RSS "
          f"{rss.peak_mb:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failures or not log_written or health.status_code != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
