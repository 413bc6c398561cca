"""Teach mode: a person's captured examples per letter and the model adapted to them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Query, Request

from ..profiles import Profiles
from ..state import ServerState, State

log = logging.getLogger("fingerspell.serve")

router = APIRouter(prefix="/v1/profiles")


def _profiles(state: ServerState) -> Profiles:
    assert state.profiles is not None, "the Teach routes are mounted only with profiles"
    return state.profiles


@router.get("/{name}")
async def profile(name: str, state: State) -> dict[str, Any]:
    return {**_profiles(state).describe(name), "serving": state.profile == name}


@router.post("/{name}/examples",
             responses={409: {"description": "the profile or letter is full"},
                        413: {"description": "upload or image too large"},
                        415: {"description": "not an image"},
                        422: {"description": "bad profile name or unknown letter"}})
async def add_example(name: str, request: Request, state: State,
                      label: str = Query(..., max_length=16)) -> dict[str, Any]:
    """One captured frame for ``label``; kept only if a hand is in view. ``read`` is what the
    model serving now makes of it (the page's check: which letters it gets wrong for this
    hand)."""
    profiles = _profiles(state)
    profiles.folder(name)
    profiles.letter(label)  # both checked before the body is read
    image = await state.decode(await state.read_upload(request))

    def run() -> dict[str, Any]:
        seen = state.predict(image, top_k=1, name="capture")
        if state.detectors.uses_hands and seen.hand is None:
            return {"saved": False, "hand": False, "examples": profiles.examples(name)}
        read = {"label": seen.label, "confidence": seen.confidence, "unsure": seen.unsure}
        return {"saved": True, "hand": state.detectors.uses_hands, "read": read,
                "examples": profiles.add(name, label, image)}

    return await asyncio.to_thread(run)


@router.post("/{name}/adapt", responses={409: {"description": "no examples, or already adapting"}})
async def adapt_profile(name: str, state: State) -> dict[str, Any]:
    """Adapt the base model to the profile's examples; the API and every stream then use the
    adapted model."""
    result = await asyncio.to_thread(_profiles(state).adapt, name)
    state.model, state.profile = result.model, name
    log.info("profile %s adapted (%s examples); now serving it", name,
             sum(result.examples.values()))
    return {"profile": name, **result.to_dict()}


@router.delete("/{name}", responses={404: {"description": "no such profile"},
                                     409: {"description": "the profile is being adapted"}})
async def delete_profile(name: str, state: State
                         ) -> dict[str, Any]:
    """Forget a profile: its examples and adapted model (the files Teach wrote). If it was being
    served, the base model answers again."""
    profiles = _profiles(state)
    kept = await asyncio.to_thread(profiles.delete, name)
    if state.profile == name:
        state.model, state.profile = profiles.base, None
    log.info("profile %s deleted%s", name, f" (left alone: {kept})" if kept else "")
    return {"profile": name, "deleted": True, "kept": kept}
