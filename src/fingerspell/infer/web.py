"""What the browser needs of a model to answer on the device (the on-device page): the heads'
weights and the fusion's settings as JSON, read by ``fingerspell/web/recognizer.js``; the crop's
backbone features come from an ONNX graph. ``export_site`` writes the whole static site.

The JavaScript repeats the landmark encoding, the head's arithmetic and the fusion;
``tests/test_web_parity.py`` holds both sides to 1e-4 on the same inputs in headless Chromium.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import FingerspellError
from ..head.heads import LateFusionHead, MLPHead
from .web_runtime import web_asset

if TYPE_CHECKING:
    from .model import Model

RECOGNIZER_JS = "recognizer.js"


def _numbers(tensor: torch.Tensor) -> Any:
    """A tensor as nested lists of float32-exact numbers in 9 digits (half the JSON of float64's
    17, the same float32 values)."""
    values = tensor.detach().cpu().float().numpy()
    return np.vectorize(lambda v: float(f"{v:.9g}"), otypes=[object])(values).tolist()


def head_to_json(head: MLPHead, prefix: str = "") -> dict[str, Any]:
    """An ``MLPHead`` as ``recognizer.js``'s ``headLogits`` reads it: the standardisation (if
    any) and each Linear layer's weight (rows = outputs) and bias, as plain lists, each layer
    with its state-dict name (``prefix`` + its name in the head: an adapter file names them so)."""
    layers = [(name, module) for name, module in head.named_modules()
              if isinstance(module, nn.Linear)]
    out: dict[str, Any] = {"normalize": bool(head.config.normalize),
                           "layers": [{"name": prefix + name, "weight": _numbers(layer.weight),
                                       "bias": _numbers(layer.bias)} for name, layer in layers]}
    if head.config.normalize:
        out["mean"] = _numbers(head.feature_mean)
        out["std"] = _numbers(head.feature_std)
    return out


def heads_json(model: Model) -> dict[str, Any]:
    """The model's heads for the browser, with what it needs around them: the class names, the
    landmark encoding, the calibrated temperature and "unsure" threshold, a fusion's landmark
    weight and crop head, the base head's digest (adapters name it) and how Teach adapts."""
    from dataclasses import asdict

    from ..head.adaptation import AdaptSettings
    from .adapt import METHOD
    from .adapter import head_digest
    head = model.head
    if isinstance(head, LateFusionHead):
        landmarks, weight = head_to_json(head.landmarks, "landmarks."), head.landmark_weight
        crop = head_to_json(head.crop, "crop.")
    elif model.mode.name == "landmarks" and isinstance(head, MLPHead):
        landmarks, weight, crop = head_to_json(head), 1.0, None
    else:
        raise FingerspellError(f"a {model.mode.name} model has no landmark head to run in the "
                               f"browser (fusion and landmarks models do)")
    return {"classes": model.classes, "landmark_encoding": model.mode.landmark_encoding,
            "temperature": model.temperature, "unsure_below": model.unsure_below,
            "landmark_weight": weight, "landmark_head": landmarks, "crop_head": crop,
            "head_digest": head_digest(head), "adapted": model.info.adapted,
            "adapt": {**asdict(AdaptSettings()), "method": METHOD}}


# --- the exported static site (fingerspell export MODEL --format web) ---------------------------

SITE_FORMAT = "fingerspell-web"
SITE_VERSION = 1
SITE_CONFIG = "model.json"
CROP_GRAPH = "crop.onnx"
SITE_HAND_MODEL = "hand_landmarker.task"
# the page's own files, shipped in fingerspell/web/ (tests/test_web_parity.py and test_web_site.py)
PAGE_FILES = ("index.html", "page.js", "page.css", "device.js", "detect.js", "recognizer.js",
              "decoder.js", "session.js", "adapt.js", "teach.js")
SERVED_STYLE = "serve/static/style.css"  # the served page's look, shared


class _CropGraph(nn.Module):
    """The crop's backbone features from its pixels: RGB in [0, 1], ``size`` x ``size`` (the
    backbone's normalisation is part of the graph, so the page only scales bytes). The crop
    head runs in JavaScript, where Teach adapts it."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        pre = model.preprocessing
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.backbone = model.backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone((images - self.mean) / self.std)


def site_config(model: Model) -> dict[str, Any]:
    """``model.json``: what the page needs besides the graph: the heads (as ``heads_json``),
    how hands are found (the stream's detection passes, as ``live``),
    and the crop's size and margin."""
    from ..features.hands import DETECTION_SIDE, PASSES_PER_FRAME
    config = heads_json(model)
    fusion = isinstance(model.head, LateFusionHead)
    if not fusion and "nothing" not in {c.lower() for c in model.classes}:
        raise FingerspellError("a landmarks model without a 'nothing' class answers frames "
                               "without a hand from whole-image features, which the page does "
                               "not run: export a fusion model for the page")
    config.update({
        "format": SITE_FORMAT, "format_version": SITE_VERSION, "name": model_name(model),
        "hand": {**model.hand_settings.to_dict(), "detection_side": DETECTION_SIDE,
                 "passes_per_frame": PASSES_PER_FRAME, "model": SITE_HAND_MODEL},
        "crop": {"graph": CROP_GRAPH, "size": model.preprocessing.size,
                 "crop_pct": model.preprocessing.crop_pct} if fusion else None,
        "top_k": 5})
    return config


def model_name(model: Model) -> str:
    return model.folder.name if model.folder is not None else "model"


def export_site(model: Model, out: str | Path, *, cache_root: Path | None = None,
                int8_calibration: str | Path | None = None) -> list[Path]:
    """``Model.export(fmt="web")``: a self-contained static site in ``out`` (a new or empty
    folder): the page and its JavaScript, the browser libraries (``web_runtime``), MediaPipe's
    hand model, the crop graph (``crop.onnx``) and ``model.json``. It runs from any static
    host or ``python -m http.server`` and asks nothing of any other address.

    ``int8_calibration``: a folder of hand photos; the crop graph is then quantised to int8
    (calibrated on half of their crops) and kept only if the crop head agrees with the float
    graph on the other half (``MIN_INT8_AGREEMENT``). The site is built beside ``out`` and
    moved into place whole: a failed export leaves nothing behind."""
    import shutil
    import tempfile

    from .._atomic import write_json
    from ..features.onnx_runtime import export_onnx
    from .web_runtime import RUNTIME_FILES, web_runtime

    config = site_config(model)  # refuses models without a landmark head before any writing
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FingerspellError(f"{out}: already exists and is not empty; export --out needs a new "
                               f"folder")
    node_modules = web_runtime(cache_root)
    assert model.hand_model is not None  # models with a landmark head find hands
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in PAGE_FILES:
            shutil.copyfile(web_asset(name), work / name)
        shutil.copyfile(Path(str(resources.files("fingerspell") / SERVED_STYLE)),
                        work / "style.css")
        for item in RUNTIME_FILES:
            target = work / item.site_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node_modules / item.package / item.path, target)
        shutil.copyfile(model.hand_model, work / SITE_HAND_MODEL)
        if config["crop"] is not None:
            export_onnx(_CropGraph(model).eval(), work / CROP_GRAPH,
                        size=model.preprocessing.size, outputs=["features"])
            if int8_calibration is not None:
                config["crop"]["int8"] = _int8_crop_graph(model, work / CROP_GRAPH,
                                                          Path(int8_calibration))
        write_json(work / SITE_CONFIG, config)
        (work / "NOTICE.md").write_text(_notice(node_modules))
        if out.exists():
            out.rmdir()  # new or empty, checked above
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return sorted(p for p in out.rglob("*") if p.is_file())


def _int8_crop_graph(model: Model, graph: Path, folder: Path) -> dict[str, Any]:
    """The crop graph at ``graph`` replaced by its int8 copy, calibrated on the hand crops of
    half the photos in ``folder``, if the crop head's answer agrees with the float graph's on
    the crops of the other half; its agreement record."""
    import onnxruntime as ort

    from .quantize import MIN_INT8_AGREEMENT, calibration_images, quantize
    calibrate, check = calibration_images(graph.parent, folder)
    crops = {name: _hand_crops(model, paths) for name, paths in (("calibrate", calibrate),
                                                                   ("check", check))}
    if not crops["check"]:
        raise FingerspellError(f"{folder}: no hand found in its photos to check int8 on")
    int8 = quantize(graph, graph.with_name("crop.int8.onnx"), crops["calibrate"])
    head = model.head
    assert isinstance(head, LateFusionHead)
    answers = []
    for path in (graph, int8):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        features = session.run(["features"], {"images": np.stack(crops["check"])})[0]
        with torch.no_grad():
            answers.append(head.crop(torch.from_numpy(features)).argmax(1).numpy())
    agree = int((answers[0] == answers[1]).sum())
    share = agree / len(crops["check"])
    if share < MIN_INT8_AGREEMENT:
        raise FingerspellError(f"{folder}: the int8 crop graph agrees with the float one on only "
                               f"{agree} of {len(crops['check'])} held-out crops (at least "
                               f"{MIN_INT8_AGREEMENT:.0%} needed); export without --int8")
    int8.replace(graph)
    return {"agreement": round(share, 4), "agree": agree, "crops": len(crops["check"])}


def _hand_crops(model: Model, paths: list[Path]) -> list[np.ndarray]:
    """The crop graph's input for each photo of ``paths`` with a hand: its crop, scaled to
    [0, 1] as the page scales it (the normalisation is in the graph)."""
    from dataclasses import replace

    from ..data.images import load_rgb
    from ..errors import ImageError
    from ..features.crops import hand_crop
    scale = replace(model.preprocessing, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    crops = []
    detector = model.detector()
    assert detector is not None
    with detector:
        for path in paths:
            try:
                image = load_rgb(path)
            except ImageError:
                continue
            hand = detector.find(image)
            if hand is not None:
                crops.append(scale(hand_crop(image, hand, model.hand_settings.margin)))
    return crops


def _notice(node_modules: Path) -> str:
    """Who made what the site carries, with their licences."""
    import json
    lines = ["# What this folder carries", "",
             "- The page and the model: fingerspell (Apache-2.0); the model's card names the "
             "photos it learnt from and their licences.",
             "- hand_landmarker.task: MediaPipe's hand landmarker (Apache-2.0, Google)."]
    for package in sorted({"@mediapipe/tasks-vision", "onnxruntime-web"}):
        manifest = json.loads((node_modules / package / "package.json").read_text())
        lines.append(f"- vendor/: {package} {manifest.get('version')} "
                     f"({manifest.get('license')}), unchanged files from its npm package.")
    return "\n".join(lines) + "\n"


SITES = "web-sites"  # the cache's folder of built sites, one per model content


def cached_site(model: Model, cache_root: Path | None = None) -> Path:
    """The model's site, exported once into the cache (``<cache>/web-sites/<digest>``: the
    model's answer-shaping content, this fingerspell and the browser libraries' lock) and
    reused: ``fingerspell serve`` serves it at ``/device/``."""
    import hashlib
    import json
    import shutil
    import tempfile

    from .._version import __version__
    from ..features.cache import default_cache_dir

    root = (cache_root or default_cache_dir()) / SITES
    digest = hashlib.sha256(json.dumps(site_config(model), sort_keys=True).encode())
    digest.update(f"{__version__}|{model.backbone.weights_id}".encode())
    digest.update(web_asset("package-lock.json").read_bytes())
    for name in PAGE_FILES:
        digest.update(web_asset(name).read_bytes())
    site = root / digest.hexdigest()[:20]
    if (site / SITE_CONFIG).is_file():
        return site
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        export_site(model, work / "site", cache_root=cache_root)
        try:
            (work / "site").rename(site)  # another process may have finished first: keep its
        except OSError:
            if not (site / SITE_CONFIG).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return site
