"""``Model.export`` / ``fingerspell export``: the whole model (backbone + head + softmax) as one
ONNX graph, and optionally a statically quantised int8 copy checked against it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .._atomic import write_atomic, write_json
from ..errors import FingerspellError
from ..features.onnx_runtime import OnnxEncoder, export_onnx
from ..jsonfile import read_json
from ..paths import numbered_dir
from .builtin import is_builtin
from .bundle import INT8_FILE, ONNX_FILE
from .web import model_name

if TYPE_CHECKING:
    from .model import Model

INT8_CHECK_FILE = "model.int8.json"  # how often the int8 graph agrees with the float model
# below this top-1 agreement on held-out photos the int8 graph is not kept: quantisation must
# never silently change what the model says (measured on the shared photos: 99-100%)
MIN_INT8_AGREEMENT = 0.95
HELD_OUT_CHECKS = 64
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


def calibration_images(model_dir: Path, calibration: str | Path | None,
                        count: int = 128) -> tuple[list[Path], list[Path]]:
    """Images to calibrate int8 on, and held-out ones to check it on: a run's training images
    and its validation split, or a ``calibration`` folder's images split between the two."""
    from ..data.images import is_image_file
    if calibration is not None:
        folder = Path(calibration)
        if not folder.is_dir():
            raise FingerspellError(f"{folder}: calibration folder does not exist")
        found = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
        held_out = found[1::2]  # every other image checks, the rest calibrate
        found = found[0::2]
    else:
        run_dir = model_dir.parent
        if not (run_dir / "split.json").is_file() or not (run_dir / "config.json").is_file():
            raise FingerspellError(f"{model_dir}: --int8 needs --calibration DIR, a folder of "
                                   f"typical images (or a model inside its training run folder)")
        from ..data.merge import discover_many
        config = read_json(run_dir / "config.json", "run configuration")
        validation = set(read_json(run_dir / "split.json", "validation split")["val"])
        samples = discover_many(config["data"]).samples
        found = [s.path for s in samples if str(s.path) not in validation]
        held_out = [s.path for s in samples if str(s.path) in validation]
    if not found or not held_out:
        raise FingerspellError(f"{calibration or model_dir}: too few images to calibrate int8 "
                               f"and check it")
    return (found[:: max(1, len(found) // count)][:count],
            held_out[:: max(1, len(held_out) // HELD_OUT_CHECKS)][:HELD_OUT_CHECKS])


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


def quantize(source: Path, target: Path, arrays: list[np.ndarray]) -> Path:
    """Static int8 (QDQ, per-channel weights) of the graph at ``source`` (input ``images``);
    activation ranges from ``arrays``, typical inputs.

    Measured on the shared photos: 2.4x faster than float ONNX Runtime at -0.1 point of
    validation accuracy, where ONNX Runtime's dynamic quantisation lost 17 points and ran
    17x slower (its integer convolutions are slow on CPUs).
    """
    import logging
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not arrays:
        raise FingerspellError(f"{source}: no readable images to calibrate int8 on")

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.starts = iter(range(0, len(arrays), 16))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.starts, None)
            return None if start is None else {"images": np.stack(arrays[start:start + 16])}

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
