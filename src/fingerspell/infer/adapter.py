"""An adapter: one person's adapted head as a single small file, applied to the model it was
adapted from. The on-device page's Teach mode downloads one (adapting ran in the browser),
``Model.save_adapter`` writes one from an adapted model, and ``Model.load(base, adapter=FILE)``
/ ``--adapter FILE`` (predict, evaluate, live, serve) apply one; the page imports them too.

The file is a safetensors file (a JSON header, then little-endian float32 data): the adapted
head's weights and biases under their state-dict names, and in the header's ``__metadata__``
(strings only): ``format`` ("fingerspell-adapter"), ``format_version``, ``base_head`` (the digest
of the base head's weights: an adapter applies to that model only), ``classes``,
``landmark_weight`` and ``adapted`` (JSON: examples per letter, coverage, method).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._atomic import write_atomic
from ..errors import FingerspellError
from ..head.heads import LateFusionHead

if TYPE_CHECKING:
    from .model import Model

ADAPTER_FORMAT = "fingerspell-adapter"
ADAPTER_VERSION = 1
ADAPTER_SUFFIX = ".fsadapter"
MAX_ADAPTER_BYTES = 32 * 1024 * 1024  # a head is well under 1 MB; a crop head over a large backbone a few


def head_digest(head: torch.nn.Module) -> str:
    """A digest of a head's weights (names and float32 values, in name order): what an adapter
    names as its base."""
    digest = hashlib.sha256()
    for name, tensor in sorted(head.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def adapted_tensors(head: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What adapting changes: the head's parameters (weights and biases), not its buffers."""
    return {name: p.detach().cpu().float().contiguous() for name, p in head.named_parameters()}


def save_adapter(model: Model, path: str | Path) -> Path:
    """``model`` (adapted: ``Model.adapt``, ``fingerspell adapt``) as an adapter file for its
    base model. Never overwrites a file."""
    from safetensors.torch import save_file

    adapted = model.info.adapted
    if not adapted or not adapted.get("base_head"):
        raise FingerspellError("save_adapter: this model was not adapted (or was adapted by a "
                               "fingerspell that did not record its base): adapt it again")
    path = Path(path)
    if path.exists():
        raise FingerspellError(f"{path}: already exists; choose a new file for the adapter")
    weight = model.head.landmark_weight if isinstance(model.head, LateFusionHead) else None
    record = {key: value for key, value in adapted.items() if key != "base_head"}
    metadata = {"format": ADAPTER_FORMAT, "format_version": str(ADAPTER_VERSION),
                "base_head": adapted["base_head"], "classes": json.dumps(model.classes),
                "landmark_weight": json.dumps(weight), "adapted": json.dumps(record)}
    return write_atomic(path, lambda tmp: save_file(adapted_tensors(model.head), str(tmp),
                                                    metadata=metadata))


def read_adapter(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """An adapter's tensors and metadata, checked to be one (size bounded before reading)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise FingerspellError(f"{path}: adapter file does not exist")
    if path.stat().st_size > MAX_ADAPTER_BYTES:
        raise FingerspellError(f"{path}: {path.stat().st_size} bytes is too large for an adapter")
    data = path.read_bytes()
    try:
        tensors = load(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
        raise FingerspellError(f"{path}: not an adapter file ({' '.join(str(exc).split())[:120]})"
                               ) from None
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != ADAPTER_FORMAT:
        raise FingerspellError(f"{path}: not a fingerspell adapter (no '{ADAPTER_FORMAT}' format "
                               f"in its header)")
    if metadata.get("format_version") != str(ADAPTER_VERSION):
        raise FingerspellError(f"{path}: adapter format {metadata.get('format_version')!r}; this "
                               f"fingerspell reads {ADAPTER_VERSION}")
    return tensors, metadata


def apply_adapter(model: Model, path: str | Path) -> Model:
    """``model`` with the adapted head from the adapter file at ``path`` (made for exactly this
    model: its base head's digest must match)."""
    tensors, metadata = read_adapter(path)
    if metadata.get("base_head") != head_digest(model.head):
        raise FingerspellError(f"{path}: adapted from another model (base {metadata.get('base_head')}"
                               f", this one {head_digest(model.head)}): apply it to the model it "
                               f"was made from")
    try:
        classes = json.loads(metadata["classes"])
        weight = json.loads(metadata["landmark_weight"])
        record: dict[str, Any] = json.loads(metadata["adapted"])
    except (KeyError, ValueError) as exc:
        raise FingerspellError(f"{path}: adapter metadata incomplete ({exc})") from None
    if classes != model.classes:
        raise FingerspellError(f"{path}: adapter classes differ from the model's")
    head = copy.deepcopy(model.head)
    expected = adapted_tensors(head)
    if set(tensors) != set(expected) or any(tuple(tensors[k].shape) != tuple(v.shape)
                                            for k, v in expected.items()):
        raise FingerspellError(f"{path}: adapter tensors do not fit this model's head")
    if not all(np.isfinite(v).all() for v in tensors.values()):
        raise FingerspellError(f"{path}: adapter holds values that are not finite numbers")
    head.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in
                          tensors.items()}, strict=False)
    if isinstance(head, LateFusionHead) and isinstance(weight, (int, float)):
        if not 0 <= weight <= 1:
            raise FingerspellError(f"{path}: landmark weight {weight} is not between 0 and 1")
        head.landmark_weight = float(weight)
    return model.with_head(head.eval(), adapted={**record, "base_head": metadata["base_head"],
                                                 "adapter": Path(path).name})
