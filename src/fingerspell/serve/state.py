"""What the server holds while it runs, in one typed object that every route reads through a
dependency (``server_state``): the model answering now (Teach mode's Adapt swaps in the adapted
one), the hand detector pool, the limits, the decode slots and the open streams."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from PIL import Image

from ..infer.bundle import Validation
from ..infer.model import Model
from ..infer.prediction import Prediction
from ..live.decoder import DecoderSettings
from .detectors import DetectorPool
from .profiles import Profiles
from .uploads import DEFAULT_MAX_PIXELS, BadInput, decode_image

DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024
DEFAULT_MAX_STREAMS = 4
DEFAULT_STREAM_IDLE_SECONDS = 30.0
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file

log = logging.getLogger("fingerspell.serve")


@dataclass(frozen=True)
class Limits:
    """The bounds every request meets before any work (docs/reference/security.md)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_streams: int = DEFAULT_MAX_STREAMS
    stream_idle_seconds: float = DEFAULT_STREAM_IDLE_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ServerState:
    """One server's state; ``create_app`` makes it, routes read it with ``server_state``."""

    model: Model
    detectors: DetectorPool  # single-image requests, one detector each at a time
    limits: Limits
    decode_slots: int
    profiles: Profiles | None = None
    profile: str | None = None  # the profile ``model`` was adapted to, if any
    decoder_settings: DecoderSettings | None = None
    device_page: str | None = None  # the on-device page's path, when served
    active_streams: int = 0
    health: HealthCheck = field(init=False)
    _decodes: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.health = HealthCheck(lambda: probe(self.model, self.detectors))
        self._decodes = asyncio.Semaphore(self.decode_slots)

    async def decode(self, data: bytes) -> Image.Image:
        """An upload or frame decoded in a worker thread, at most ``decode_slots`` at a time:
        a burst of big images cannot take every core and GB."""
        if len(data) > self.limits.max_upload_bytes:
            raise BadInput(413, f"upload over {self.limits.max_upload_bytes} bytes")
        async with self._decodes:
            return await asyncio.to_thread(decode_image, data, max_pixels=self.limits.max_pixels)

    async def read_upload(self, request: Request) -> bytes:
        """The uploaded image's bytes (multipart or raw body), refused over the byte limit
        before it is all read."""
        allowed = self.limits.max_upload_bytes
        limit = allowed + MULTIPART_OVERHEAD
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise BadInput(413, f"upload over {allowed} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BadInput(413, f"upload over {allowed} bytes")
        data = bytes(body)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            data = await _multipart_file(request.headers["content-type"], data)
        return data

    def predict(self, image: Image.Image, *, top_k: int, name: str) -> Prediction:
        """One image through a pooled detector and the model answering now (worker thread)."""
        with self.detectors.lease() as detector:
            return self.model.predict_images([image], detector=detector, top_k=top_k,
                                             names=[name])[0]


def server_state(request: Request) -> ServerState:
    """The dependency every HTTP route takes its state from."""
    return request.app.state.server


# a route's parameter ``state: State`` is the running server's state
State = Annotated[ServerState, Depends(server_state)]


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    out = prediction.to_dict()
    out.pop("path", None)
    return out


def public_validation(validation: Validation | None) -> dict[str, Any] | None:
    """The model's validation figures without local paths (folder names only)."""
    if validation is None:
        return None
    return {**validation.to_dict(), "data": [Path(str(p)).name for p in validation.data]}


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
