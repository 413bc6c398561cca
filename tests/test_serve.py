"""The HTTP API and the live web page, served for real by uvicorn on 127.0.0.1 and driven by
HTTP clients, a WebSocket client and headless Chromium with a fake camera."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from .browser import fake_camera_page, write_y4m
from .conftest import FINGERSPELL, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, *options: str, log: Path | None = None,
                 device_page: bool = False) -> tuple[subprocess.Popen, str]:
    """``fingerspell serve`` on a free port, once it answers /healthz (``device_page``: also
    build and serve the on-device page, as a plain ``serve`` does)."""
    port = free_port()
    options = options if device_page else (*options, "--no-device-page")
    stderr = log.open("w") if log else subprocess.PIPE
    process = subprocess.Popen([str(FINGERSPELL), "serve", str(model_dir), "--port", str(port),
                                *options], stdout=subprocess.PIPE, stderr=stderr,
                               text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text() if log else process.stderr.read()
            raise AssertionError(f"server exited: {output}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("server did not start in 90 s")


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "server.log"


@pytest.fixture(scope="module")
def server(mode_runs: dict[str, Path], server_log: Path) -> Iterator[str]:
    process, base = start_server(mode_runs["fusion"] / "model", "--max-streams", "1",
                                 "--max-upload-mb", "1", "--stream-idle-seconds", "4",
                                 "--allow-origin", "https://app.example", log=server_log)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_health_model_and_docs(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    info = httpx.get(f"{server}/v1/model").json()
    assert info["classes"] == ["A", "B", "C", "L", "Y"] and info["features"] == "fusion"
    assert info["backbone"] == "efficientnet_lite0" and info["limits"]["max_streams"] == 1
    assert info["device_page"] is None  # --no-device-page: / keeps the streaming page
    assert httpx.get(f"{server}/device/").status_code == 404
    assert "swagger" in httpx.get(f"{server}/docs").text.lower()
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/model", "/healthz"} <= set(paths)
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and 'id="text"' in page.text
    assert httpx.get(f"{server}/static/app.js").status_code == 200


def test_predict_multipart_and_raw_bytes(server: str, shared_train: Path) -> None:
    photo = shared_train / "L" / "L1200.jpg"
    with photo.open("rb") as handle:
        multipart = httpx.post(f"{server}/v1/predict?top_k=3", files={"file": handle})
    raw = httpx.post(f"{server}/v1/predict", content=photo.read_bytes(),
                     headers={"content-type": "image/jpeg"})
    assert multipart.status_code == raw.status_code == 200
    a, b = multipart.json(), raw.json()
    assert a["label"] == b["label"] and len(a["top_k"]) == 3 and len(b["top_k"]) == 5
    assert a["route"] == "hand" and len(a["hand"]["landmarks"]) == 21
    assert all(0 <= v <= 1 for v in a["hand"]["box"])


def test_concurrent_predictions_match_one_at_a_time(server: str, shared_train: Path) -> None:
    """Requests in parallel run on the server's pool of hand detectors: each answer is the one
    the same photo gets alone (no detector serves two requests at once)."""
    photos = [shared_train / letter / f"{letter}1200.jpg" for letter in ("L", "A", "Y", "C")]

    def ask(photo: Path) -> dict[str, Any]:
        reply = httpx.post(f"{server}/v1/predict", content=photo.read_bytes(),
                           headers={"content-type": "image/jpeg"}, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()

    alone = {photo: ask(photo) for photo in photos}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, photos * 4))
    for photo, answer in zip(photos * 4, together, strict=True):
        assert answer["label"] == alone[photo]["label"]
        assert answer["hand"]["landmarks"] == alone[photo]["hand"]["landmarks"]
        assert answer["confidence"] == pytest.approx(alone[photo]["confidence"], abs=1e-5)


@pytest.mark.parametrize("case", ["text", "empty", "truncated", "tiny", "too large"])
def test_predict_errors(server: str, shared_train: Path, tmp_path: Path, case: str) -> None:
    jpeg = (shared_train / "A" / "A1200.jpg").read_bytes()
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    body = {"text": b"hello, not an image", "empty": b"", "truncated": jpeg[:200],
            "tiny": tiny.read_bytes(),
            "too large": np.random.default_rng(0).bytes(2 * 1024 * 1024)}[case]
    response = httpx.post(f"{server}/v1/predict", content=body)
    assert response.status_code == (413 if case == "too large" else 415)
    assert response.json()["detail"]
    assert httpx.get(f"{server}/healthz").status_code == 200  # still serving


def test_stream_spells_and_survives_bad_frames(server: str, shared_train: Path) -> None:
    from websockets.sync.client import connect
    frame = (shared_train / "B" / "B305.jpg").read_bytes()  # a training frame: held steady
    with connect(server.replace("http", "ws") + "/v1/stream") as ws:
        ws.send(b"garbage")
        reply = json.loads(ws.recv(timeout=30))
        assert reply["error"].startswith("bad frame")
        ws.send("not a command")
        assert "unknown message" in json.loads(ws.recv(timeout=30))["error"]
        text = ""
        deadline = time.monotonic() + 60
        while "B" not in text and time.monotonic() < deadline:
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=30))
            text = reply["text"]
            time.sleep(0.05)
        assert text == "B" and reply["label"] == "B" and reply["hand"]["landmarks"]
        # a second stream while this one is open: max-streams is 1
        with connect(server.replace("http", "ws") + "/v1/stream") as second:
            refused = json.loads(second.recv(timeout=30))
            assert "too many streams" in refused["error"]
        ws.send(json.dumps({"command": "clear"}))
        assert json.loads(ws.recv(timeout=30)) == {"text": "", "events": [], "cleared": True}


def test_web_page_spells_a_word_from_the_camera(server: str, shared_train: Path,
                                                tmp_path: Path) -> None:
    """C, A, B held in turn in front of Chromium's fake camera: the page shows CAB."""
    frames = []
    for letter in "CAB":
        photo = Image.open(shared_train / letter / f"{letter}305.jpg").convert("RGB")
        canvas = Image.new("RGB", (640, 480), (90, 90, 90))
        canvas.paste(photo.resize((480, 480)), (80, 0))
        frames += [canvas] * 15  # 1.5 s each at 10 frames/s
    frames += [Image.new("RGB", (640, 480), (90, 90, 90))] * 10  # no hand: a pause
    clip = write_y4m(tmp_path / "cab.y4m", frames)
    reports = REPO / "reports"
    reports.mkdir(exist_ok=True)
    with fake_camera_page(clip, f"{server}/") as page:
        page.wait_for_function("document.getElementById('text').textContent.includes('CAB')",
                               timeout=60_000)
        assert page.locator("#letter").inner_text() in {"A", "B", "C", "L", "Y", "–"}
        page.screenshot(path=str(reports / "live-page.png"))
        page.click("#clear")
        page.wait_for_function("!document.getElementById('text').textContent.includes('CAB')",
                               timeout=10_000)
    assert (reports / "live-page.png").stat().st_size > 10_000


def test_detector_pool_lends_each_detector_to_one_request_at_a_time() -> None:
    """At most ``size`` detectors are made; a request that finds them all lent waits for one;
    closing the pool closes every detector it made."""
    from fingerspell.serve.detectors import DetectorPool

    class StandInDetector:
        closed = False

        def close(self) -> None:
            self.closed = True

    class StandInModel:  # what the pool asks of a model: its mode and a detector
        mode = type("Mode", (), {"needs_hands": True})()
        made: list[StandInDetector] = []  # noqa: RUF012 - one list for the test

        def detector(self) -> StandInDetector:
            self.made.append(StandInDetector())
            return self.made[-1]

    model = StandInModel()
    pool = DetectorPool(model, size=2)
    assert len(model.made) == 1  # the first is made as the server starts
    busy: set[int] = set()
    overlap = []
    lock = threading.Lock()

    def request(_: int) -> None:
        with pool.lease() as detector:
            with lock:
                overlap.append(id(detector) in busy)
                busy.add(id(detector))
            time.sleep(0.05)
            with lock:
                busy.discard(id(detector))

    with ThreadPoolExecutor(6) as threads:
        list(threads.map(request, range(12)))
    assert len(model.made) == 2 and not any(overlap) and len(overlap) == 12
    pool.close()
    assert all(d.closed for d in model.made)
