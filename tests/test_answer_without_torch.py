"""A model answers without PyTorch: its heads in NumPy (head/arrays.py), its backbone as an ONNX
graph (the bundle's model.onnx, as the wheel ships the built-in, or the cache's graph of the
same weights), MediaPipe without the parts hand detection does not use (issue 24)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fingerspell.head.arrays import HeadArrays
from fingerspell.head.config import HeadConfig
from fingerspell.head.heads import LateFusionHead, MLPHead
from fingerspell.infer import Model
from fingerspell.infer.builtin import resolve_model

from .conftest import HAND_MODEL, SHARED_TEST

PHOTOS = [SHARED_TEST / f"{letter}_test.jpg" for letter in "ABCLVY"]


def _with_weights(head: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``head`` with every weight and normalisation drawn at random (nothing at its start)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in head.state_dict().items():
            drawn = torch.randn(tensor.shape, generator=generator)
            tensor.copy_(drawn.abs() + 0.5 if name.endswith("feature_std") else drawn * 0.3)
    return head.eval()


HEADS = {
    "linear": lambda: MLPHead(HeadConfig(in_dim=12, n_classes=5)),
    "hidden, normalised": lambda: MLPHead(HeadConfig(in_dim=12, n_classes=5, hidden=(16, 8),
                                                     dropout=(0.3, 0.1), normalize=True)),
    "fusion": lambda: LateFusionHead(
        MLPHead(HeadConfig(in_dim=10, n_classes=5)),
        MLPHead(HeadConfig(in_dim=6, n_classes=5, hidden=(16,), dropout=(0.3,), normalize=True)),
        landmark_weight=0.8),
}


@pytest.mark.parametrize("kind", HEADS)
def test_heads_answer_in_numpy_as_in_pytorch(kind: str) -> None:
    head = _with_weights(HEADS[kind](), seed=len(kind))
    in_dim = head.config.in_dim
    features = np.random.default_rng(1).normal(size=(40, in_dim)).astype(np.float32)
    if kind == "fusion":
        features[:, -1] = np.arange(40) % 3 > 0  # some rows without a hand: the crop head alone
    arrays = HeadArrays.from_module(head)
    assert arrays.config.weight_shapes() == {k: tuple(v.shape) for k, v in head.state_dict().items()}
    with torch.no_grad():
        expected = head(torch.from_numpy(features))
        expected_proba = (expected / 0.7).softmax(-1).numpy()
    np.testing.assert_allclose(arrays.scores(features), expected.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(arrays.proba(features, 0.7), expected_proba, atol=1e-6)


@pytest.fixture(scope="module")
def backbone_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in's backbone as the cache keeps it (exported from PyTorch once)."""
    from fingerspell.features.backbones import create_backbone
    from fingerspell.features.onnx_runtime import cached_onnx_encoder
    cache = tmp_path_factory.mktemp("graph-cache")
    return cached_onnx_encoder(create_backbone("efficientnet_lite0"), cache).path


def _answer_in_a_process_without_torch(model: str | Path, env: dict[str, str]) -> list[dict]:
    """``fingerspell predict --json`` in a new process where importing PyTorch fails."""
    code = ("import sys\nsys.modules['torch'] = None  # any import of PyTorch now fails\n"
            "from fingerspell.cli import main\nsys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "predict", str(model), *map(str, PHOTOS),
                           "--json"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_bundle_with_its_graph_answers_without_pytorch(hand_model, backbone_graph, tmp_path
                                                          ) -> None:
    """As the wheel ships the built-in: config, heads and ``model.onnx`` (no cache at all)."""
    if not all(p.is_file() for p in PHOTOS):
        pytest.skip(f"shared test photos not available in {SHARED_TEST}")
    bundle = tmp_path / "asl-alphabet"
    shutil.copytree(resolve_model("asl-alphabet"), bundle)
    shutil.copyfile(HAND_MODEL, bundle / "hand_landmarker.task")
    shutil.copyfile(backbone_graph, bundle / "model.onnx")
    empty_cache = tmp_path / "empty-cache"
    answers = _answer_in_a_process_without_torch(bundle, {"FINGERSPELL_CACHE": str(empty_cache)})
    expected = Model.load(bundle, runtime="torch").predict(PHOTOS)
    assert [a["label"] for a in answers] == [p.label for p in expected]
    assert [a["label"] for a in answers] == [p.name.split("_test")[0] for p in PHOTOS]
    got = np.asarray([a["confidence"] for a in answers])
    np.testing.assert_allclose(got, [p.confidence for p in expected], atol=2e-3)


def test_the_builtin_uses_the_cached_graph_of_its_weights(hand_model, backbone_graph,
                                                          monkeypatch) -> None:
    """In a source checkout the built-in has no model.onnx: the cache's graph of the same
    weights serves (written by any extraction); the PyTorch networks are built only if asked."""
    cache = str(backbone_graph.parents[1])
    answers = _answer_in_a_process_without_torch("asl-alphabet", {"FINGERSPELL_CACHE": cache})
    assert [a["label"] for a in answers] == [p.name.split("_test")[0] for p in PHOTOS]
    monkeypatch.setenv("FINGERSPELL_CACHE", cache)
    model = Model.load("asl-alphabet")
    assert model.runtime == "onnx" and model._backbone is None and model._head is None
    from_file = model.head_arrays()
    built = HeadArrays.from_module(model.head)  # now built in PyTorch, from the same file
    assert from_file.weights.keys() == built.weights.keys()
    for name, weights in from_file.weights.items():
        np.testing.assert_array_equal(weights, built.weights[name])
    assert model.backbone.weights_id == model.weights_id


def test_mediapipe_parts_left_unloaded_still_work_when_used() -> None:
    """Hand detection imports MediaPipe without its drawing and audio modules (0.5 s): they
    load on first use, whole."""
    code = ("import sys\nfrom fingerspell.features.hands import import_mediapipe\n"
            "import_mediapipe()\nprint('matplotlib' in sys.modules)\n"
            "from mediapipe.tasks.python.vision import drawing_utils\n"
            "print(callable(drawing_utils.draw_landmarks), 'matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
