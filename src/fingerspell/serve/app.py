"""The HTTP API and the web page.

- ``POST /v1/predict``: one image (multipart upload or the raw bytes) -> letter, confidence,
  top-k, route, hand box and landmarks. Over ``max_upload_bytes`` or ``max_pixels``: 413; not
  an image: 415; a malformed multipart body: 400; ``top_k`` outside 1..classes: 422.
- ``WS /v1/stream``: the browser sends frames (JPEG/PNG bytes, same limits as uploads), the
  server answers each with the frame's prediction and the decoder's text; the text message
  ``{"command": "clear"}`` starts over. At most ``max_streams`` at once: the next is told so and
  closed (code 1013); a stream silent for ``stream_idle_seconds`` is closed (code 1001).
- Teach mode (with ``profiles``): ``GET /v1/profiles/{name}`` (examples per letter),
  ``POST /v1/profiles/{name}/examples?label=L`` (one frame, the same limits as ``/v1/predict``;
  kept only with a hand in view; answers the letter the serving model reads in it; 409 over
  the counts), ``POST /v1/profiles/{name}/adapt`` (one
  at a time per profile; the API and streams then answer with the adapted model).
  ``DELETE /v1/profiles/{name}`` forgets a profile (refused while it adapts).
- ``GET /healthz`` (503 when a test image gets no answer), ``GET /v1/model``, OpenAPI docs at
  ``/docs``; ``/`` is the web page.

Every request passes the Host/Origin guard (guard.py). Images are decoded in worker threads,
at most ``decode_slots`` at a time, never on the event loop; every refusal is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image

from .._version import __version__
from ..infer.model import Model, Prediction
from ..live.decoder import DecoderSettings
from ..live.stream import LiveSession
from .detectors import DetectorPool
from .guard import GuardMiddleware, HostPolicy
from .profiles import Profiles
from .uploads import DEFAULT_MAX_PIXELS, BadInput, decode_image

DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024
DEFAULT_MAX_STREAMS = 4
# frames a stream's socket may hold unread while one is being answered: a client that sends
# faster than the server answers is slowed by TCP instead of parking frames in memory (uvicorn
# before 0.35 reads WebSockets with the `websockets` library's protocol, which queues 32
# messages, 32 x the upload limit, by default; the sans-I/O protocol of later releases stops
# reading after each message until the app takes it)
STREAM_QUEUE_FRAMES = 2
DEFAULT_STREAM_IDLE_SECONDS = 30.0
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file

log = logging.getLogger("fingerspell.serve")


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    out = prediction.to_dict()
    out.pop("path", None)
    return out


def public_validation(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The model's validation figures without local paths (folder names only)."""
    if not info:
        return None
    return {**info, "data": [Path(str(p)).name for p in info.get("data", [])]}


def create_app(model: Model, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_streams: int = DEFAULT_MAX_STREAMS,
               stream_idle_seconds: float = DEFAULT_STREAM_IDLE_SECONDS,
               decode_slots: int | None = None, bind: str = "127.0.0.1",
               allow_origins: Iterable[str] = (),
               decoder_settings: DecoderSettings | None = None,
               profiles: Profiles | None = None, profile: str | None = None) -> FastAPI:
    """A FastAPI application serving ``model`` (``bind``: the address it listens on, for the
    Host check; ``allow_origins``: extra web origins that may call it; ``profiles``: Teach
    mode's store, ``profile``: the name of the profile ``model`` was adapted to, if any)."""
    slots = decode_slots or max(1, os.cpu_count() or 1)
    detectors = DetectorPool(model, size=slots)  # single-image requests, one each at a time
    state = Serving(model, profile)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        detectors.close()

    app = FastAPI(title="fingerspell", version=__version__, lifespan=lifespan,
                  description="Recognise ASL fingerspelling from images and camera streams.")
    app.add_middleware(GuardMiddleware, policy=HostPolicy(bind=bind, allow_origins=allow_origins))
    static = Path(str(resources.files("fingerspell.serve") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
    decodes = asyncio.Semaphore(slots)
    streams = {"active": 0}

    async def decode(data: bytes) -> Any:
        if len(data) > max_upload_bytes:
            raise BadInput(413, f"upload over {max_upload_bytes} bytes")
        async with decodes:  # bounded: a burst of big images cannot take every core and GB
            return await asyncio.to_thread(decode_image, data, max_pixels=max_pixels)

    @app.exception_handler(BadInput)
    async def _bad_input(request: Request, exc: BadInput) -> JSONResponse:
        client = request.client.host if request.client else "?"
        log.warning("%d %s from %s: %s", exc.status, request.url.path, client, exc)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        client = request.client.host if request.client else "?"
        log.warning("422 %s from %s: %s", request.url.path, client,
                    "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static / "index.html")

    health = app.state.health = HealthCheck(lambda: probe(state.model, detectors))

    @app.get("/healthz", responses={503: {"description": "the model or detector cannot answer"}})
    async def healthz() -> JSONResponse:
        """Whether the server can still answer: a small image through a pooled hand detector
        and the model now serving (checked at most every few seconds)."""
        problem = await health.problem()
        if problem:
            return JSONResponse({"status": "failing", "detail": problem}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/v1/model")
    async def model_info() -> dict[str, Any]:
        model = state.model
        return {"classes": model.classes, "features": model.features_mode,
                "profile": state.profile, "teach": profiles is not None,
                "backbone": model.backbone.spec.name, "runtime": model.runtime,
                "fingerspell_version": __version__, "threads": torch.get_num_threads(),
                "validation": public_validation(model.info.get("validation")),
                "limits": {"max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels,
                           "max_streams": max_streams,
                           "stream_idle_seconds": stream_idle_seconds}}

    # a default value, not an annotation: annotations are strings here (future import)
    top_k_query = Query(5, ge=1, le=len(model.classes), description="how many letters to list")

    @app.post("/v1/predict", responses={400: {"description": "malformed multipart body"},
                                        413: {"description": "upload or image too large"},
                                        415: {"description": "not an image"}})
    async def predict(request: Request, top_k: int = top_k_query) -> dict[str, Any]:
        """One image: multipart form (any file field) or the raw bytes as the body."""
        image = await decode(await read_upload(request))

        def run() -> Prediction:
            with detectors.lease() as detector:
                return state.model.predict_images([image], detector=detector,
                                                  top_k=top_k, names=["upload"])[0]

        return prediction_json(await asyncio.to_thread(run))

    async def read_upload(request: Request) -> bytes:
        """The uploaded image's bytes (multipart or raw body), refused over the byte limit
        before it is all read."""
        limit = max_upload_bytes + MULTIPART_OVERHEAD
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise BadInput(413, f"upload over {max_upload_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BadInput(413, f"upload over {max_upload_bytes} bytes")
        data = bytes(body)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            data = await _multipart_file(request.headers["content-type"], data)
        return data

    if profiles is not None:
        @app.get("/v1/profiles/{name}")
        async def profile(name: str) -> dict[str, Any]:
            return {**profiles.describe(name), "serving": state.profile == name}

        @app.post("/v1/profiles/{name}/examples",
                  responses={409: {"description": "the profile or letter is full"},
                             413: {"description": "upload or image too large"},
                             415: {"description": "not an image"},
                             422: {"description": "bad profile name or unknown letter"}})
        async def add_example(name: str, request: Request,
                              label: str = Query(..., max_length=16)) -> dict[str, Any]:
            """One captured frame for ``label``; kept only if a hand is in view. ``read`` is
            what the model serving now makes of it (the page's check: which letters it gets
            wrong for this hand)."""
            profiles.folder(name)
            profiles.letter(label)  # both checked before the body is read
            image = await decode(await read_upload(request))

            def run() -> dict[str, Any]:
                with detectors.lease() as detector:
                    seen = state.model.predict_images([image], detector=detector,
                                                      top_k=1, names=["capture"])[0]
                if detectors.uses_hands and seen.hand is None:
                    return {"saved": False, "hand": False, "examples": profiles.examples(name)}
                read = {"label": seen.label, "confidence": seen.confidence,
                        "unsure": seen.unsure}
                return {"saved": True, "hand": detectors.uses_hands, "read": read,
                        "examples": profiles.add(name, label, image)}

            return await asyncio.to_thread(run)

        @app.post("/v1/profiles/{name}/adapt",
                  responses={409: {"description": "no examples, or already adapting"}})
        async def adapt_profile(name: str) -> dict[str, Any]:
            """Adapt the base model to the profile's examples; the API and every stream then
            use the adapted model."""
            result = await asyncio.to_thread(profiles.adapt, name)
            state.model, state.profile = result.model, name
            log.info("profile %s adapted (%s examples); now serving it", name,
                     sum(result.examples.values()))
            return {"profile": name, **result.to_dict()}

        @app.delete("/v1/profiles/{name}",
                    responses={404: {"description": "no such profile"},
                               409: {"description": "the profile is being adapted"}})
        async def delete_profile(name: str) -> dict[str, Any]:
            """Forget a profile: its examples and adapted model (the files Teach wrote). If it
            was being served, the base model answers again."""
            kept = await asyncio.to_thread(profiles.delete, name)
            if state.profile == name:
                state.model, state.profile = profiles.base, None
            log.info("profile %s deleted%s", name, f" (left alone: {kept})" if kept else "")
            return {"profile": name, "deleted": True, "kept": kept}

    @app.websocket("/v1/stream")
    async def stream(socket: WebSocket) -> None:
        await socket.accept()
        if streams["active"] >= max_streams:
            await socket.send_json({"error": f"too many streams: {max_streams} are open; "
                                             f"try again later"})
            await socket.close(code=1013)
            return
        streams["active"] += 1  # taken here, given back in the finally whatever happens
        session = None
        try:
            session = await asyncio.to_thread(LiveSession, state.model, decoder_settings)
            started = time.monotonic()
            while True:
                try:
                    message = await asyncio.wait_for(socket.receive(), stream_idle_seconds)
                except asyncio.TimeoutError:
                    await socket.send_json({"error": f"no frame for {stream_idle_seconds:g} s: "
                                                     f"stream closed"})
                    await socket.close(code=1001)
                    break
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is not None:
                    command = _command(message["text"])
                    if command == "clear":
                        session.decoder.reset()
                        await socket.send_json({"text": "", "events": [], "cleared": True})
                    else:
                        await socket.send_json({"error": "unknown message; send image bytes or "
                                                         '{"command": "clear"}'})
                    continue
                try:
                    image = await decode(message.get("bytes") or b"")
                except BadInput as exc:  # a bad frame is answered, never fatal
                    log.warning("%d /v1/stream frame: %s", exc.status, exc)
                    await socket.send_json({"error": f"bad frame: {exc}", "text": session.text})
                    continue
                t = time.monotonic() - started
                session.model = state.model  # a profile adapted meanwhile takes over at once
                result = await asyncio.to_thread(session.process, t, image)
                await socket.send_json({"t": round(t, 3), **prediction_json(result.prediction),
                                        "text": result.text, "motion": result.motion,
                                        "events": [e.to_dict() for e in result.events]})
        except WebSocketDisconnect:
            pass
        finally:
            streams["active"] -= 1
            if session is not None:
                await asyncio.to_thread(session.close)

    return app


@dataclass
class Serving:
    """What the server answers with now: Teach mode's Adapt swaps in the adapted model."""

    model: Model
    profile: str | None = None


def probe(model: Model, detectors: DetectorPool) -> None:
    """Raise if ``model`` cannot answer a small image through one of ``detectors``."""
    image = Image.new("RGB", (64, 64), (128, 128, 128))
    with detectors.lease() as detector:
        answer = model.predict_images([image], detector=detector, top_k=1, names=["probe"])[0]
    if not 0.0 <= answer.confidence <= 1.0:  # NaN fails both comparisons
        raise RuntimeError(f"the model answers confidence {answer.confidence}")


class HealthCheck:
    """``/healthz``'s answer: ``check`` run in a worker thread with a time limit, its result
    kept for ``max_age`` seconds so that polling costs no detection per request."""

    def __init__(self, check: Callable[[], None], *, max_age: float = 5.0,
                 timeout: float = 10.0) -> None:
        self.check, self.max_age, self.timeout = check, max_age, timeout
        self._checked = -float("inf")
        self._problem: str | None = None
        self._running: asyncio.Lock | None = None

    async def problem(self) -> str | None:
        self._running = self._running or asyncio.Lock()
        async with self._running:  # one check at a time; the others read its result
            if time.monotonic() - self._checked > self.max_age:
                try:
                    await asyncio.wait_for(asyncio.to_thread(self.check), self.timeout)
                    self._problem = None
                except asyncio.TimeoutError:
                    self._problem = f"no answer to a test image within {self.timeout:g} s"
                except Exception as exc:  # noqa: BLE001 - whatever broke, the check says so
                    self._problem = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                if self._problem:
                    log.error("health check failed: %s", self._problem)
                self._checked = time.monotonic()
            return self._problem


def _command(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: '[' nested 100,000 deep
        return None
    return data.get("command") if isinstance(data, dict) else None


async def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The first file of a multipart form (python-multipart through Starlette)."""
    from starlette.datastructures import Headers, UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def chunks() -> AsyncIterator[bytes]:
        yield body
        yield b""

    parser = MultiPartParser(Headers({"content-type": content_type}), chunks())
    try:
        form = await parser.parse()
    except (MultiPartException, ValueError, KeyError) as exc:
        raise BadInput(400, f"malformed multipart body ({exc})") from None
    for value in form.values():
        if isinstance(value, UploadFile):
            return await value.read()
    raise BadInput(415, "multipart form without a file")
