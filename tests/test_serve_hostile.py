"""The server under hostile input, served for real by uvicorn on 127.0.0.1: decompression
bombs, malformed bodies, foreign origins and hosts, idle streams. Every refusal is a 4xx with a
reason (never a 500), is logged, and leaves the server serving."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .hostile_inputs import jpeg_declaring, png_declaring, tiff_declaring
from .test_serve import server, server_log  # noqa: F401 (the module's running server)


@pytest.mark.parametrize(("case", "body"), [
    ("png 9990x9990", png_declaring(9990, 9990)),
    ("png 20000x20000", png_declaring(20000, 20000)),
    ("tiff 100000x100000", tiff_declaring(100_000, 100_000)),
    ("jpeg 65500x65500", jpeg_declaring(65500, 65500)),
])
def test_bombs_are_refused_before_decoding(server: str, server_log: Path, case: str,  # noqa: F811
                                           body: bytes) -> None:
    assert len(body) < 200_000
    response = httpx.post(f"{server}/v1/predict", content=body, timeout=60)
    assert response.status_code == 413, (case, response.status_code, response.text)
    assert "too large" in response.json()["detail"]
    assert httpx.get(f"{server}/healthz").status_code == 200
    assert "413 /v1/predict" in server_log.read_text()  # refusals are logged


@pytest.mark.parametrize("content_type", [
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",  # no boundary at all
])
def test_malformed_multipart_is_a_client_error(server: str, content_type: str) -> None:  # noqa: F811
    response = httpx.post(f"{server}/v1/predict", content=b"--xyz\r\nnot a form part\r\n",
                          headers={"content-type": content_type})
    assert response.status_code in (400, 415), response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("top_k", [0, -1, 6, 1000])
def test_top_k_outside_the_classes_is_422(server: str, shared_train: Path, top_k: int) -> None:  # noqa: F811
    photo = (shared_train / "A" / "A1200.jpg").read_bytes()
    response = httpx.post(f"{server}/v1/predict?top_k={top_k}", content=photo)
    assert response.status_code == 422, response.text


def test_model_info_reveals_no_local_paths(server: str, mode_runs: dict[str, Path]) -> None:  # noqa: F811
    text = httpx.get(f"{server}/v1/model").text
    info = json.loads(text)
    assert info["validation"]["data"] and all("/" not in d for d in info["validation"]["data"])
    assert str(mode_runs["fusion"].parent) not in text and "/tmp" not in text
    assert info["limits"]["max_pixels"] == 4096 * 4096


def test_foreign_host_and_origin_are_refused(server: str) -> None:  # noqa: F811
    port = server.rsplit(":", 1)[1]
    assert httpx.get(f"{server}/v1/model", headers={"host": "evil.example"}).status_code == 403
    assert httpx.get(f"{server}/v1/model", headers={"host": f"localhost:{port}"}).status_code == 200
    posted = httpx.post(f"{server}/v1/predict", content=b"x",
                        headers={"origin": "https://evil.example"})
    assert posted.status_code == 403
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    url = server.replace("http", "ws") + "/v1/stream"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="https://evil.example", open_timeout=30)
    assert refused.value.response.status_code == 403
    for allowed in (server, "https://app.example"):  # its own page, and --allow-origin
        with connect(url, origin=allowed, open_timeout=30) as ws:
            ws.send("{}")
            assert "unknown message" in json.loads(ws.recv(timeout=30))["error"]


def test_stream_limits(server: str) -> None:  # noqa: F811
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    url = server.replace("http", "ws") + "/v1/stream"
    with connect(url, open_timeout=30, max_size=None) as ws:  # a bomb frame is answered
        ws.send(png_declaring(9990, 9990))
        assert "too large" in json.loads(ws.recv(timeout=30))["error"]
    with connect(url, open_timeout=30) as ws:  # over --max-upload-mb 1: closed by the protocol
        ws.send(b"\xff" * (1024 * 1024 + 4096))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    # an idle stream is closed after --stream-idle-seconds (4), and its slot is free again
    with open_stream(url) as (ws, started):
        assert "no frame for 4 s" in json.loads(ws.recv(timeout=30))["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert time.monotonic() - started >= 3.5
    with open_stream(url) as (ws, _):  # --max-streams 1: the slot came back
        ws.send("{}")
        assert "unknown message" in json.loads(ws.recv(timeout=30))["error"]


@contextlib.contextmanager
def open_stream(url: str, within: float = 15.0) -> Iterator[tuple[Any, float]]:
    """A stream (and when it opened), once the server has given back the slot of the one closed
    just before: the client sees a close a moment before the server's handler is done with it."""
    from websockets.sync.client import connect
    deadline = time.monotonic() + within
    while True:
        started = time.monotonic()
        with connect(url, open_timeout=30) as ws:
            try:
                first = json.loads(ws.recv(timeout=1))
            except TimeoutError:  # nothing said at once: the stream is open
                yield ws, started
                return
            if "too many streams" not in first.get("error", "") or time.monotonic() > deadline:
                raise AssertionError(f"unexpected first message {first}")
        time.sleep(0.2)


def test_serve_bounds_the_bytes_a_stream_may_park(tiny_model: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` hands uvicorn the WebSocket limits: a message over the upload limit is refused
    by the protocol, and a client that sends frames faster than they are answered may leave
    STREAM_QUEUE_FRAMES unread (uvicorn's `websockets` protocol queues 32 by default: 160 MB
    at the default upload limit)."""
    import uvicorn

    from fingerspell.cli import main
    from fingerspell.serve.app import STREAM_QUEUE_FRAMES
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **settings: started.update(settings))
    assert main(["serve", str(tiny_model), "--profiles", str(tmp_path / "profiles"),
                 "--max-upload-mb", "1"]) == 0
    assert started["ws_max_size"] == 1024 * 1024 + 1024
    assert started["ws_max_queue"] == STREAM_QUEUE_FRAMES <= 4
