"""How long the command line takes to start, and to answer its first prediction.

Usage: python benchmarks/startup.py [--runs 5] [--model MODEL]
                                    [--out benchmarks/results/startup.json]

Times, as a user meets them (a new process each run, the median of ``--runs``, with each
process's peak memory): ``fingerspell --help``, ``fingerspell --version``,
``python -c "import fingerspell"`` (and whether that imported PyTorch), and
``fingerspell predict MODEL photo`` end to end: start, load the model, detect the hand, one
prediction (and whether that imported PyTorch: it should not, when the model has an ONNX graph
of its backbone — the wheel's built-in ships one; in a source checkout the cache's graph of the
same weights serves, written by any extraction). ``--model`` defaults to the built-in
``asl-alphabet`` (in a source checkout its hand model comes from ../shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import HAND_MODEL, KAGGLE, require_shared

BIN = Path(sys.executable).parent


def timed(command: list[str], runs: int) -> dict[str, float]:
    seconds, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        seconds.append(time.perf_counter() - started)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            sys.exit(f"failed ({process.returncode}): {' '.join(command)}")
        peaks.append(usage.ru_maxrss / 1024)  # kB on Linux
    return {"median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3), "peak_rss_mb": round(max(peaks)), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="asl-alphabet")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/startup.json"))
    args = parser.parse_args()
    require_shared()
    fingerspell = str(BIN / "fingerspell")
    photo = str(KAGGLE / "B" / "B1200.jpg")
    heavy = subprocess.run([sys.executable, "-c", "import sys, fingerspell; print(sorted(m for m "
                            "in ('torch', 'timm', 'matplotlib', 'mediapipe') if m in sys.modules))"],
                           check=True, capture_output=True, text=True).stdout.strip()
    rows = {"fingerspell --help": timed([fingerspell, "--help"], args.runs),
            "fingerspell --version": timed([fingerspell, "--version"], args.runs),
            "import fingerspell": timed([sys.executable, "-c", "import fingerspell"], args.runs)}
    os.environ.setdefault("FINGERSPELL_HAND_MODEL", str(HAND_MODEL))
    rows[f"fingerspell predict {args.model} (first prediction)"] = timed(
        [fingerspell, "predict", args.model, photo], args.runs)
    predict_imports = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom fingerspell.cli import main\n"
         f"main(['predict', {args.model!r}, {photo!r}])\n"
         "print(sorted(m for m in ('torch', 'timm', 'matplotlib') if m in sys.modules))"],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    for name, row in rows.items():
        print(f"{name:<52}{row['median_s']:>8.3f} s  (min {row['min_s']:.3f}, max "
              f"{row['max_s']:.3f}; peak {row['peak_rss_mb']} MB)")
    print(f"modules imported by 'import fingerspell': {heavy}")
    print(f"modules imported by 'fingerspell predict': {predict_imports}")
    result = {"rows": rows, "model": args.model,
              "heavy_modules_on_import": json.loads(heavy.replace("'", '"')),
              "heavy_modules_on_predict": json.loads(predict_imports.replace("'", '"')),
              "python": sys.version.split()[0], "cores": 2}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
