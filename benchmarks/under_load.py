"""What a user gets on a busy machine: each everyday job idle and with one competing CPU-bound
program (started and stopped by this script), as the ratio busy / idle.

Usage: python benchmarks/under_load.py [--label NAME] [--out benchmarks/results/under_load.json]

Jobs (each through the installed ``fingerspell`` command, as a user runs it):
- ``train``: the default recipe on 20 Kaggle photos per letter (580) with a warm feature cache
  (a first run fills it, untimed): what is left is fitting the heads and calibrating;
- ``adapt``: the built-in model to 5 photos per letter of one webcam_mit person (130);
- ``predict``: the built-in model on a folder of 100 webcam_mit photos;
- ``live``: the built-in model on 5 shared letter clips (frames/s, as ``live`` prints it);
- ``serve``: 60 ``/v1/predict`` requests of a 640x480 photo at concurrency 2 (requests/s).

The competing program is a Python loop on one core's worth of work. Run this script on the code
before and after a change (``--label``) on the same machine to compare; results accumulate in
the JSON under their label.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import KAGGLE, SHARED, require_shared, webcam_frames
from server import BIN, HAND_MODEL, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import link_subset

WEBCAM = SHARED / "data" / "webcam_mit"
VIDEOS = SHARED / "data" / "videos" / "letters"
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"


class Busy:
    """One competing CPU-bound process for the ``with`` block."""

    def __enter__(self) -> Busy:
        self.process = subprocess.Popen([sys.executable, "-c", BUSY])
        time.sleep(0.5)
        return self

    def __exit__(self, *_: object) -> None:
        self.process.kill()
        self.process.wait()


def fingerspell(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FINGERSPELL_CACHE": str(cache), "FINGERSPELL_HAND_MODEL": str(HAND_MODEL),
           "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([str(BIN / "fingerspell"), "-q", *args], capture_output=True,
                            text=True, env=env, timeout=3600)
    if result.returncode not in (0, 1):
        sys.exit(f"fingerspell {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


def timed(job, *args, **kwargs) -> float:
    started = time.perf_counter()
    job(*args, **kwargs)
    return time.perf_counter() - started


def person_folder(root: Path, person: str, per_letter: int) -> Path:
    for letter_dir in sorted(p for p in WEBCAM.iterdir() if p.is_dir()):
        out = root / letter_dir.name
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(letter_dir.glob(f"{person}_*.jpg"))[:per_letter]:
            (out / path.name).symlink_to(path)
    return root


def jobs(folder: Path, cache: Path) -> dict[str, tuple[str, callable]]:
    """name -> (unit, a function that runs the job once and returns its figure)."""
    train_data = link_subset(KAGGLE, folder / "train",
                             sorted(p.name for p in KAGGLE.iterdir()), per_class=20, step=15)
    fingerspell("train", str(train_data), "--out", str(folder / "warm"), cache=cache)
    person = person_folder(folder / "person", "HawkCodesZ", 5)
    photos = folder / "photos"
    photos.mkdir()
    for path in sorted(WEBCAM.glob("*/*.jpg"))[::20][:100]:
        (photos / f"{path.parent.name}_{path.name}").symlink_to(path)
    clips = [str(VIDEOS / f"{c}.mp4") for c in "ABCLY"]
    runs = iter(range(10**6))

    def train() -> float:
        return timed(fingerspell, "train", str(train_data), "--out",
                     str(folder / f"run{next(runs)}"), cache=cache)

    def adapt() -> float:
        return timed(fingerspell, "adapt", "asl-alphabet", str(person), "--out",
                     str(folder / f"adapted{next(runs)}"), cache=cache)

    def predict() -> float:
        return timed(fingerspell, "predict", "asl-alphabet", str(photos), cache=cache)

    def live() -> float:
        frames = seconds = 0.0
        for clip in clips:
            line = fingerspell("live", "asl-alphabet", "--video", clip, cache=cache).stderr
            found = re.search(r"(\d+) frames in ([\d.]+) s", line)
            frames, seconds = frames + int(found[1]), seconds + float(found[2])
        return frames / seconds

    def serve() -> float:
        photo = webcam_frames(1)[0]
        with serving("asl-alphabet") as (base, _server), httpx.Client(timeout=120) as client:
            client.post(f"{base}/v1/predict", content=photo)  # warm
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda _: client.post(f"{base}/v1/predict", content=photo),
                              range(60)))
            return 60 / (time.perf_counter() - started)

    return {"train (warm cache)": ("s", train), "adapt": ("s", adapt),
            "predict (100 photos)": ("s", predict), "live": ("frames/s", live),
            "serve": ("requests/s", serve)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="now")
    parser.add_argument("--only", default=None, help="comma-separated job names to run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/under_load.json"))
    args = parser.parse_args()
    require_shared()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (unit, job) in jobs(Path(folder), Path(folder) / "cache").items():
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            idle = job()
            with Busy():
                busy = job()
            # the busy/idle ratio: how much longer it takes (or how many fewer per second)
            slowdown = busy / idle if unit == "s" else idle / busy
            rows[name] = {"unit": unit, "idle": round(idle, 2), "one_core_busy": round(busy, 2),
                          "slowdown": round(slowdown, 2)}
            print(f"{name:<22} idle {idle:8.2f} {unit:<11} one core busy {busy:8.2f} "
                  f"{unit:<11} x{slowdown:.2f}", flush=True)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results[args.label] = {"cores": os.cpu_count(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
