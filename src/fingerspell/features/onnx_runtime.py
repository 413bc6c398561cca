"""ONNX export and ONNX Runtime inference: the same networks, 3-4x faster on a CPU.

Measured here (2 cores): EfficientNet-Lite0 runs ~110 images/s in eager PyTorch and ~380 in
ONNX Runtime. Export needs ``onnx`` and ``onnxscript`` (``pip install 'fingerspell[onnx]'``);
running needs ``onnxruntime``, a dependency of fingerspell itself (models answer with it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import write_atomic
from ..choices import EXTRACTION_RUNTIMES
from ..errors import FingerspellError
from ..threads import onnx_threads
from .cache import cache_namespace
from .preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .backbones import BackboneSpec, FrozenBackbone


@dataclass(frozen=True)
class GraphSpec:
    """What running a backbone's graph needs to know of the backbone (a ``BackboneSpec`` knows
    it too): its name, its preprocessing and its features' length — read from a bundle's
    ``config.json``, so that a model answers without building the network in PyTorch."""

    name: str
    preprocessing: Preprocessing
    feature_dim: int



def onnx_export_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript"))


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def export_onnx(module: nn.Module, path: Path, *, size: int, outputs: list[str]) -> Path:
    """Export ``module`` (images -> ``outputs``) with a dynamic batch dimension, atomically."""
    if not onnx_export_available():
        raise FingerspellError("ONNX export needs the packages onnx and onnxscript "
                               "(pip install 'fingerspell[onnx]')")
    import torch

    module = module.eval().cpu()
    example = (torch.zeros(2, 3, size, size),)
    batch = torch.export.Dim("batch", min=1, max=4096)

    def write(tmp: Path) -> None:
        # the exporter reports its progress on stdout, which must stay clean for --json output
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(module, example, dynamo=True, input_names=["images"],
                                        output_names=outputs, dynamic_shapes=({0: batch},),
                                        opset_version=18, verbose=False)
            program.save(str(tmp))

    return write_atomic(path, write)


class OnnxEncoder:
    """A backbone (or a whole model) run by ONNX Runtime on the CPU; output ``features``."""

    runtime = "onnx"  # the names --runtime takes: torch, onnx, int8 (choices.RUNTIMES)

    def __init__(self, path: Path, spec: BackboneSpec | GraphSpec, weights_id: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = onnx_threads()  # the work it is made for (threads.py)
        options.inter_op_num_threads = 1  # one graph at a time per session
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise FingerspellError(f"{path}: not a loadable ONNX graph "
                                   f"({' '.join(str(exc).split())[:200]})") from None
        self.path = path
        self.spec = spec
        self.weights_id = weights_id
        self.outputs = [o.name for o in self.session.get_outputs()]
        if "features" not in self.outputs:
            raise FingerspellError(f"{path}: ONNX graph has no 'features' output")

    @property
    def cache_namespace(self) -> str:
        return cache_namespace(self.spec, self.weights_id)

    def run(self, images: Any) -> dict[str, np.ndarray]:
        """Every output for a batch of preprocessed images (a NumPy array or a CPU tensor)."""
        array = images if isinstance(images, np.ndarray) else images.numpy()
        values = self.session.run(None, {"images": np.ascontiguousarray(array, np.float32)})
        return dict(zip(self.outputs, values, strict=True))

    def encode(self, images: Any) -> np.ndarray:
        return self.run(images)["features"]


def cached_graph(namespace: str, cache_root: Path | None = None) -> Path:
    """Where the cache keeps the ONNX graph of the backbone ``namespace`` names
    (``cache_namespace``: its weights and preprocessing)."""
    from .cache import default_cache_dir
    return (cache_root or default_cache_dir()) / "onnx" / f"{namespace}.onnx"


def cached_onnx_encoder(backbone: FrozenBackbone, cache_root: Path | None) -> OnnxEncoder:
    """The backbone as an ONNX Runtime session, exported once into the cache folder."""
    path = cached_graph(backbone.cache_namespace, cache_root)
    if not path.is_file():
        import torch
        backbone.place(torch.device("cpu"))
        export_onnx(backbone, path, size=backbone.spec.preprocessing.size,
                    outputs=["features"])
    return OnnxEncoder(path, backbone.spec, backbone.weights_id)


def choose_encoder(backbone: FrozenBackbone, *, runtime: str, device: torch.device,
                   cache_root: Path | None) -> FrozenBackbone | OnnxEncoder:
    """ONNX Runtime for CPU extraction when installed (``runtime="auto"``), else PyTorch."""
    if runtime not in EXTRACTION_RUNTIMES:
        raise FingerspellError(f"unknown runtime {runtime!r}; choose from "
                               f"{', '.join(EXTRACTION_RUNTIMES)}")
    wants_onnx = runtime == "onnx" or (runtime == "auto" and device.type == "cpu"
                                       and onnxruntime_available() and onnx_export_available())
    if not wants_onnx:
        return backbone.place(device)
    if device.type != "cpu":
        raise FingerspellError("--runtime onnx runs on the CPU; use --device cpu or --runtime torch")
    if not onnxruntime_available():
        raise FingerspellError("--runtime onnx needs onnxruntime (pip install onnxruntime)")
    return cached_onnx_encoder(backbone, cache_root)
