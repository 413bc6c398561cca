"""``/``, ``/healthz``, ``/v1/model`` and ``/v1/predict``."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ..._version import __version__
from ..state import State, prediction_json, public_validation
from ..uploads import BadInput

STATIC = Path(str(resources.files("fingerspell.serve") / "static"))

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/healthz", responses={503: {"description": "the model or detector cannot answer"}})
async def healthz(state: State) -> JSONResponse:
    """Whether the server can still answer: a small image through a pooled hand detector and
    the model now serving (checked at most every few seconds)."""
    problem = await state.health.problem()
    if problem:
        return JSONResponse({"status": "failing", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/v1/model")
async def model_info(state: State) -> dict[str, Any]:
    model = state.model
    return {"classes": model.classes, "features": model.mode.name,
            "profile": state.profile, "teach": state.profiles is not None,
            "backbone": model.spec.name, "runtime": model.runtime,
            "fingerspell_version": __version__, "threads": torch.get_num_threads(),
            "validation": public_validation(model.info.validation),
            "limits": state.limits.to_dict(), "device_page": state.device_page}


@router.post("/v1/predict", responses={400: {"description": "malformed multipart body"},
                                       413: {"description": "upload or image too large"},
                                       415: {"description": "not an image"},
                                       422: {"description": "top_k outside 1..classes"}})
async def predict(request: Request, state: State,
                  top_k: int = Query(5, ge=1, description="how many letters to list")
                  ) -> dict[str, Any]:
    """One image: multipart form (any file field) or the raw bytes as the body."""
    if top_k > len(state.model.classes):  # checked before the body is read
        raise BadInput(422, f"top_k {top_k} is more than the model's "
                            f"{len(state.model.classes)} classes")
    image = await state.decode(await state.read_upload(request))
    prediction = await asyncio.to_thread(state.predict, image, top_k=top_k, name="upload")
    return prediction_json(prediction)
