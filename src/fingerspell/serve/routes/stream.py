"""``WS /v1/stream``: camera frames in, each frame's prediction and the spelled text out."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ...live.stream import LiveSession
from ..state import ServerState, prediction_json
from ..uploads import BadInput

log = logging.getLogger("fingerspell.serve")

router = APIRouter()


@router.websocket("/v1/stream")
async def stream(socket: WebSocket) -> None:
    state: ServerState = socket.app.state.server
    limits = state.limits
    await socket.accept()
    if state.active_streams >= limits.max_streams:
        await socket.send_json({"error": f"too many streams: {limits.max_streams} are open; "
                                         f"try again later"})
        await socket.close(code=1013)
        return
    state.active_streams += 1  # taken here, given back in the finally whatever happens
    session = None
    try:
        session = await asyncio.to_thread(LiveSession, state.model, state.decoder_settings)
        started = time.monotonic()
        while True:
            try:
                message = await asyncio.wait_for(socket.receive(), limits.stream_idle_seconds)
            except asyncio.TimeoutError:
                await socket.send_json({"error": f"no frame for {limits.stream_idle_seconds:g} "
                                                 f"s: stream closed"})
                await socket.close(code=1001)
                break
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                if _command(message["text"]) == "clear":
                    session.decoder.reset()
                    await socket.send_json({"text": "", "events": [], "cleared": True})
                else:
                    await socket.send_json({"error": "unknown message; send image bytes or "
                                                     '{"command": "clear"}'})
                continue
            try:
                image = await state.decode(message.get("bytes") or b"")
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
        state.active_streams -= 1
        if session is not None:
            await asyncio.to_thread(session.close)


def _command(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: '[' nested 100,000 deep
        return None
    return data.get("command") if isinstance(data, dict) else None
