"""The HTTP API and the web page.

- ``POST /v1/predict``: one image (multipart upload or the raw bytes) -> letter, confidence,
  top-k, route, hand box and landmarks. Over ``max_upload_bytes``: 413; not an image: 415.
- ``WS /v1/stream``: the browser sends frames (JPEG/PNG bytes), the server answers each with the
  frame's prediction and the decoder's text; the text message ``{"command": "clear"}`` starts
  over. At most ``max_streams`` at once: the next is told so and closed (code 1013).
- ``GET /healthz``, ``GET /v1/model``, OpenAPI docs at ``/docs``; ``/`` is the web page.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError

from .._version import __version__
from ..data.images import MAX_PIXELS, MIN_SIDE, to_rgb
from ..infer.model import Model, Prediction
from ..live.decoder import DecoderSettings
from ..live.stream import LiveSession

DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024
DEFAULT_MAX_STREAMS = 4


class BadImage(ValueError):
    """Bytes that are not a usable image (HTTP 415)."""


def decode_image(data: bytes) -> Image.Image:
    """RGB image from uploaded bytes, or BadImage saying why not."""
    if not data:
        raise BadImage("empty body: send an image (JPEG, PNG, ...)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BadImage(f"image too large ({image.width}x{image.height})")
            image.load()
            rgb = to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, BadImage):
            raise
        raise BadImage("not an image (unrecognised or corrupt data)") from None
    if min(rgb.size) < MIN_SIDE:
        raise BadImage(f"image too small ({rgb.width}x{rgb.height}, minimum {MIN_SIDE}x{MIN_SIDE})")
    return rgb


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    out = prediction.to_dict()
    out.pop("path", None)
    return out


def create_app(model: Model, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               max_streams: int = DEFAULT_MAX_STREAMS,
               decoder_settings: DecoderSettings | None = None) -> FastAPI:
    """A FastAPI application serving ``model``."""
    app = FastAPI(title="fingerspell", version=__version__,
                  description="Recognise ASL fingerspelling from images and camera streams.")
    static = Path(str(resources.files("fingerspell.serve") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
    predict_lock = threading.Lock()  # one shared detector for single-image requests
    shared_detector = model.detector()
    streams = {"active": 0}

    @app.exception_handler(BadImage)
    async def _bad_image(_request: Request, exc: BadImage) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=415)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static / "index.html")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model_info() -> dict[str, Any]:
        return {"classes": model.classes, "features": model.features_mode,
                "backbone": model.backbone.spec.name, "runtime": model.runtime,
                "fingerspell_version": __version__,
                "validation": model.info.get("validation"),
                "limits": {"max_upload_bytes": max_upload_bytes, "max_streams": max_streams}}

    @app.post("/v1/predict", responses={413: {"description": "upload too large"},
                                        415: {"description": "not an image"}})
    async def predict(request: Request, top_k: int = 5) -> dict[str, Any]:
        """One image: multipart form (any file field) or the raw bytes as the body."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_upload_bytes + 64 * 1024:
            raise HTTPException(413, f"upload over {max_upload_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_upload_bytes + 64 * 1024:
                raise HTTPException(413, f"upload over {max_upload_bytes} bytes")
        data = bytes(body)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await _parse_multipart(request.headers["content-type"], data)
            if form is None:
                raise BadImage("multipart form without a file")
            data = form
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"upload over {max_upload_bytes} bytes")
        image = decode_image(data)

        def run() -> Prediction:
            with predict_lock:
                return model.predict_images([image], detector=shared_detector,
                                            top_k=max(1, top_k), names=["upload"])[0]

        return prediction_json(await asyncio.to_thread(run))

    @app.websocket("/v1/stream")
    async def stream(socket: WebSocket) -> None:
        await socket.accept()
        if streams["active"] >= max_streams:
            await socket.send_json({"error": f"too many streams: {max_streams} are open; "
                                             f"try again later"})
            await socket.close(code=1013)
            return
        streams["active"] += 1
        session = await asyncio.to_thread(LiveSession, model, decoder_settings)
        started = time.monotonic()
        try:
            while True:
                message = await socket.receive()
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
                    image = decode_image(message.get("bytes") or b"")
                except BadImage as exc:  # a bad frame is answered, never fatal
                    await socket.send_json({"error": f"bad frame: {exc}", "text": session.text})
                    continue
                t = time.monotonic() - started
                result = await asyncio.to_thread(session.process, t, image)
                await socket.send_json({"t": round(t, 3), **prediction_json(result.prediction),
                                        "text": result.text, "motion": result.motion,
                                        "events": [e.to_dict() for e in result.events]})
        except WebSocketDisconnect:
            pass
        finally:
            streams["active"] -= 1
            await asyncio.to_thread(session.close)

    @app.on_event("shutdown")
    def _close() -> None:
        if shared_detector is not None:
            shared_detector.close()

    return app


def _command(text: str) -> str | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data.get("command") if isinstance(data, dict) else None


async def _parse_multipart(content_type: str, body: bytes) -> bytes | None:
    """The first file of a multipart form (python-multipart through Starlette)."""
    from starlette.datastructures import Headers, UploadFile
    from starlette.formparsers import MultiPartParser

    async def chunks():
        yield body
        yield b""

    parser = MultiPartParser(Headers({"content-type": content_type}), chunks())
    form = await parser.parse()
    for value in form.values():
        if isinstance(value, UploadFile):
            return await value.read()
    return None
