"""The browser libraries the on-device page runs on: MediaPipe's hand landmarker for the web
(``@mediapipe/tasks-vision``) and ONNX Runtime Web (``onnxruntime-web``), at the versions
pinned by ``fingerspell/web/package.json`` and its lock file.

They come from npm, not from PyPI, so a wheel does not carry them (~30 MB of WebAssembly).
``web_runtime()`` finds an installed copy, in this order: ``$FINGERSPELL_WEB_RUNTIME`` (a
``node_modules`` folder), then ``<cache>/web-runtime/node_modules`` when it was installed from
this fingerspell's lock file; else it installs them there with ``npm ci`` (the registry, once;
``make setup`` does it for a source checkout). The exported site then needs nothing online.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import FingerspellError

WEB_RUNTIME_ENV = "FINGERSPELL_WEB_RUNTIME"
MANIFEST = "package.json"
LOCK = "package-lock.json"
INSTALL_SECONDS = 300  # npm ci of the two packages takes ~5 s on a fast line
# offline, npm's own retries would take minutes to give up: one retry, 30 s per request
NPM_OPTIONS = ("--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error",
               "--fetch-retries=1", "--fetch-timeout=30000")


@dataclass(frozen=True)
class RuntimeFile:
    """A file of an npm package that the exported site needs, and where it goes in the site."""

    package: str
    path: str
    site_path: str


# MediaPipe: the ES module and its SIMD WebAssembly (every current browser has SIMD; the
# package's no-SIMD build would add 12 MB for browsers from before 2021-2023).
# ONNX Runtime: the WebAssembly-only build (no WebGL/WebGPU: one small graph per frame).
RUNTIME_FILES = (
    RuntimeFile("@mediapipe/tasks-vision", "vision_bundle.mjs", "vendor/tasks-vision/vision_bundle.mjs"),
    RuntimeFile("@mediapipe/tasks-vision", "wasm/vision_wasm_internal.js",
                "vendor/tasks-vision/wasm/vision_wasm_internal.js"),
    RuntimeFile("@mediapipe/tasks-vision", "wasm/vision_wasm_internal.wasm",
                "vendor/tasks-vision/wasm/vision_wasm_internal.wasm"),
    RuntimeFile("onnxruntime-web", "dist/ort.wasm.min.mjs", "vendor/onnxruntime-web/ort.wasm.min.mjs"),
    RuntimeFile("onnxruntime-web", "dist/ort-wasm-simd-threaded.mjs",
                "vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs"),
    RuntimeFile("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm",
                "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"),
)


def web_asset(name: str) -> Path:
    """A file of the browser's code shipped with the package (``fingerspell/web/``)."""
    path = Path(str(resources.files("fingerspell") / "web" / name))
    if not path.is_file():
        raise FingerspellError(f"{path}: missing from this installation")
    return path


def _complete(node_modules: Path) -> bool:
    return all((node_modules / f.package / f.path).is_file() for f in RUNTIME_FILES)


def web_runtime(cache_root: Path | None = None, *, install: bool = True) -> Path:
    """A ``node_modules`` folder holding the pinned browser libraries (see the module's text);
    installs them into the cache with ``npm ci`` when none is found and ``install``."""
    explicit = os.environ.get(WEB_RUNTIME_ENV)
    if explicit:
        folder = Path(explicit)
        if not _complete(folder):
            raise FingerspellError(f"{folder} (${WEB_RUNTIME_ENV}): not a node_modules folder with "
                                   f"@mediapipe/tasks-vision and onnxruntime-web")
        return folder
    found = installed_runtime(cache_root)
    if found is not None:
        return found
    home = _home(cache_root)
    if not install:
        raise FingerspellError(f"{home}: the on-device page's browser libraries are not installed")
    return _npm_install(home)


def _home(cache_root: Path | None) -> Path:
    if cache_root is None:
        from ..features.cache import default_cache_dir
        cache_root = default_cache_dir()
    return cache_root / "web-runtime"


def installed_runtime(cache_root: Path | None = None) -> Path | None:
    """The cache's ``node_modules``, if installed from this fingerspell's lock file."""
    home = _home(cache_root)
    if _complete(home / "node_modules") and (home / LOCK).is_file() \
            and filecmp.cmp(home / LOCK, web_asset(LOCK), shallow=False):
        return home / "node_modules"
    return None


def _npm_install(home: Path) -> Path:
    """``npm ci`` from the shipped manifest and lock into a new folder beside ``home``, then
    moved into place: an interrupted install never looks complete."""
    npm = shutil.which("npm")
    if npm is None:
        raise FingerspellError(
            "the on-device page needs @mediapipe/tasks-vision and onnxruntime-web from npm: "
            f"install Node.js (its npm), or set ${WEB_RUNTIME_ENV} to a node_modules folder "
            f"holding them (versions: {web_asset(MANIFEST)})")
    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".web-runtime-", dir=home.parent))
    try:
        for name in (MANIFEST, LOCK):
            shutil.copyfile(web_asset(name), work / name)
        try:
            done = subprocess.run([npm, "ci", *NPM_OPTIONS], cwd=work, capture_output=True,
                                  text=True, timeout=INSTALL_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise FingerspellError(f"npm ci in {work}: no answer in {INSTALL_SECONDS} s "
                                   f"(offline? set ${WEB_RUNTIME_ENV})") from None
        if done.returncode != 0 or not _complete(work / "node_modules"):
            reason = " ".join((done.stderr or done.stdout).split())[:200]
            raise FingerspellError(f"npm ci failed ({reason or f'exit {done.returncode}'}); "
                                   f"offline? set ${WEB_RUNTIME_ENV} to a node_modules folder")
        if home.exists():
            shutil.rmtree(home)  # an older lock's install, made by this function
        work.rename(home)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return home / "node_modules"
