"""The thread policy (threads.py): small work on one thread whatever the process has, bulk work
on the configured count, live and serve on one. If a code path loses the policy, these fail:
each records ``torch.get_num_threads()`` from inside the work itself."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import torch

from fingerspell.head.adaptation import AdaptSettings, adapt_head
from fingerspell.head.heads import HeadConfig, MLPHead
from fingerspell.head.recipes import Recipe
from fingerspell.threads import THREADS_ENV, bulk_threads, torch_threads
from fingerspell.training.loop import fit_head

from .conftest import FINGERSPELL, noise_image


class Recorder(MLPHead):
    """A head that notes the thread count each time it runs."""

    seen: list[int]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.get_num_threads())
        return super().forward(features)


def recorder() -> Recorder:
    head = Recorder(HeadConfig(in_dim=8, n_classes=3, hidden=(16,), dropout=(0.0,)))
    head.seen = []
    return head


def test_head_fitting_and_adapting_run_on_one_thread() -> None:
    x = torch.randn(48, 8)
    y = torch.arange(48) % 3
    with torch_threads(2):  # what a 2-core machine's PyTorch starts with
        head = recorder()
        fit_head(head, Recipe(epochs=2, batch_size=16), x, y, x[:6], y[:6], seed=0,
                 show_progress=False)
        assert head.seen and set(head.seen) == {1}
        adapted = adapt_head(head, x.numpy()[:9], np.asarray(y[:9]), AdaptSettings(steps=3))
        assert set(adapted.seen) == {1}
        assert torch.get_num_threads() == 2  # put back afterwards


def test_a_head_as_large_as_the_tutorials_gets_the_bulk_threads(monkeypatch) -> None:
    """Threads pay for a head of millions of weights (the seed preset's dense 8192/4096)."""
    monkeypatch.setenv(THREADS_ENV, "2")
    head = Recorder(HeadConfig(in_dim=2048, n_classes=3, hidden=(2048,), dropout=(0.0,)))
    head.seen = []
    x, y = torch.randn(8, 2048), torch.arange(8) % 3
    with torch_threads(1):
        fit_head(head, Recipe(epochs=1, batch_size=8), x, y, x, y, seed=0, show_progress=False)
    assert set(head.seen) == {2}


def test_bulk_work_follows_the_setting(monkeypatch, tmp_path) -> None:
    from fingerspell.features import create_backbone, extract_features
    backbone = create_backbone("efficientnet_lite0")
    seen: list[int] = []
    encode = backbone.encode

    def recording(images):
        seen.append(torch.get_num_threads())
        return encode(images)

    monkeypatch.setattr(backbone, "encode", recording)
    monkeypatch.setenv(THREADS_ENV, "3")
    paths = [noise_image(tmp_path / f"{i}.jpg", seed=i) for i in range(2)]
    with torch_threads(1):
        extract_features(backbone, paths, cache=None, workers=0, show_progress=False)
        assert torch.get_num_threads() == 1
    assert seen == [3] and bulk_threads() == 3


def test_a_bad_thread_setting_is_one_line(tmp_path) -> None:
    result = subprocess.run([str(FINGERSPELL), "predict", "asl-alphabet",
                             str(noise_image(tmp_path / "x.jpg"))], capture_output=True,
                            text=True, env={**os.environ, THREADS_ENV: "lots"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "FINGERSPELL_THREADS='lots': a thread count must be a positive integer" in result.stderr


@pytest.mark.parametrize(("setting", "threads"), [(None, 1), ("2", 2)])
def test_serve_answers_on_one_thread_per_request(hand_model, monkeypatch, setting,
                                                 threads) -> None:
    """``serve`` (and ``live``) put the process on one thread before the model loads, unless
    the user asks for more: the server says how many it runs with."""
    import httpx

    from .test_serve import start_server
    if setting is None:
        monkeypatch.delenv(THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(THREADS_ENV, setting)
    process, base = start_server("asl-alphabet")
    try:
        assert httpx.get(f"{base}/v1/model").json()["threads"] == threads
    finally:
        process.terminate()
        process.wait(timeout=30)


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_a_head_answers_on_one_blas_thread(monkeypatch) -> None:
    """Heads answer in NumPy (head/arrays.py): its BLAS gets one thread there, as PyTorch does
    for fitting, and gets its count back afterwards."""
    from fingerspell.head.arrays import HeadArrays
    from fingerspell.infer import Model
    from fingerspell.threads import blas_threads, small_work

    seen: list[int] = []
    proba = HeadArrays.proba

    def recording(self, features, temperature=1.0):
        seen.append(_blas_threads())
        return proba(self, features, temperature)

    monkeypatch.setattr(HeadArrays, "proba", recording)
    with small_work():  # fingerspell has looked at the BLAS libraries loaded so far ...
        pass
    pytest.importorskip("scipy.linalg")  # ... then another may arrive: SciPy brings its own
    model = Model.load("asl-alphabet")
    vectors = np.random.default_rng(0).normal(size=(600, model.head_arrays().config.in_dim))
    with blas_threads(2):
        model.head_proba(vectors.astype(np.float32))
        assert _blas_threads() == 2
    assert seen and set(seen) == {1}
