"""Features: frozen pretrained backbones, their preprocessing, batch extraction and the cache.

The names below load on first use, so that importing a light module of this package (such as
``feature_mode``) does not import PyTorch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "BackboneSpec": ".backbones", "FrozenBackbone": ".backbones", "create_backbone": ".backbones",
    "get_spec": ".backbones", "list_backbones": ".backbones", "register_backbone": ".backbones",
    "FeatureCache": ".cache", "default_cache_dir": ".cache",
    "Features": ".extract", "extract_features": ".extract", "resolve_device": ".extract",
    "Preprocessing": ".preprocessing",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
