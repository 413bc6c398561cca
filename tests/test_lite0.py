"""The default backbone's own build (features/lite0.py) matches timm's tf_efficientnet_lite0."""

import pytest
import torch

from fingerspell.features.backbones import get_spec
from fingerspell.features.lite0 import EfficientNetLite0

timm = pytest.importorskip("timm")


@pytest.fixture(scope="module")
def both() -> tuple[torch.nn.Module, torch.nn.Module]:
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    ours = EfficientNetLite0().eval()
    spec = get_spec("efficientnet_lite0")
    weights = spec.convert(spec.pretrained())
    reference.load_state_dict(weights)
    ours.load_state_dict(weights)
    return reference, ours


def test_same_parameters_in_the_same_order(both):
    reference, ours = both
    assert [(k, v.shape) for k, v in reference.state_dict().items()] == \
        [(k, v.shape) for k, v in ours.state_dict().items()]


@pytest.mark.parametrize("size", [224, 200, 97])  # odd sizes exercise TensorFlow's SAME padding
def test_same_features_as_timm(both, size):
    reference, ours = both
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    with torch.no_grad():
        expected, got = reference(images), ours(images)
    assert got.shape == (2, 1280)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_finetuning_blocks_as_timm_groups_them(both):
    from timm.models import group_parameters
    reference, ours = both
    groups = group_parameters(reference, reference.group_matcher(coarse=False))
    assert ours.parameter_groups() == [groups[k] for k in sorted(groups)]
