"""Static int8 quantisation of an exported graph, and the photos it is calibrated and checked
on: ``export --int8`` (the whole model's graph, infer/export.py) and ``export --format web
--int8`` (the page's crop graph, infer/web.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import write_atomic
from ..errors import FingerspellError
from ..jsonfile import read_json

# below this top-1 agreement on held-out photos the int8 graph is not kept: quantisation must
# never silently change what the model says (measured on the shared photos: 99-100%)
MIN_INT8_AGREEMENT = 0.95
HELD_OUT_CHECKS = 64


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
