"""``fingerspell export``: the whole model (backbone + head + softmax) as one ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import FingerspellError
from ..features.onnx_runtime import OnnxEncoder, export_onnx
from .model import ONNX_FILE, Model

INT8_FILE = "model.int8.onnx"
FORMATS = ("onnx",)


class _FullGraph(nn.Module):
    """images -> (features, probs): features feed the cache, probs are the prediction."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(images)
        return features, self.head(features).softmax(-1)


def export_model(model_dir: str | Path, *, fmt: str = "onnx", int8: bool = False,
                 check: bool = True) -> list[Path]:
    """Write ``model.onnx`` (and with ``int8`` a weight-quantised ``model.int8.onnx``) into the bundle.

    With ``check``, the graph's probabilities are compared with PyTorch's on a random batch.
    """
    if fmt not in FORMATS:
        raise FingerspellError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    model_dir = Path(model_dir)
    model = Model.load(model_dir, runtime="torch")
    if (model_dir / "model" / "model.safetensors").is_file():
        model_dir = model_dir / "model"  # a run folder was given
    graph = _FullGraph(model).eval()
    size = model.preprocessing.size
    path = export_onnx(graph, model_dir / ONNX_FILE, size=size, outputs=["features", "probs"])
    written = [path]
    if check:
        images = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = graph(images)[1].numpy()
        got = OnnxEncoder(path, model.backbone.spec, model.backbone.weights_id).run(images)["probs"]
        if float(np.abs(got - expected).max()) > 1e-4:
            path.unlink()
            raise FingerspellError(f"{path}: ONNX output differs from PyTorch by "
                                   f"{float(np.abs(got - expected).max()):.2g}; not kept")
    if int8:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic
        int8_path = model_dir / INT8_FILE
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # ORT suggests a pre-processing step on stderr
        try:
            quantize_dynamic(str(path), str(int8_path), weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        written.append(int8_path)
    return written
