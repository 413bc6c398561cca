"""A longer fuzz run than the test suite's: fresh random hostile images through every input
path, counting what each answered. A traceback, a 500, a dropped connection or a wrong answer
to the good photo sent after every hostile one is a failure; failing inputs are saved.

Usage: python benchmarks/fuzz.py [--examples 500] [--seed N] [--model asl-alphabet]
                                 [--keep DIR] [--out benchmarks/results/fuzz.json]

Paths: the decoders in process (``decode_image`` for uploads, ``load_rgb`` for files), the model
in process (``predict_images`` with one detector), and the real server on 127.0.0.1:
``/v1/predict`` (raw and multipart), Teach captures and one ``/v1/stream``. Loopback only, and
bounded by ``--examples``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from common import require_shared, webcam_frames
from server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_inputs import RandomHostile


def in_process(bodies: list[bytes], model: str, folder: Path) -> Counter[str]:
    """Decoders and the model, in this process: a refusal of the right kind, or an answer."""
    from fingerspell.data.images import load_rgb
    from fingerspell.errors import ImageError
    from fingerspell.infer import Model
    from fingerspell.serve.uploads import BadInput, decode_image
    loaded = Model.load(model)
    outcomes: Counter[str] = Counter()
    with loaded.detector() as detector:
        for body in bodies:
            path = folder / "file.img"
            path.write_bytes(body)
            try:
                load_rgb(path)
                outcomes["file read"] += 1
            except ImageError:
                outcomes["file refused"] += 1
            try:
                image = decode_image(body)
            except BadInput as exc:
                outcomes[f"upload {exc.status}"] += 1
                continue
            answer = loaded.predict_images([image], detector=detector)[0]
            outcomes["model answered" if 0 <= answer.confidence <= 1 else "failure: model"] += 1
    return outcomes


def served(bodies: list[bytes], base: str, good: bytes, letter: str, keep: Path | None
           ) -> Counter[str]:
    from websockets.sync.client import connect
    outcomes: Counter[str] = Counter()

    def failure(kind: str, body: bytes) -> None:
        outcomes[f"failure: {kind}"] += 1
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{kind.replace(' ', '_')}-{time.time_ns()}.bin").write_bytes(body)

    with httpx.Client(timeout=60) as http, connect(
            base.replace("http", "ws") + "/v1/stream", open_timeout=30, max_size=None) as ws:
        for k, body in enumerate(bodies):
            raw = http.post(f"{base}/v1/predict", content=body)
            multipart = http.post(f"{base}/v1/predict", files={"file": ("x", body)})
            capture = http.post(f"{base}/v1/profiles/fuzz/examples?label={letter}", content=body)
            for name, reply in (("predict", raw), ("multipart", multipart), ("capture", capture)):
                outcomes[f"{name} {reply.status_code}"] += 1
                if reply.status_code >= 500:
                    failure(f"{name} {reply.status_code}", body)
            if len(body) < 5 * 1024 * 1024:  # bigger frames close the stream (1009), by design
                ws.send(body or b"\0")
                answer = json.loads(ws.recv(timeout=60))
                outcomes["frame " + ("refused" if "error" in answer else "answered")] += 1
            after = http.post(f"{base}/v1/predict", content=good)
            if after.status_code != 200 or after.json()["label"] != letter:
                failure("good photo after", body)
            if k % 20 == 19:  # keep the profile under its limits
                http.delete(f"{base}/v1/profiles/fuzz")
        if http.get(f"{base}/healthz").status_code != 200:
            outcomes["failure: healthz"] += 1
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--model", default="asl-alphabet")
    parser.add_argument("--keep", type=Path, default=None, help="save failing inputs here")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz.json"))
    args = parser.parse_args()
    require_shared()
    hostile = RandomHostile(args.seed)
    bodies = [hostile() for _ in range(args.examples)]
    good = webcam_frames(1)[0]  # a hand photo of the letter A
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        outcomes = in_process(bodies, args.model, Path(folder))
        with serving(args.model, "--profiles", str(Path(folder) / "profiles"),
                     log=Path(folder) / "server.log") as (base, _server):
            outcomes += served(bodies, base, good, "A", args.keep)
            tracebacks = (Path(folder) / "server.log").read_text().count("Traceback")
    if tracebacks:
        outcomes["failure: tracebacks in the log"] = tracebacks
    failures = {k: v for k, v in outcomes.items() if k.startswith("failure")}
    result = {"examples": args.examples, "seed": args.seed, "model": args.model,
              "seconds": round(time.perf_counter() - started, 1),
              "outcomes": dict(sorted(outcomes.items())), "failures": failures}
    for kind, count in sorted(outcomes.items()):
        print(f"  {kind:<28}{count:>7}")
    print(f"{args.examples} hostile inputs (seed {args.seed}) in {result['seconds']} s: "
          f"{sum(failures.values())} failures")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
