"""Build the wheel and sdist with the built-in model complete, and check the wheel from nothing.

Usage:
    python tools/wheel.py build [--hand-model FILE]     # make wheel
    python tools/wheel.py check [--wheel FILE]          # make wheel-check

``build`` copies the source tree (tracked and new files, nothing git ignores) to
``build/wheel-src``, adds what the built-in model needs there and not in the repository (the
MediaPipe hand model, checked against the SHA-256 the model recorded, its model card from
``docs/``, and its backbone as an ONNX graph, ``model.onnx``, so that it answers without
PyTorch), runs ``python -m build`` into ``dist/``, ``twine check``, and verifies the wheel's
contents. ``check`` installs that wheel into a new virtual environment (removed afterwards)
with the project's constraints and, from an empty folder with no repository, no ``../shared``
hand model variable and no network, runs ``fingerspell --version``, ``fingerspell models`` and
``fingerspell predict asl-alphabet`` on shared test photos, checking the letters and that the
prediction did not import PyTorch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "wheel-src"
DIST = ROOT / "dist"
CHECK_VENV = ROOT / "build" / "wheel-venv"
CHECK_FREE_BYTES = 8 * 2**30  # PyTorch's CUDA build and the rest: ~6.7 GB installed
MODEL = "src/fingerspell/models/asl-alphabet"
SHARED = ROOT.parent / "shared"
TEST_PHOTOS = [SHARED / "data" / "asl_alphabet" / "test" / f"{c}_test.jpg" for c in "BCLY"]
# what a wheel must hold, and must not
REQUIRED = ("fingerspell/models/asl-alphabet/config.json",
            "fingerspell/models/asl-alphabet/model.safetensors",
            "fingerspell/models/asl-alphabet/hand_landmarker.task",
            "fingerspell/models/asl-alphabet/model-card.md",
            "fingerspell/models/asl-alphabet/model.onnx",
            "fingerspell/serve/static/index.html",
            "fingerspell/web/index.html", "fingerspell/web/package-lock.json")
FORBIDDEN = ("tests/", "runs/", "benchmarks/", ".venv/", "__pycache__/")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*command: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(map(str, command))}\n"
                 f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def build(hand_model: Path) -> Path:
    config = json.loads((ROOT / MODEL / "config.json").read_text())
    recorded = config["features"]["hand_model_sha256"]
    if not hand_model.is_file():
        sys.exit(f"{hand_model}: hand model not found; pass --hand-model (HAND_MODEL=) the "
                 f"hand_landmarker.task the built-in model was trained with")
    if sha256(hand_model) != recorded:
        sys.exit(f"{hand_model}: not the hand model asl-alphabet was trained with "
                 f"(sha256 {recorded[:12]}…)")
    shutil.rmtree(STAGE, ignore_errors=True)
    files = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (STAGE / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, STAGE / name)
    shutil.copyfile(hand_model, STAGE / MODEL / "hand_landmarker.task")
    shutil.copyfile(ROOT / "docs" / "model-card.md", STAGE / MODEL / "model-card.md")
    with tempfile.TemporaryDirectory() as exported:  # checked against PyTorch by the export
        run(sys.executable, "-m", "fingerspell", "export", ROOT / MODEL, "--format", "onnx",
            "--out", Path(exported) / "copy", env={**os.environ, "FINGERSPELL_HAND_MODEL":
                                                   str(hand_model)})
        shutil.copyfile(Path(exported) / "copy" / "model.onnx", STAGE / MODEL / "model.onnx")
    DIST.mkdir(exist_ok=True)
    before = set(DIST.iterdir())
    run(sys.executable, "-m", "build", "--outdir", DIST, STAGE)
    made = sorted(set(DIST.iterdir()) - before) or sorted(DIST.iterdir())
    run(sys.executable, "-m", "twine", "check", "--strict", *made)
    wheel = next(p for p in made if p.suffix == ".whl")
    names = zipfile.ZipFile(wheel).namelist()
    missing = [n for n in REQUIRED if n not in names]
    stray = [n for n in names if n.startswith(FORBIDDEN) or "/__pycache__/" in n]
    if missing or stray:
        sys.exit(f"{wheel}: missing {missing}, should not hold {stray[:5]}")
    for path in made:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1e6:.1f} MB")
    return wheel


def check(wheel: Path) -> None:
    shutil.rmtree(CHECK_VENV, ignore_errors=True)
    CHECK_VENV.parent.mkdir(parents=True, exist_ok=True)
    # the new environment holds PyTorch again (several GB): say so before pip fails halfway
    free = shutil.disk_usage(CHECK_VENV.parent).free
    if free < CHECK_FREE_BYTES:
        sys.exit(f"{CHECK_VENV.parent}: {free / 2**30:.1f} GiB free, the wheel check needs "
                 f"{CHECK_FREE_BYTES / 2**30:.0f} GiB for a new environment")
    try:
        check_in_new_environment(wheel)
    finally:
        shutil.rmtree(CHECK_VENV, ignore_errors=True)  # ours, and as big as the project's venv


def check_in_new_environment(wheel: Path) -> None:
    started = time.perf_counter()
    run(sys.executable, "-m", "venv", CHECK_VENV)
    python = CHECK_VENV / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", wheel)
    print(f"installed {wheel.name} into a new environment in {time.perf_counter() - started:.0f} s")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FINGERSPELL_", "PYTHON", "VIRTUAL_ENV"))}
    # offline: any download attempt fails at once
    env.update({"HF_HUB_OFFLINE": "1", "http_proxy": "http://127.0.0.1:9",
                "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""})
    fingerspell = CHECK_VENV / "bin" / "fingerspell"
    with tempfile.TemporaryDirectory() as empty:
        env["HOME"] = empty  # no user cache either: nothing comes from this machine's past
        cwd = Path(empty)
        print(run(fingerspell, "--version", cwd=cwd, env=env).strip())
        listing = run(fingerspell, "models", cwd=cwd, env=env)
        print(listing.rstrip())
        if "asl-alphabet" not in listing:
            sys.exit("fingerspell models does not list asl-alphabet")
        started = time.perf_counter()
        answer = json.loads(run(fingerspell, "predict", "asl-alphabet", *TEST_PHOTOS, "--json",
                                cwd=cwd, env=env))
        seconds = time.perf_counter() - started
        for photo, prediction in zip(TEST_PHOTOS, answer, strict=True):
            expected = photo.name.split("_test")[0]
            print(f"{photo.name}: {prediction['label']} ({prediction['confidence']:.2f})")
            if prediction["label"] != expected:
                sys.exit(f"{photo.name}: the installed built-in model said {prediction['label']}")
        print(f"predict asl-alphabet ({len(TEST_PHOTOS)} photos, from an empty folder): "
              f"{seconds:.1f} s")
        loaded = run(fingerspell.with_name("python"), "-c", WITHOUT_TORCH, TEST_PHOTOS[0],
                     cwd=cwd, env=env).split()
        if loaded != [TEST_PHOTOS[0].name.split("_test")[0], "torch-not-imported"]:
            sys.exit(f"predict asl-alphabet from the wheel: {' '.join(loaded)}")
        print("predict asl-alphabet: answered without importing PyTorch")
        serve_page(fingerspell, cwd, env)
        device_page(fingerspell, cwd, env, wheel)
    print("wheel check passed")


# a prediction in the wheel's environment, then whether PyTorch was imported on the way
WITHOUT_TORCH = """import sys
from fingerspell import Model
print(Model.load("asl-alphabet").predict(sys.argv[1])[0].label)
print("torch-imported" if "torch" in sys.modules else "torch-not-imported")
"""


def device_page(fingerspell: Path, cwd: Path, env: dict, wheel: Path) -> None:
    """``fingerspell export asl-alphabet --format web`` from the wheel: every page file is in
    it (the browser libraries from this machine's install, as offline users point at theirs)."""
    from fingerspell.infer.web_runtime import WEB_RUNTIME_ENV, installed_runtime
    runtime = installed_runtime()
    if runtime is None:
        print("export --format web: not checked (no browser libraries here: make setup)")
        return
    # the graph export needs the onnx extra, as the docs say: installed from the same wheel
    run(fingerspell.with_name("python"), "-m", "pip", "install", "--quiet", "-c",
        ROOT / "constraints.txt", f"{wheel}[onnx]")
    site = cwd / "site"
    run(fingerspell, "export", "asl-alphabet", "--format", "web", "--out", site, cwd=cwd,
        env={**env, WEB_RUNTIME_ENV: str(runtime)})
    missing = [name for name in ("index.html", "page.js", "teach.js", "model.json", "crop.onnx",
                                 "hand_landmarker.task") if not (site / name).is_file()]
    if missing:
        sys.exit(f"export --format web from the wheel: the site lacks {missing}")
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6
    print(f"export --format web: the on-device page from the wheel ({size:.1f} MB)")


def serve_page(fingerspell: Path, cwd: Path, env: dict) -> None:
    """``fingerspell serve`` with no model named: the built-in one, and its web page."""
    import socket
    import urllib.request
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([fingerspell, "serve", "--port", str(port)], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                model = json.loads(opener.open(f"http://127.0.0.1:{port}/v1/model", timeout=5)
                                   .read())
                page = opener.open(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"fingerspell serve did not come up: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if "<html" not in page.lower() or len(model.get("classes", [])) != 29:
        sys.exit(f"fingerspell serve: unexpected page or model ({str(model)[:200]})")
    print(f"serve: the web page and /v1/model ({model['features']} features, 29 classes) "
          f"on port {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("build")
    p.add_argument("--hand-model", type=Path, default=SHARED / "models" / "hand_landmarker.task")
    p = commands.add_parser("check")
    p.add_argument("--wheel", type=Path, default=None, help="default: the newest in dist/")
    args = parser.parse_args()
    if args.command == "build":
        build(args.hand_model)
    else:
        if not all(p.is_file() for p in TEST_PHOTOS):
            sys.exit(f"needs the shared test photos under {SHARED}")
        wheel = args.wheel or max(DIST.glob("fingerspell-*.whl"), key=lambda p: p.stat().st_mtime,
                                  default=None)
        if wheel is None:
            sys.exit("no wheel in dist/: run 'make wheel' first")
        check(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
