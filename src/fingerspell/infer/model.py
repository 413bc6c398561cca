"""The model bundle: a frozen backbone plus a trained head, saved as one self-contained folder.

``MODEL_DIR/config.json`` (classes, features, backbone, preprocessing, head shape, package
version), ``MODEL_DIR/model.safetensors`` (backbone and head weights) and, for hand-based
features, ``MODEL_DIR/hand_landmarker.task`` are all a prediction needs: no network access, no
training data.

Where no hand is found, ``crop``/``fusion`` models see the whole image (their head learned
that case, ``nothing`` photos included); ``landmarks`` models answer ``nothing`` when they know
that class, else use their whole-image fallback head. Each prediction says which route it
took. (Forcing ``nothing`` for fusion too measured slightly worse, with the earlier single-head
fusion: detection misses real hands in dark frames, which the whole image still recognises.)
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .._atomic import match_umask, replace_dir, write_json
from .._version import __version__
from ..choices import RUNTIMES
from ..data.images import expand_image_paths, image_in_memory
from ..errors import FingerspellError
from ..features.extract import Encoder
from ..features.feature_mode import HAND_MODES, FeatureMode, get_mode
from ..features.hands import (
    HAND_MODEL_ENV,
    Hand,
    HandDetector,
    HandSettings,
    file_digest,
    resolve_hand_model,
)
from ..features.modes import FeaturePipeline, ModeFeatures, image_vectors
from ..features.onnx_runtime import OnnxEncoder, onnxruntime_available
from ..features.preprocessing import Preprocessing
from ..head.arrays import HeadArrays
from ..threads import head_work
from .builtin import is_builtin, resolve_model
from .bundle import (
    INT8_FILE,
    ONNX_FILE,
    BundleInfo,
    check_config,
    read_config,
    saved_mode,
)
from .networks import PRETRAINED, BundleNetworks, packaged_backbone, require_packaged_weights
from .prediction import (
    ROUTE_HAND,
    ROUTE_IMAGE,
    ROUTE_NO_HAND_NOTHING,
    ROUTE_NO_HAND_WHOLE_IMAGE,
    Prediction,
    Predictions,
)

if TYPE_CHECKING:
    import torch

    from ..evaluation.run import EvalResult
    from ..features.backbones import FrozenBackbone
    from ..head.heads import LateFusionHead, MLPHead

BUNDLE_FORMAT = "fingerspell-model"
HAND_MODEL_FILE = "hand_landmarker.task"
BUNDLE_VERSION = 3  # 3: the backbone may be referred to ("weights": "pretrained"), not stored
STORED_BACKBONE_VERSION = 2  # what a bundle holding its backbone is written as (0.1 reads it)
# what Model.predict takes: a file or folder, or an image already in memory
ImageSource = str | Path | Image.Image | np.ndarray

@dataclass
class Probabilities:
    """The model's answer for a batch of photos, before it is put into words: the calibrated
    class probabilities (``n x classes``), the route each row took, and the features behind them
    (``features.hands``, ``features.failed``: rows that could not be read have no answer)."""

    probs: np.ndarray
    routes: list[str]
    features: ModeFeatures

    @property
    def failed(self) -> dict[int, str]:
        return self.features.failed

    @property
    def answered(self) -> list[int]:
        """The rows with an answer (readable images)."""
        return [i for i in range(len(self.probs)) if i not in self.features.failed]


class Model:
    """A trained recognizer.

    Example:
        >>> model = Model.load("runs/demo/model")            # doctest: +SKIP
        >>> model.predict(["hand.jpg"])[0].label               # doctest: +SKIP
        'A'
    """

    def __init__(self, backbone: FrozenBackbone | None, head: MLPHead | LateFusionHead | None,
                 classes: list[str], info: BundleInfo | None = None, *,
                 features: str | FeatureMode = "image", hand_settings: HandSettings | None = None,
                 hand_model: Path | None = None, fallback_head: MLPHead | None = None,
                 networks: BundleNetworks | None = None) -> None:
        # ``networks`` (Model.load): a bundle whose networks are built in PyTorch when first
        # needed, standing in for a ``backbone``, ``head`` or fallback head given as None
        if networks is None and (backbone is None or head is None):
            raise ValueError("a model needs a backbone and a head (or a bundle's networks)")
        self._networks = networks
        self._backbone = backbone
        self._head = head.eval() if head is not None else None
        self._fallback_head = fallback_head.eval() if fallback_head is not None else None
        self._fallback_pending = fallback_head is None and networks is not None \
            and bool(networks.config.get("fallback_head"))
        self.classes = list(classes)
        self.info = info or BundleInfo()
        self._device = "cpu"
        self.encoder: Encoder | None = backbone  # the runtime answering (use_runtime)
        self.mode: FeatureMode = get_mode(features)
        self.hand_settings = hand_settings or HandSettings()
        self.hand_model = hand_model
        self.folder: Path | None = None  # the bundle it was loaded from (None: built in memory)
        if self.mode.needs_hands and hand_model is None:
            raise ValueError(f"{features} features need a hand model")

    # ----- the networks: PyTorch only when some work needs it --------------------------------
    @property
    def backbone(self) -> FrozenBackbone:
        """The backbone in PyTorch (built from the bundle on first use)."""
        if self._backbone is None:
            assert self._networks is not None
            self._backbone = self._networks.torch()[0]
            self._backbone.place(self.device)
        return self._backbone

    @property
    def head(self) -> MLPHead | LateFusionHead:
        """The head in PyTorch (built from the bundle on first use)."""
        if self._head is None:
            assert self._networks is not None
            self._head = self._networks.torch()[1].to(self.device)
        return self._head

    @property
    def fallback_head(self) -> MLPHead | None:
        """A landmarks model's whole-image head, in PyTorch (None for other models)."""
        if self._fallback_pending:
            assert self._networks is not None
            fallback = self._networks.torch()[2]
            self._fallback_head = fallback.to(self.device) if fallback is not None else None
            self._fallback_pending = False
        return self._fallback_head

    def head_arrays(self, which: str = "head") -> HeadArrays:
        """The head (or ``"fallback_head"``) as arrays, what answering runs: the PyTorch head's
        own weights (shared, not copied, on the CPU) once it exists, else the bundle's."""
        module = self._head if which == "head" else (
            None if self._fallback_pending else self._fallback_head)
        if module is not None:
            return HeadArrays.from_module(module)
        if self._networks is None:
            raise FingerspellError(f"this model has no {which.replace('_', ' ')}")
        return self._networks.head_arrays(f"{which}.")

    @property
    def device(self) -> torch.device:
        """Where the PyTorch networks run (the CPU unless ``to`` moved them)."""
        import torch
        return torch.device(self._device)

    @property
    def temperature(self) -> float:
        """Divides the head's log-probabilities (fitted at training; 1 for older bundles)."""
        return float(self.info.temperature)

    @property
    def unsure_below(self) -> float:
        return float(self.info.unsure_below)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.spec.preprocessing

    @property
    def spec(self) -> Any:
        """The backbone's description (``BackboneSpec``, or the bundle's ``GraphSpec`` while
        the PyTorch backbone has not been built): name, preprocessing, feature length."""
        if self._backbone is not None:
            return self._backbone.spec
        assert self._networks is not None
        return self._networks.graph_spec

    @property
    def weights_id(self) -> str:
        if self._backbone is not None:
            return self._backbone.weights_id
        assert self._networks is not None
        return self._networks.weights_id

    def to(self, device: str | torch.device) -> Model:
        """Run the PyTorch networks on ``device`` (a GPU: the backbone answers in PyTorch)."""
        from ..features.extract import resolve_device
        resolved = resolve_device(device) if isinstance(device, str) else device
        self._device = str(resolved)
        if self._backbone is not None or resolved.type != "cpu":  # else built there when needed
            self.backbone.place(resolved)
            self.head.to(resolved)
            if self.fallback_head is not None:
                self.fallback_head.to(resolved)
        if resolved.type != "cpu":
            self.encoder = self.backbone
        return self

    @property
    def runtime(self) -> str:
        assert self.encoder is not None
        return self.encoder.runtime

    def use_runtime(self, runtime: str, model_dir: str | Path | None = None) -> Model:
        """Pick the engine: ``auto`` (ONNX Runtime when onnxruntime is installed and there is a
        graph: the bundle's ``model.onnx``, else the backbone's graph in the feature cache for a
        bundle that refers to packaged weights; else PyTorch), ``torch``, ``onnx`` or ``int8``
        (``model.int8.onnx``); the last two fail with a clear error when unavailable. The graphs
        are read from ``model_dir`` (default: the folder the model was loaded from)."""
        if runtime not in RUNTIMES:
            raise FingerspellError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        model_dir = Path(model_dir) if model_dir is not None else self.folder
        if model_dir is None:
            if runtime in ("onnx", "int8"):
                raise FingerspellError(f"--runtime {runtime} reads the model's folder; this "
                                       f"model has none (save it, then load it)")
            self.encoder = self.backbone
            return self
        graph = model_dir / (INT8_FILE if runtime == "int8" else ONNX_FILE)
        on_cpu = self._device == "cpu"
        if runtime == "auto" and not graph.is_file() and self._networks is not None:
            graph = self._networks.cached_graph() or graph
        usable = graph.is_file() and onnxruntime_available() and on_cpu
        if runtime in ("onnx", "int8") and not usable:
            if not graph.is_file():
                flag = " --int8" if runtime == "int8" else ""
                raise FingerspellError(f"{model_dir}: no {graph.name}; create it with "
                                       f"'fingerspell export {model_dir} --format onnx{flag}'")
            if not onnxruntime_available():
                raise FingerspellError(f"--runtime {runtime} needs onnxruntime "
                                       f"(pip install onnxruntime)")
            raise FingerspellError(f"--runtime {runtime} runs on the CPU; use --device cpu")
        if usable and runtime != "torch":
            self.encoder = OnnxEncoder(graph, self.spec, self.weights_id)
            if runtime == "int8":
                self.encoder.runtime = "int8"  # what Model.runtime and /v1/model report
        else:
            self.encoder = self.backbone
        return self

    # ----- save / load ---------------------------------------------------------------------------
    def config(self, *, store_backbone: bool = True) -> dict[str, Any]:
        backbone: dict[str, Any] = {"name": self.backbone.spec.name,
                                    "weights_id": self.backbone.weights_id,
                                    "feature_dim": self.backbone.spec.feature_dim}
        if not store_backbone:
            backbone["weights"] = PRETRAINED
        return {
            "format": BUNDLE_FORMAT,
            # a bundle that refers to its backbone's weights needs a reader that knows how
            "format_version": BUNDLE_VERSION if not store_backbone else STORED_BACKBONE_VERSION,
            "fingerspell_version": __version__,
            "classes": self.classes,
            "features": {"mode": self.mode.name,
                         "landmark_encoding": self.mode.landmark_encoding,
                         "hand": self.hand_settings.to_dict(),
                         "hand_model_sha256": file_digest(self.hand_model)
                         if self.hand_model else None},
            "backbone": backbone,
            "preprocessing": self.preprocessing.to_dict(),
            "head": self.head.config.to_dict(),
            "fallback_head": self.fallback_head.config.to_dict() if self.fallback_head else None,
            **self.info.to_config(),
        }

    def save(self, model_dir: str | Path, *, store_backbone: bool | None = True,
             hand_model: bool = True) -> Path:
        """Write the bundle atomically (a half-written bundle never replaces a good one).

        ``store_backbone=False`` leaves the backbone's weights out: the bundle refers to the
        pretrained weights its backbone's package ships (a few MB instead of tens; the built-in
        models). Only for a frozen backbone whose weights are exactly those; ``None`` decides by
        that (adapted models, exported copies, Teach profiles). ``hand_model=False``
        leaves out the hand model's copy (built-in models: the wheel adds it).
        """
        from safetensors.torch import save_file

        if store_backbone is None:
            store_backbone = not packaged_backbone(self.backbone)
        tensors = {}
        if store_backbone:
            tensors = {f"backbone.{k}": v.detach().cpu().contiguous()
                       for k, v in self.backbone.net.state_dict().items()}
        else:
            require_packaged_weights(self.backbone)
        tensors.update({f"head.{k}": v.detach().cpu().contiguous()
                        for k, v in self.head.state_dict().items()})
        if self.fallback_head is not None:
            tensors.update({f"fallback_head.{k}": v.detach().cpu().contiguous()
                            for k, v in self.fallback_head.state_dict().items()})
        config = self.config(store_backbone=store_backbone)

        def build(folder: Path) -> None:
            save_file(tensors, str(folder / "model.safetensors"))
            match_umask(folder / "model.safetensors")  # safetensors creates it owner-only
            if self.hand_model is not None and hand_model:
                shutil.copyfile(self.hand_model, folder / HAND_MODEL_FILE)
            write_json(folder / "config.json", config)

        return replace_dir(build, model_dir)

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu", runtime: str = "auto", *,
             adapter: str | Path | None = None) -> Model:
        """Load a bundle written by ``save`` (or by ``fingerspell train``).

        ``runtime``: "auto" runs the backbone in ONNX Runtime when there is a graph (the
        bundle's ``model.onnx``, see ``fingerspell export``, or the cache's graph of the packaged
        weights it refers to): the model then answers without PyTorch (its heads in NumPy; the
        PyTorch networks are built from the bundle on first use of ``backbone``/``head``);
        "torch" or "onnx" force one. ``adapter``: an adapter file made for this model (the on-device
        page's Teach mode, ``save_adapter``): the model answers with its adapted head.
        """
        if adapter is not None:
            from .adapter import apply_adapter
            return apply_adapter(cls.load(model_dir, device, runtime), adapter)
        model_dir = resolve_model(model_dir)
        config_path = model_dir / "config.json"
        weights_path = model_dir / "model.safetensors"
        if not model_dir.is_dir():
            raise FingerspellError(f"{model_dir}: model folder does not exist")
        if not weights_path.is_file() and (model_dir / "model" / "model.safetensors").is_file():
            return cls.load(model_dir / "model", device, runtime)  # a run folder was given
        if not config_path.is_file() or not weights_path.is_file():
            raise FingerspellError(f"{model_dir}: not a fingerspell model (expected config.json and "
                                   f"model.safetensors, as written by 'fingerspell train')")
        config = _read_bundle_config(model_dir, config_path)
        features = config.get("features") or {"mode": "image", "hand": {}}
        mode = saved_mode(features, config_path)
        hand_model = _bundle_hand_model(model_dir, mode, features.get("hand_model_sha256"))
        networks = BundleNetworks(config, config_path, weights_path)
        info = BundleInfo.from_config(config)
        try:
            hand_settings = HandSettings.from_dict(features.get("hand", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise FingerspellError(f"{config_path}: invalid 'features.hand' ({exc})") from None
        model = cls(None, None, config["classes"], info, features=mode,
                    hand_settings=hand_settings, hand_model=hand_model, networks=networks)
        model.folder = model_dir
        if device != "cpu":
            model.to(device)
        return model.use_runtime(runtime)

    def evaluate(self, data_dir: str | Path, *, json_path: str | Path | None = None,
                 out_dir: str | Path | None = None, cache_dir: Path | None = None,
                 show_progress: bool = True) -> EvalResult:
        """Score this model on the labelled images in ``data_dir`` (``<CLASS>/<image>``; the
        model's classes or a subset): ``result.accuracy``, and in ``result.report`` every
        metric (per class, per signer, calibration, risk-coverage, confusion, mistakes).
        Nothing is written unless asked: pictures and report.html to ``out_dir`` (or beside
        ``json_path``), the metrics to ``json_path``.

        Example:
            >>> result = model.evaluate("asl_alphabet_test")                # doctest: +SKIP
            >>> result.accuracy, result.report["n"]                         # doctest: +SKIP
            (1.0, 28)
        """
        from ..evaluation.run import evaluate_model
        return evaluate_model(self, data_dir, json_path=json_path, out_dir=out_dir,
                              cache_dir=cache_dir, show_progress=show_progress)

    def export(self, fmt: str = "onnx", *, int8: bool = False,
               calibration: str | Path | None = None, check: bool = True,
               out: str | Path | None = None) -> list[Path]:
        """Write the model as an ONNX graph (``model.onnx``: backbone, and the head for
        whole-image models) into its folder, or into a copy of the model at ``out`` (the
        default for built-in models: ``runs/export/NAME``); ``int8`` adds a statically quantised
        ``model.int8.onnx``, kept only if it agrees with the float model on held-out photos
        (calibrated on ``calibration`` images, or on the model's training run). Returns the
        files written. ``Model.load(folder, runtime="onnx")`` then runs it.

        ``fmt="web"``: the on-device page as a static site in ``out`` (``infer/web.export_site``).
        """
        from .export import export_graphs
        return export_graphs(self, fmt=fmt, int8=int8, calibration=calibration, check=check,
                             out=out)

    def with_head(self, head: torch.nn.Module, *, adapted: dict[str, Any]) -> Model:
        """This model with another head (an adapted one: ``adapted`` is what the bundle records
        of it); backbone, hand model, calibration and everything else shared."""
        model = type(self)(self._backbone, head, self.classes,
                           info=replace(copy.deepcopy(self.info), adapted=adapted),
                           features=self.mode, hand_settings=self.hand_settings,
                           hand_model=self.hand_model, fallback_head=self._fallback_head,
                           networks=self._networks)
        model._fallback_pending = self._fallback_pending
        model._device = self._device
        model.encoder = self.encoder
        return model

    def save_adapter(self, path: str | Path) -> Path:
        """This adapted model as an adapter file (``.fsadapter``) for its base model: what the
        on-device page imports, and ``Model.load(base, adapter=path)`` applies."""
        from .adapter import save_adapter
        return save_adapter(self, path)

    def adapt(self, paths: list[str | Path], labels: list[str], **settings: Any) -> Model:
        """This model adapted to one person's labelled photos (a few per letter; some letters
        only is fine): see ``fingerspell.infer.adapt``. ``settings``: AdaptSettings fields."""
        from ..head.adaptation import AdaptSettings
        from .adapt import adapt
        return adapt(self, [Path(p) for p in paths], list(labels),
                     AdaptSettings(**settings)).model

    # ----- inference ---------------------------------------------------------------------------
    def pipeline(self, *, mode: str | None = None, use_cache: bool = False,
                 cache_root: Path | None = None, show_progress: bool = False,
                 workers: int | None = None) -> FeaturePipeline:
        """The feature pipeline this model was trained with (``mode`` overrides, e.g. "image"
        for the fallback head); ``use_cache`` reads and fills the feature caches."""
        return FeaturePipeline(mode or self.mode, self.encoder,
                               hand_model=self.hand_model, hand_settings=self.hand_settings,
                               cache_root=cache_root, workers=workers, device=self._device,
                               show_progress=show_progress, use_cache=use_cache)

    def feature_vectors(self, paths: list[Path], *, use_cache: bool = False,
                        cache_root: Path | None = None, show_progress: bool = False
                        ) -> ModeFeatures:
        """The head's input for each image file (with the hands found and the unreadable files)."""
        workers = 0 if len(paths) < 64 else None
        return self.pipeline(use_cache=use_cache, cache_root=cache_root,
                             show_progress=show_progress, workers=workers).compute(paths)

    def head_proba(self, vectors: np.ndarray,
                   head: MLPHead | LateFusionHead | HeadArrays | None = None,
                   batch_size: int = 256) -> np.ndarray:
        """Class probabilities from ``head`` (default: the main head, with the model's
        calibrated temperature; an explicitly given head is used as it is), computed in NumPy
        on the head's weights (``head/arrays.py``): the same arithmetic as the PyTorch head,
        without PyTorch. Batches of ``batch_size`` rows keep each product small."""
        temperature = self.temperature if head is None else 1.0
        arrays = (self.head_arrays() if head is None else
                  head if isinstance(head, HeadArrays) else HeadArrays.from_module(head))
        with head_work(arrays):  # a default head: one thread (threads.py)
            out = [arrays.proba(vectors[start:start + batch_size], temperature)
                   for start in range(0, len(vectors), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def whole_image_features(self, paths: list[Path], *, use_cache: bool = False,
                             cache_root: Path | None = None) -> Callable[[list[int]], np.ndarray]:
        """For ``decide``: whole-image features of some of ``paths`` (by row)."""
        def compute(rows: list[int]) -> np.ndarray:
            pipeline = self.pipeline(mode="image", use_cache=use_cache, cache_root=cache_root)
            return pipeline.compute([paths[i] for i in rows]).vectors
        return compute

    def decide(self, features: ModeFeatures, whole_image: Callable[[list[int]], np.ndarray]
               ) -> tuple[np.ndarray, list[str]]:
        """Class probabilities and the route taken for every row of ``features`` (rows of
        unreadable images are returned too; skip them with ``features.failed``).
        ``whole_image(rows)`` gives whole-image features for the landmarks fallback head."""
        probs = self.head_proba(features.vectors)
        if not self.mode.needs_hands:
            return probs, [ROUTE_IMAGE] * len(probs)
        found = features.found
        routes = [ROUTE_HAND if f else ROUTE_NO_HAND_WHOLE_IMAGE for f in found]
        missing = [i for i in np.nonzero(~found)[0].tolist() if i not in features.failed]
        nothing = next((i for i, c in enumerate(self.classes) if c.lower() == "nothing"), None)
        if not self.mode.head_needs_hand or not missing:
            return probs, routes
        if nothing is not None:
            probs[missing] = 0.0
            probs[missing, nothing] = 1.0
            for i in missing:
                routes[i] = ROUTE_NO_HAND_NOTHING
        else:
            if self._fallback_head is None and not self._fallback_pending:
                raise FingerspellError("this landmarks model has no whole-image fallback head")
            probs[missing] = self.head_proba(whole_image(missing),
                                             self.head_arrays("fallback_head"))
        return probs, routes

    def predict(self, source: ImageSource | list[ImageSource], top_k: int = 5) -> Predictions:
        """Predict the letter in ``source``: an image file, a folder of images (searched
        recursively), a PIL image, an RGB array (``H x W x 3`` uint8), or a list of these.

        Returns ``Predictions``: a ``Prediction`` per readable image, in order (label,
        confidence, unsure, top-k, the probability vector, the hand; ``plot()``, ``save()``,
        ``to_json()``), and ``.failed``, ``{path: reason}`` for files that could not be read.
        Images in memory are named ``image 0``, ``image 1``, ...

        Example:
            >>> model = Model.load("asl-alphabet")                        # doctest: +SKIP
            >>> predictions = model.predict("photos/")                    # doctest: +SKIP
            >>> predictions[0].label, predictions[0].confidence          # doctest: +SKIP
            ('B', 0.97)
            >>> predictions.save("answers/")       # pictures + predictions.json  # doctest: +SKIP
        """
        items = list(source) if isinstance(source, (list, tuple)) else [source]
        in_memory = [isinstance(item, (Image.Image, np.ndarray)) for item in items]
        if items and all(in_memory):
            images = [image_in_memory(item, f"image {i}") for i, item in enumerate(items)]
            return Predictions([replace(p, image=image) for p, image in
                                zip(self.predict_images(images, top_k=top_k), images,
                                    strict=True)])
        if any(in_memory):
            raise FingerspellError("predict: give files and folders, or images in memory, not a "
                                   "mix of both")
        paths = expand_image_paths(items)
        answer = self.predict_proba(paths)
        predictions = [self._prediction(str(paths[i]), answer.probs[i], answer.routes[i],
                                        answer.features, i, top_k) for i in answer.answered]
        failed = {str(paths[i]): reason for i, reason in answer.failed.items()}
        return Predictions(predictions, failed)

    def predict_proba(self, paths: list[Path], *, use_cache: bool = False,
                      cache_root: Path | None = None, show_progress: bool = False
                      ) -> Probabilities:
        """The one path from image files to answers that ``predict`` and ``evaluate`` share:
        features (hand, crop, landmarks; cached when ``use_cache``), the head with the model's
        temperature, and the no-hand rule (``nothing``, or the whole-image fallback head)."""
        features = self.feature_vectors(paths, use_cache=use_cache, cache_root=cache_root,
                                 show_progress=show_progress)
        probs, routes = self.decide(features, self.whole_image_features(
            paths, use_cache=use_cache, cache_root=cache_root))
        return Probabilities(probs, routes, features)

    def detector(self, *, video: bool = False,
                 passes_per_frame: int | None = None) -> HandDetector | None:
        """This model's hand detector (None for image features); close it when done.
        ``video``: MediaPipe's VIDEO mode, tracking the hand across frames given in time order
        (``predict_images(..., timestamp=t)``); ``passes_per_frame``: a stream's bound on the
        detection passes per frame (``HandDetector``)."""
        if not self.mode.needs_hands:
            return None
        assert self.hand_model is not None
        return HandDetector(self.hand_model, self.hand_settings, video=video,
                            passes_per_frame=passes_per_frame)

    def predict_images(self, images: list[Image.Image], *, detector: HandDetector | None = None,
                       top_k: int = 5, names: list[str] | None = None,
                       timestamp: float | None = None) -> list[Prediction]:
        """Predict decoded images in memory (stream frames, uploads); ``detector`` (from
        ``self.detector()``) is reused across calls when given; ``timestamp`` is the frame's
        time for a VIDEO-mode detector."""
        own = detector is None and self.mode.needs_hands
        detector = self.detector() if own else detector
        try:
            hands: list[Hand | None] = ([detector.find(image, timestamp) for image in images]
                                        if detector is not None else [None] * len(images))
        finally:
            if own and detector is not None:
                detector.close()
        margin = self.hand_settings.margin
        features = ModeFeatures(image_vectors(self.mode, self.encoder, images, hands, margin),
                                hands=hands if self.mode.needs_hands else None)

        def whole_image(rows: list[int]) -> np.ndarray:
            return image_vectors("image", self.encoder, [images[i] for i in rows],
                                 [None] * len(rows), margin)

        probs, routes = self.decide(features, whole_image)
        names = names or [f"image {i}" for i in range(len(images))]
        return [self._prediction(names[i], probs[i], routes[i], features, i, top_k)
                for i in range(len(images))]

    def _prediction(self, name: str, probs: np.ndarray, route: str, features: ModeFeatures,
                    index: int, top_k: int) -> Prediction:
        order = np.argsort(-probs)[:max(1, top_k)]
        top = [(self.classes[i], round(float(probs[i]), 6)) for i in order]
        hand = features.hands[index] if features.hands is not None else None
        return Prediction(name, top[0][0], top[0][1], top, route, hand,
                          unsure=top[0][1] < self.unsure_below, probs=probs)


def _read_bundle_config(model_dir: Path, config_path: Path) -> dict[str, Any]:
    """``config.json``, checked: a fingerspell bundle of a version this one reads, every field
    present and typed, and the hand model a hand-based bundle needs beside it."""
    config = read_config(config_path)
    if config.get("format") != BUNDLE_FORMAT:
        raise FingerspellError(f"{config_path}: not a fingerspell model config")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or version < 1:
        raise FingerspellError(f"{config_path}: no valid format_version ({version!r})")
    if version > BUNDLE_VERSION:
        raise FingerspellError(f"{model_dir}: model format {version} is newer "
                               f"than this fingerspell ({__version__}) understands; upgrade")
    features = config.get("features") or {"mode": "image", "hand": {}}
    named = features.get("mode") if isinstance(features, dict) else None
    if named in HAND_MODES and not (model_dir / HAND_MODEL_FILE).is_file() \
            and not is_builtin(model_dir):
        raise FingerspellError(f"{model_dir}: {named} model without its {HAND_MODEL_FILE}")
    check_config(config, config_path)
    return config


def _bundle_hand_model(model_dir: Path, mode: FeatureMode, recorded: str | None) -> Path | None:
    """The hand model a bundle was trained with: its own copy, checked against the checksum
    recorded at training; a built-in bundle without a copy (a source checkout) looks it up as
    training does and the checksum decides."""
    if not mode.needs_hands:
        return None
    own = model_dir / HAND_MODEL_FILE
    if own.is_file():
        if recorded and file_digest(own) != recorded:
            raise FingerspellError(f"{own}: differs from the hand model this model was trained "
                                   f"with (sha256 mismatch); restore the bundle's own copy")
        return own
    if not recorded:  # a built-in bundle names its hand model by checksum; without one, broken
        raise FingerspellError(f"{model_dir}: {mode.name} model without its {HAND_MODEL_FILE}")
    found = resolve_hand_model()
    if file_digest(found) != recorded:
        raise FingerspellError(f"{found}: not the hand model built-in model {model_dir.name} was "
                               f"trained with (sha256 {recorded[:12]}…); point "
                               f"${HAND_MODEL_ENV} at that hand_landmarker.task")
    return found


def evaluate(model: Model | str | Path, data_dir: str | Path, *, device: str = "cpu",
             **options: Any) -> EvalResult:
    """``fingerspell.evaluate``: ``Model.evaluate`` for a ``Model``, a model folder or a built-in
    name (loaded on ``device``); ``options`` are ``Model.evaluate``'s.

    Example:
        >>> result = fingerspell.evaluate("asl-alphabet", "asl_alphabet_test")  # doctest: +SKIP
        >>> result.accuracy                                                # doctest: +SKIP
        1.0
    """
    if not isinstance(model, Model):
        model = Model.load(model, device=device)
    return model.evaluate(data_dir, **options)
