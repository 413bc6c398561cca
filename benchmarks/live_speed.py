"""Frames per second of live recognition on ONE CPU core at 640x480, per stage.

Usage: python benchmarks/live_speed.py [--frames 150] [--out benchmarks/results/live_speed.json]

Webcam-like frames (a shared photo of a hand pasted into a 640x480 scene, JPEG-encoded as a
camera or browser sends them) go through the same code as ``fingerspell live`` and the web
page, one frame at a time: decode (JPEG -> RGB), hands (MediaPipe, two passes of the retry
ladder a frame, as a stream runs it),
features (landmark encoding, plus the backbone on the hand crop for fusion), head, decoder. The
process is pinned to one core and every library to one thread. Models are trained here on a
few shared photos (speed does not depend on how well they are trained); fusion is timed with the
backbone in PyTorch and in ONNX Runtime (``fingerspell export``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import require_shared, small_model, webcam_frames

STAGES = ("decode", "hands", "features", "head", "decoder")


def one_core() -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch
    torch.set_num_threads(1)


def train_models(folder: Path) -> dict[str, Path]:
    models = {mode: small_model(folder, mode) for mode in ("landmarks", "fusion")}
    from fingerspell.infer import Model
    onnx_dir = folder / "fusion-onnx"
    import shutil
    shutil.copytree(models["fusion"], onnx_dir)
    Model.load(onnx_dir, runtime="torch").export()
    models["fusion (ONNX Runtime)"] = onnx_dir
    return models


def time_model(model_dir: Path, frames: list[bytes], runtime: str) -> dict[str, float]:
    from PIL import Image

    from fingerspell.features.modes import image_vectors
    from fingerspell.infer import Model
    from fingerspell.live.stream import LiveSession
    model = Model.load(model_dir, runtime=runtime)
    seconds = dict.fromkeys(STAGES, 0.0)
    hands_ms: dict[str, list[float]] = {"with_hand": [], "empty": []}  # the ladder's cost
    with LiveSession(model) as session:
        for index, data in enumerate(frames):
            t0 = time.perf_counter()
            image = Image.open(io.BytesIO(data)).convert("RGB")
            t1 = time.perf_counter()
            hand = session.detector.find(image)
            t2 = time.perf_counter()
            vectors = image_vectors(model.mode.name, model.encoder, [image], [hand],
                                    model.hand_settings.margin)
            t3 = time.perf_counter()
            probs = model.head_proba(vectors)[0]
            t4 = time.perf_counter()
            from fingerspell.infer.model import ROUTE_HAND, ROUTE_NO_HAND_WHOLE_IMAGE, Prediction
            label = model.classes[int(np.argmax(probs))]
            session.feed(index / 30, Prediction("frame", label, float(probs.max()), [],
                                                ROUTE_HAND if hand else ROUTE_NO_HAND_WHOLE_IMAGE,
                                                hand))
            t5 = time.perf_counter()
            if index >= 5:  # the first frames warm caches up
                hands_ms["with_hand" if hand else "empty"].append(1000 * (t2 - t1))
                for stage, (a, b) in zip(STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4),
                                                  (t4, t5)), strict=True):
                    seconds[stage] += b - a
    n = len(frames) - 5
    per_frame = {stage: round(1000 * s / n, 2) for stage, s in seconds.items()}
    total = sum(seconds.values()) / n
    return {"ms_per_frame": per_frame, "total_ms": round(1000 * total, 2),
            "frames_per_second": round(1 / total, 1), "runtime": model.runtime,
            "hands_ms_median": {kind: round(float(np.median(ms)), 2) if ms else None
                                for kind, ms in hands_ms.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/live_speed.json"))
    args = parser.parse_args()
    require_shared()
    with tempfile.TemporaryDirectory() as folder:
        models = train_models(Path(folder))
        one_core()
        frames = webcam_frames(args.frames)
        rows = []
        print(f"{'model':<24}" + "".join(f"{s:>10}" for s in STAGES) + f"{'total ms':>10}"
              f"{'frames/s':>10}", flush=True)
        for name, model_dir in models.items():
            runtime = "onnx" if "ONNX" in name else "torch"
            row = {"model": name, **time_model(model_dir, frames, runtime)}
            rows.append(row)
            print(f"{name:<24}" + "".join(f"{row['ms_per_frame'][s]:>10.1f}" for s in STAGES)
                  + f"{row['total_ms']:>10.1f}{row['frames_per_second']:>10.1f}"
                  + f"   hands: {row['hands_ms_median']}", flush=True)
    result = {"frames": args.frames, "size": "640x480", "cores": 1, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
