"""The tutorial's recipe as a preset, through the Python API, with a local VGG16 weights file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import fingerspell
from fingerspell.head import PRESETS
from fingerspell.infer import Model

from .conftest import link_subset


def test_seed_preset_is_the_tutorial_recipe() -> None:
    assert PRESETS["seed"].features == "image"  # the tutorial reads whole photos
    seed = PRESETS["seed"].recipe()
    assert (seed.backbone, seed.hidden, seed.dropout) == ("vgg16", (8192, 4096), (0.8, 0.5))
    assert (seed.optimizer, seed.lr, seed.momentum, seed.batch_size, seed.epochs) == \
        ("sgd", 1e-3, 0.0, 32, 15)
    assert seed.label_smoothing == 0 and not seed.normalize and seed.schedule == "constant"


def test_seed_preset_trains_with_local_vgg16_file(shared_train: Path, tmp_path: Path) -> None:
    import torchvision
    weights = tmp_path / "vgg16-local.pth"  # stands in for a downloaded torchvision checkpoint
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), weights)
    data = link_subset(shared_train, tmp_path / "data", ["A", "B"], per_class=10, step=10)

    result = fingerspell.train(data, tmp_path / "run", preset="seed", weights=str(weights),
                               epochs=1, keep_epochs=1, show_progress=False)
    assert result.config.recipe.backbone == "vgg16"
    model = Model.load(result.model_dir)
    layers = [m for m in model.head.layers if not isinstance(m, nn.Identity)]
    shapes = [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)]
    assert shapes == [(25088, 8192), (8192, 4096), (4096, 2)]
    assert [m.p for m in layers if isinstance(m, nn.Dropout)] == [0.0, 0.8, 0.5]
    assert not any(p.requires_grad for p in model.backbone.parameters())
    predictions = model.predict([s for s in (data / "A").iterdir()][:2])
    failed = predictions.failed
    assert not failed and all(p.label in ("A", "B") for p in predictions)
