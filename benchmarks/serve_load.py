"""Load on ``fingerspell serve``: requests per second, latency, errors and memory under
concurrent uploads, camera streams, and a decompression bomb in the middle.

Usage: python benchmarks/serve_load.py [--model MODEL_DIR] [--requests 200] [--frames 60]
                                       [--out benchmarks/results/serve_load.json]

The server is started for real (a subprocess on a free 127.0.0.1 port) and loaded only over
loopback, with a bounded number of requests. For concurrency 1, 10 and 50, ``--requests``
uploads of a 640x480 JPEG hand photo go to ``/v1/predict``; halfway through each run, one PNG
that declares 9990x9990 pixels is sent too. Then 4 WebSocket streams send
``--frames`` frames each, one of them a bomb frame halfway. The server's resident memory is
sampled from /proc throughout (peak RSS). Without ``--model`` a small fusion model is trained
on shared photos first (not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from common import require_shared, small_model, webcam_frames
from server import MemorySampler, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_inputs import png_declaring

BOMB = png_declaring(9990, 9990)  # a few hundred bytes declaring 100 megapixels


def summary(latencies: list[float], errors: int, seconds: float, rss: MemorySampler,
            statuses: dict[str, int]) -> dict[str, float | int | dict[str, int]]:
    ms = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "requests_per_s": round(len(latencies) / seconds, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p95_ms": round(float(np.percentile(ms, 95)), 1) if len(ms) else None,
            "errors": errors, "statuses": statuses, "peak_rss_mb": round(rss.peak_mb),
            "seconds": round(seconds, 2)}


async def upload_load(base: str, photo: bytes, concurrency: int, requests: int,
                      rss: MemorySampler) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(photo)
        if i == requests // 2:
            queue.put_nowait(BOMB)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            try:
                response = await client.post(f"{base}/v1/predict", content=body)
                status = str(response.status_code)
            except httpx.HTTPError:
                status = "connection error"
            statuses[status] = statuses.get(status, 0) + 1
            if body is photo:  # the bomb's answer (413) is counted apart from the latencies
                latencies.append(time.perf_counter() - started)
                errors += status != "200"

    rss.peak_mb = rss.last_mb
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return summary(latencies, errors, time.perf_counter() - started, rss, statuses)


async def stream_load(base: str, frames: list[bytes], streams: int, rss: MemorySampler) -> dict:
    from websockets.asyncio.client import connect
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0

    async def stream(index: int) -> None:
        nonlocal errors
        async with connect(base.replace("http", "ws") + "/v1/stream", max_size=None) as ws:
            for k, frame in enumerate(frames):
                bomb = index == 0 and k == len(frames) // 2
                started = time.perf_counter()
                await ws.send(BOMB if bomb else frame)
                reply = json.loads(await ws.recv())
                kind = "bomb refused" if bomb and "too large" in reply.get("error", "") \
                    else "error" if "error" in reply else "ok"
                statuses[kind] = statuses.get(kind, 0) + 1
                if not bomb:
                    latencies.append(time.perf_counter() - started)
                    errors += kind != "ok"

    rss.peak_mb = rss.last_mb
    started = time.perf_counter()
    await asyncio.gather(*(stream(i) for i in range(streams)))
    return summary(latencies, errors, time.perf_counter() - started, rss, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_load.json"))
    args = parser.parse_args()
    require_shared()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or small_model(Path(folder), "fusion")
        with serving(model, "--max-streams", "4") as (base, server):
            rss = MemorySampler(server.pid)
            rss.start()
            time.sleep(0.2)
            idle_mb = rss.last_mb
            frames = webcam_frames(args.frames)
            rows = {}
            for concurrency in (1, 10, 50):
                requests = max(20, args.requests // 4) if concurrency == 1 else args.requests
                rows[f"predict, concurrency {concurrency}"] = asyncio.run(
                    upload_load(base, frames[0], concurrency, requests, rss))
            rows["4 streams"] = asyncio.run(stream_load(base, frames, 4, rss))
            rss.running = False
    print(f"{'load':<26}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}{'peak RSS':>10}  answers")
    for name, row in rows.items():
        print(f"{name:<26}{row['requests_per_s']:>8.1f}{row['p50_ms']:>9.0f}{row['p95_ms']:>9.0f}"
              f"{row['errors']:>8}{row['peak_rss_mb']:>8} MB  {row['statuses']}")
    result = {"model": "fusion (efficientnet_lite0), trained on 6 letters" if not args.model
              else str(args.model), "photo": "640x480 JPEG", "idle_rss_mb": round(idle_mb),
              "cores": 2, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
