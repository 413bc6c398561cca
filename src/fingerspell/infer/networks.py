"""A bundle's networks, read when first needed.

Answering needs only the heads' weights (as arrays: ``head/arrays.py``) and the backbone as an
ONNX graph, so ``Model.load`` reads those and nothing else: a prediction never imports PyTorch.
The PyTorch backbone and heads are built from the same file on first use by work that needs
them (training, adapting, fine-tuning, export, Grad-CAM, another device).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FingerspellError
from ..features.cache import cache_namespace
from ..features.onnx_runtime import GraphSpec, cached_graph
from ..features.preprocessing import Preprocessing
from ..head.arrays import HeadArrays
from .bundle import MAX_WEIGHTS_BYTES, check_weight_shapes

if TYPE_CHECKING:
    from ..features.backbones import FrozenBackbone
    from ..head.heads import LateFusionHead, MLPHead

PRETRAINED = "pretrained"  # config.json's backbone "weights" when the bundle refers to them


class BundleNetworks:
    """The networks of a checked ``config.json`` and its weights file (sizes and shapes are
    checked from the file's header here, before anything is allocated)."""

    def __init__(self, config: dict[str, Any], config_path: Path, weights_path: Path) -> None:
        size = weights_path.stat().st_size
        if size > MAX_WEIGHTS_BYTES:
            raise FingerspellError(f"{weights_path}: {size / 1e9:.1f} GB is more than a model "
                                   f"bundle holds ({MAX_WEIGHTS_BYTES / 1e9:.0f} GB)")
        from safetensors import SafetensorError
        try:
            check_weight_shapes(weights_path, "head.", config["head"])
            if config.get("fallback_head"):
                check_weight_shapes(weights_path, "fallback_head.", config["fallback_head"])
        except (SafetensorError, OSError) as exc:
            raise FingerspellError(f"{weights_path}: unreadable weights ({exc})") from None
        try:
            self.preprocessing = Preprocessing.from_dict(config["preprocessing"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FingerspellError(f"{config_path}: invalid 'preprocessing' ({exc})") from None
        self.config = config
        self.config_path = config_path
        self.weights_path = weights_path
        self._arrays: dict[str, np.ndarray] | None = None
        self._torch: tuple[FrozenBackbone, MLPHead | LateFusionHead, MLPHead | None] | None = None

    @property
    def graph_spec(self) -> GraphSpec:
        backbone = self.config["backbone"]
        return GraphSpec(backbone["name"], self.preprocessing, backbone["feature_dim"])

    @property
    def weights_id(self) -> str:
        return self.config["backbone"]["weights_id"]

    def cached_graph(self, cache_root: Path | None = None) -> Path | None:
        """The backbone's ONNX graph in the feature cache (written by extraction with ONNX
        Runtime: ``features/onnx_runtime.cached_onnx_encoder``), for a bundle that refers to
        its backbone's packaged weights (the cache's graph is named by those weights' hash);
        None if there is none."""
        if self.config["backbone"].get("weights") != PRETRAINED:
            return None
        path = cached_graph(cache_namespace(self.graph_spec, self.weights_id), cache_root)
        return path if path.is_file() else None

    def head_arrays(self, prefix: str = "head.") -> HeadArrays:
        """The head (``head.``) or the fallback head (``fallback_head.``) as arrays."""
        if self._arrays is None:
            from safetensors import SafetensorError, safe_open
            try:  # the heads' tensors only: a bundle that holds its backbone is mostly that
                with safe_open(str(self.weights_path), framework="numpy") as stored:
                    self._arrays = {k: stored.get_tensor(k) for k in stored.keys()
                                    if not k.startswith("backbone.")}
            except (SafetensorError, OSError) as exc:
                raise FingerspellError(f"{self.weights_path}: unreadable weights ({exc})") from None
        return HeadArrays.from_state(self.config[prefix.rstrip(".")],
                                     _strip(self._arrays, prefix))

    def torch(self) -> tuple[FrozenBackbone, MLPHead | LateFusionHead, MLPHead | None]:
        """The backbone (stored in the bundle, or the packaged weights it refers to, checked by
        content hash), the head and the fallback head, in PyTorch (built once)."""
        if self._torch is None:
            self._torch = _torch_networks(self.config, self.config_path, self.weights_path,
                                          self.preprocessing)
        return self._torch


def _torch_networks(config: dict[str, Any], config_path: Path, weights_path: Path,
                    saved: Preprocessing
                    ) -> tuple[FrozenBackbone, MLPHead | LateFusionHead, MLPHead | None]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..features.backbones import FrozenBackbone, create_backbone, get_spec
    from ..head.heads import HeadConfig, MLPHead, head_from_config
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise FingerspellError(f"{weights_path}: unreadable weights ({exc})") from None
    spec = get_spec(config["backbone"]["name"])
    head = head_from_config(config["head"])
    fallback = (MLPHead(HeadConfig.from_dict(config["fallback_head"]))
                if config.get("fallback_head") else None)
    referred = config["backbone"].get("weights") == PRETRAINED
    if referred:
        backbone = create_backbone(spec.name)  # the package's file, checked by SHA-256
        if backbone.weights_id != config["backbone"]["weights_id"]:
            raise FingerspellError(f"{config_path}: the {spec.name} weights installed "
                                   f"({spec.weights_source}) differ from those this model "
                                   f"was trained with; reinstall that package's version")
    try:
        if not referred:
            net = spec.build()
            net.load_state_dict(_strip(tensors, "backbone."))
            backbone = FrozenBackbone(spec, net, config["backbone"]["weights_id"])
        head.load_state_dict(_strip(tensors, "head."))
        if fallback is not None:
            fallback.load_state_dict(_strip(tensors, "fallback_head."))
    except RuntimeError as exc:
        raise FingerspellError(f"{weights_path}: weights do not match config.json "
                               f"({' '.join(str(exc).split())[:200]})") from None
    if saved != spec.preprocessing:
        raise FingerspellError(f"{config_path}: preprocessing differs from backbone "
                               f"{spec.name}'s in this version of fingerspell")
    return backbone, head.eval(), fallback.eval() if fallback is not None else None


def require_packaged_weights(backbone: FrozenBackbone) -> None:
    """A bundle may leave out only weights that a package ships, unchanged."""
    spec = backbone.spec
    if not spec.offline:
        raise FingerspellError(f"backbone {spec.name}: its weights do not ship with a package; "
                               f"the bundle must hold them")
    if not packaged_backbone(backbone):
        raise FingerspellError(f"backbone {spec.name}: weights differ from {spec.weights_source}'s"
                               f" (fine-tuned?); the bundle must hold them")


def packaged_backbone(backbone: FrozenBackbone) -> bool:
    """True if ``backbone``'s weights are exactly those its package ships: a bundle saved with
    ``store_backbone=False`` may then refer to them instead of holding them."""
    from ..features.backbones import pretrained_weights_id
    return backbone.spec.offline and \
        pretrained_weights_id(backbone.spec.name) == backbone.weights_id


def _strip(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
