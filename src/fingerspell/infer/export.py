"""``fingerspell export``: the whole model (backbone + head + softmax) as one ONNX graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import write_atomic
from ..errors import FingerspellError
from ..features.onnx_runtime import OnnxEncoder, export_onnx
from ..paths import numbered_dir
from .builtin import is_builtin, resolve_model
from .model import ONNX_FILE, Model

INT8_FILE = "model.int8.onnx"
FORMATS = ("onnx",)


class _FullGraph(nn.Module):
    """images -> (features, probs): features feed the cache, probs are the prediction.

    Hand-based models export the backbone alone (images -> features): their head also sees
    landmarks, which come from MediaPipe rather than from the graph.
    """

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head if model.mode.single_graph else None
        self.temperature = model.temperature  # the same calibrated probabilities as Model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone(images)
        if self.head is None:
            return (features,)
        return features, (self.head(features) / self.temperature).softmax(-1)


def export_model(model_dir: str | Path, *, fmt: str = "onnx", int8: bool = False,
                 calibration: str | Path | None = None, check: bool = True,
                 out: str | Path | None = None) -> list[Path]:
    """Write ``model.onnx`` (and with ``int8`` a statically quantised ``model.int8.onnx``).

    The graph goes into the model's folder, or with ``out`` into a copy of the model made
    there (the default for built-in models, which live inside the installed package).

    With ``check``, the graph's probabilities are compared with PyTorch's on a random batch.
    int8 calibration uses ``calibration`` (a folder of typical images) or, for a bundle inside a
    run folder, 128 of that run's training images.
    """
    if fmt not in FORMATS:
        raise FingerspellError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    model_dir = resolve_model(model_dir)
    model = Model.load(model_dir, runtime="torch")
    if (model_dir / "model" / "model.safetensors").is_file():
        model_dir = model_dir / "model"  # a run folder was given
    if out is None and is_builtin(model_dir):  # never write inside the installed package
        out = numbered_dir(Path("runs/export") / model_dir.name)
    if out is not None:
        model_dir = _copy_bundle(model, Path(out))
    calibration_images = _calibration_images(model_dir, calibration) if int8 else []
    graph = _FullGraph(model).eval()
    size = model.preprocessing.size
    outputs = ["features", "probs"] if graph.head is not None else ["features"]
    path = export_onnx(graph, model_dir / ONNX_FILE, size=size, outputs=outputs)
    written = [path]
    if check:
        images = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = graph(images)[-1].numpy()
        got = OnnxEncoder(path, model.backbone.spec, model.backbone.weights_id).run(images)[
            outputs[-1]]
        if float(np.abs(got - expected).max()) > 1e-4:
            path.unlink()
            raise FingerspellError(f"{path}: ONNX output differs from PyTorch by "
                                   f"{float(np.abs(got - expected).max()):.2g}; not kept")
    if int8:
        written.append(_quantize(path, model_dir / INT8_FILE, model, calibration_images))
    return written


def _copy_bundle(model: Model, out: Path) -> Path:
    """``model`` saved to ``out`` (a new or empty folder), referring to its backbone's packaged
    weights when it has exactly those; the copy loads like the original, from anywhere."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FingerspellError(f"{out}: already exists and is not empty; export --out needs a new "
                               f"folder")
    model.save(out, store_backbone=None)
    return out


def _calibration_images(model_dir: Path, calibration: str | Path | None,
                        count: int = 128) -> list[Path]:
    from ..data.images import is_image_file
    if calibration is not None:
        folder = Path(calibration)
        if not folder.is_dir():
            raise FingerspellError(f"{folder}: calibration folder does not exist")
        found = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    else:
        run_dir = model_dir.parent
        if not (run_dir / "split.json").is_file() or not (run_dir / "config.json").is_file():
            raise FingerspellError(f"{model_dir}: --int8 needs --calibration DIR, a folder of "
                                   f"typical images (or a model inside its training run folder)")
        from ..data.merge import discover_many
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        held_out = set(json.loads((run_dir / "split.json").read_text(encoding="utf-8"))["val"])
        found = [s.path for s in discover_many(config["data"]).samples
                 if str(s.path) not in held_out]
    if not found:
        raise FingerspellError(f"{calibration or model_dir}: no calibration images found")
    return found[:: max(1, len(found) // count)][:count]


def _quantize(source: Path, target: Path, model: Model, images: list[Path]) -> Path:
    """Static int8 (QDQ, per-channel weights); activation ranges from calibration images.

    Measured on the shared photos: 2.4x faster than float ONNX Runtime at -0.1 point of
    validation accuracy, where ONNX Runtime's dynamic quantisation lost 17 points and ran
    17x slower (its integer convolutions are slow on CPUs).
    """
    import logging
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..data.images import load_rgb
    from ..errors import ImageError

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.paths = iter(range(0, len(images), 16))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.paths, None)
            if start is None:
                return None
            arrays = []
            for path in images[start:start + 16]:
                try:
                    arrays.append(model.preprocessing(load_rgb(path)))
                except ImageError:
                    continue  # an unreadable calibration image is simply left out
            return {"images": np.stack(arrays)} if arrays else self.get_next()

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs advice on the root logger
    try:
        with tempfile.TemporaryDirectory() as folder:
            prepared = Path(folder) / "prepared.onnx"
            quant_pre_process(str(source), str(prepared))
            write_atomic(target, lambda tmp: quantize_static(
                str(prepared), str(tmp), Batches(), quant_format=QuantFormat.QDQ,
                per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8))
    finally:
        root.setLevel(level)
    return target
