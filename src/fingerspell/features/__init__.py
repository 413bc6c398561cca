"""Features: frozen pretrained backbones, their preprocessing, batch extraction and the cache."""

from .backbones import (
           BackboneSpec,
           FrozenBackbone,
           create_backbone,
           get_spec,
           list_backbones,
           register_backbone,
)
from .cache import FeatureCache, default_cache_dir
from .extract import Features, extract_features, resolve_device
from .preprocessing import Preprocessing

__all__ = ["BackboneSpec", "FeatureCache", "Features", "FrozenBackbone", "Preprocessing",
           "create_backbone", "default_cache_dir", "extract_features", "get_spec", "list_backbones",
           "register_backbone", "resolve_device"]
