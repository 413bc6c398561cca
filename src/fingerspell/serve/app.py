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
  ``/docs``; ``/`` is the web page (frames go to ``/v1/stream``). With ``device_page`` (the
  model's exported site, ``infer/web.cached_site``), ``/device/`` is the on-device page, and
  ``/`` sends a browser that can run it there (``/?server`` stays).

Every request passes the Host/Origin guard (guard.py). Images are decoded in worker threads,
at most ``decode_slots`` at a time, never on the event loop; every refusal is logged.

This module assembles the application: the state (state.py), the guard, the static page, the
error handlers and the routers (routes/: api, teach, stream). A new endpoint goes into a router
and reads ``ServerState`` through the ``server_state`` dependency.
"""


from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..infer.model import Model
from ..live.decoder import DecoderSettings
from .detectors import DetectorPool
from .guard import GuardMiddleware, HostPolicy
from .profiles import Profiles
from .routes import api, stream, teach
from .state import Limits, ServerState
from .uploads import BadInput

# frames a stream's socket may hold unread while one is being answered: a client that sends
# faster than the server answers is slowed by TCP instead of parking frames in memory (uvicorn
# before 0.35 reads WebSockets with the `websockets` library's protocol, which queues 32
# messages, 32 x the upload limit, by default; the sans-I/O protocol of later releases stops
# reading after each message until the app takes it)
STREAM_QUEUE_FRAMES = 2
DEVICE_PATH = "/device/"  # where the on-device page is served

log = logging.getLogger("fingerspell.serve")


def create_app(model: Model, *, limits: Limits | None = None, decode_slots: int | None = None,
               bind: str = "127.0.0.1", allow_origins: Iterable[str] = (),
               decoder_settings: DecoderSettings | None = None,
               profiles: Profiles | None = None, profile: str | None = None,
               device_page: Path | None = None) -> FastAPI:
    """A FastAPI application serving ``model`` (``limits``: the bounds on uploads, pixels and
    streams; ``bind``: the address it listens on, for the Host check; ``allow_origins``: extra
    web origins that may call it; ``profiles``: Teach mode's store, ``profile``: the name of the
    profile ``model`` was adapted to, if any; ``device_page``: a folder exported by
    ``export --format web`` to serve at ``/device/``)."""
    slots = decode_slots or max(1, os.cpu_count() or 1)
    state = ServerState(model, DetectorPool(model, size=slots), limits or Limits(), slots,
                        profiles=profiles, profile=profile, decoder_settings=decoder_settings,
                        device_page=DEVICE_PATH if device_page is not None else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.detectors.close()

    app = FastAPI(title="fingerspell", version=__version__, lifespan=lifespan,
                  description="Recognise ASL fingerspelling from images and camera streams.")
    app.state.server = state
    app.state.health = state.health
    app.add_middleware(GuardMiddleware, policy=HostPolicy(bind=bind, allow_origins=allow_origins))
    app.mount("/static", StaticFiles(directory=api.STATIC), name="static")
    if device_page is not None:
        app.mount(DEVICE_PATH.rstrip("/"), StaticFiles(directory=device_page, html=True),
                  name="device")
    app.add_exception_handler(BadInput, _bad_input)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(api.router)
    if profiles is not None:
        app.include_router(teach.router)
    app.include_router(stream.router)
    return app


async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadInput)
    client = request.client.host if request.client else "?"
    log.warning("%d %s from %s: %s", exc.status, request.url.path, client, exc)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    client = request.client.host if request.client else "?"
    log.warning("422 %s from %s: %s", request.url.path, client,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
