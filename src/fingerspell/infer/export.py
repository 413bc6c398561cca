"""``Model.export`` / ``fingerspell export``: the whole model (backbone + head + softmax) as one
ONNX graph, and optionally a statically quantised int8 copy checked against it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .._atomic import write_json
from ..errors import FingerspellError
from ..features.onnx_runtime import OnnxEncoder, export_onnx
from ..paths import numbered_dir
from .builtin import is_builtin
from .bundle import INT8_FILE, ONNX_FILE
from .quantize import MIN_INT8_AGREEMENT, calibration_images, quantize
from .web import model_name

if TYPE_CHECKING:
    from .model import Model

INT8_CHECK_FILE = "model.int8.json"  # how often the int8 graph agrees with the float model
FORMATS = ("onnx", "web")  # web: the on-device page (infer/web.export_site)


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


def export_graphs(model: Model, *, fmt: str = "onnx", int8: bool = False,
                  calibration: str | Path | None = None, check: bool = True,
                  out: str | Path | None = None) -> list[Path]:
    """``Model.export``: write ``model.onnx`` (and with ``int8`` a statically quantised
    ``model.int8.onnx``) into the model's folder, or with ``out`` into a copy of the model made
    there (the default for built-in models, which live inside the installed package).

    With ``check``, the graph's probabilities are compared with PyTorch's on a random batch.
    int8 calibration uses ``calibration`` (a folder of typical images) or, for a bundle inside a
    run folder, 128 of that run's training images.
    """
    if fmt not in FORMATS:
        raise FingerspellError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if model.device.type != "cpu":
        raise FingerspellError("export a model loaded on the CPU (Model.load(..., device='cpu'))")
    if fmt == "web":
        from .web import export_site
        if out is None:
            out = numbered_dir(Path("runs/export") / f"{model_name(model)}-web")
        if int8 and calibration is None:
            raise FingerspellError("--format web --int8 needs --calibration DIR: photos of hands "
                                   "like your users' (half calibrate, half check)")
        return export_site(model, out, int8_calibration=calibration if int8 else None)
    model_dir = model.folder
    if out is None and (model_dir is None or is_builtin(model_dir)):
        if model_dir is None:
            raise FingerspellError("this model has no folder yet: save it (Model.save) or give "
                                   "out=")
        out = numbered_dir(Path("runs/export") / model_dir.name)  # never inside the package
    if out is not None:
        model_dir = _copy_bundle(model, Path(out))
    calibrate_on, held_out = calibration_images(model_dir, calibration) if int8 \
        else ([], [])
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
        written.append(quantize(path, model_dir / INT8_FILE,
                                _preprocessed(model, calibrate_on)))
        written.append(_check_int8(model, model_dir, held_out))
    return written


def _check_int8(model: Model, model_dir: Path, held_out: list[Path]) -> Path:
    """Top-1 agreement of the int8 graph with the float model on ``held_out`` photos, written
    beside it (``model.int8.json``); below MIN_INT8_AGREEMENT the int8 graph is removed."""
    float_model = type(model).load(model_dir, runtime="onnx")  # the bundle as it now reads
    int8_model = type(model).load(model_dir, runtime="int8")
    expected = float_model.predict(held_out, top_k=1)
    got = int8_model.predict(held_out, top_k=1)
    by_path = {p.path: p.label for p in got}
    agree = sum(by_path.get(p.path) == p.label for p in expected)
    share = agree / max(1, len(expected))
    if share < MIN_INT8_AGREEMENT:
        (model_dir / INT8_FILE).unlink()
        (model_dir / INT8_CHECK_FILE).unlink(missing_ok=True)
        raise FingerspellError(f"{model_dir / INT8_FILE}: the int8 graph agrees with the float "
                               f"model on only {agree} of {len(expected)} held-out photos "
                               f"(at least {MIN_INT8_AGREEMENT:.0%} needed); not kept: use the "
                               f"float graph (--runtime onnx), or calibrate on photos like yours "
                               f"(--calibration DIR)")
    return write_json(model_dir / INT8_CHECK_FILE, {
        "agreement": round(share, 4), "agree": agree, "photos": len(expected),
        "minimum": MIN_INT8_AGREEMENT})


def _copy_bundle(model: Model, out: Path) -> Path:
    """``model`` saved to ``out`` (a new or empty folder), referring to its backbone's packaged
    weights when it has exactly those; the copy loads like the original, from anywhere."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FingerspellError(f"{out}: already exists and is not empty; export --out needs a new "
                               f"folder")
    model.save(out, store_backbone=None)
    return out


def _preprocessed(model: Model, images: list[Path]) -> list[np.ndarray]:
    """``images`` as the full graph's input (unreadable ones left out)."""
    from ..data.images import load_rgb
    from ..errors import ImageError
    arrays = []
    for path in images:
        try:
            arrays.append(model.preprocessing(load_rgb(path)))
        except ImageError:
            continue  # an unreadable calibration image is simply left out
    return arrays
