"""Fuzzing every way an image gets in (issue 26): generated files of extreme sizes and aspect
ratios (1xN, Nx1 up to the pixel bound), every Pillow mode, EXIF orientations, animation,
truncation, corruption and bombs, sent to the decoders, the model, ``predict``, ``adapt``,
``/v1/predict``, Teach examples and ``/v1/stream``.

The property everywhere: a one-line refusal or an answer, never a traceback or a 500, and the
next good request is answered right. The examples are derandomised so that CI is repeatable;
``benchmarks/fuzz.py`` runs the same generator for longer with fresh randomness."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import run_cli
from .hostile_inputs import EXTREME_SIZES, FORMATS, MODES, odd_image, png_declaring, strip_png
from .test_serve_survives import good_photo, served  # noqa: F401 (the module's server)

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
# a client may answer with any of these; a 500 (or a dropped connection) is never right
CLIENT_ERRORS = {400, 409, 413, 415, 422}

@st.composite
def image_files(draw: st.DrawFn) -> bytes:
    """Bytes of an image file: most small and varied, some at the extremes."""
    width, height = draw(st.one_of(
        st.tuples(st.integers(1, 260), st.integers(1, 260)),
        st.sampled_from(EXTREME_SIZES)))
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    return odd_image(width, height, draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS)),
                     orientation=draw(st.one_of(st.none(), st.integers(0, 9))),
                     frames=draw(st.sampled_from([1, 1, 1, 3])),
                     truncate=draw(st.floats(0.05, 0.95)) if damage == "truncate" else None,
                     flip=draw(st.integers(1, 40)) if damage == "flip" else 0,
                     seed=draw(st.integers(0, 2**16)))


BOMB = png_declaring(9990, 9990)
STRIP = strip_png()  # issue 26's PNG that broke the server until a restart


@settings(FUZZ, max_examples=150)
@given(data=image_files())
@example(data=BOMB)
@example(data=STRIP)
@example(data=b"")
@example(data=b"GIF89a" + b"\0" * 20)
def test_decoders_refuse_in_one_line_or_give_rgb(data: bytes, tmp_path_factory) -> None:
    """Uploads (``decode_image``) and files (``load_rgb``) follow one size rule."""
    from fingerspell.data.images import MAX_ASPECT, MIN_SIDE, load_rgb
    from fingerspell.errors import ImageError
    from fingerspell.serve.uploads import BadInput, decode_image
    try:
        image = decode_image(data)
    except BadInput as exc:
        assert exc.status in (413, 415) and "\n" not in str(exc)
    else:
        assert image.mode == "RGB" and min(image.size) >= MIN_SIDE
        assert max(image.size) <= MAX_ASPECT * min(image.size)
    path = tmp_path_factory.mktemp("fuzz") / "file.png"
    path.write_bytes(data)
    try:
        image = load_rgb(path)
    except ImageError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        assert image.mode == "RGB" and min(image.size) >= MIN_SIDE


@pytest.fixture(scope="module")
def builtin(hand_model: Path):
    from fingerspell.infer import Model
    model = Model.load("asl-alphabet")
    with model.detector() as detector:
        yield model, detector


@settings(FUZZ, max_examples=40)
@given(data=image_files())
def test_the_model_answers_every_image_that_decodes(builtin, data: bytes) -> None:
    from fingerspell.serve.uploads import BadInput, decode_image
    model, detector = builtin
    try:
        image = decode_image(data)
    except BadInput:
        return
    prediction = model.predict_images([image], detector=detector, top_k=3)[0]
    assert prediction.label in model.classes and 0.0 <= prediction.confidence <= 1.0


def check_server_healthy(base: str) -> None:
    """The next good request is answered right and /healthz says so."""
    photo, letter = good_photo()
    answer = httpx.post(f"{base}/v1/predict", content=photo, timeout=60)
    assert answer.status_code == 200 and answer.json()["label"] == letter
    assert httpx.get(f"{base}/healthz", timeout=60).json() == {"status": "ok"}


@settings(FUZZ, max_examples=30)
@given(data=image_files(), multipart=st.booleans())
@example(data=STRIP, multipart=False)
@example(data=BOMB, multipart=True)
def test_predict_endpoint_never_answers_500(served, data: bytes,  # noqa: F811
                                            multipart: bool) -> None:
    base = served[0]
    reply = (httpx.post(f"{base}/v1/predict", files={"file": ("x", data)}, timeout=60)
             if multipart else httpx.post(f"{base}/v1/predict", content=data, timeout=60))
    assert reply.status_code == 200 or reply.status_code in CLIENT_ERRORS, reply.text
    if reply.status_code != 200:
        assert reply.json()["detail"]


@settings(FUZZ, max_examples=20)
@given(data=image_files())
@example(data=STRIP)
def test_teach_examples_never_answer_500(served, data: bytes) -> None:  # noqa: F811
    reply = httpx.post(f"{served[0]}/v1/profiles/fuzz/examples?label=B", content=data,
                       timeout=60)
    assert reply.status_code == 200 or reply.status_code in CLIENT_ERRORS, reply.text


def test_the_server_is_healthy_after_the_fuzzing(served) -> None:  # noqa: F811
    check_server_healthy(served[0])


@settings(FUZZ, max_examples=1)
@given(frames=st.lists(image_files(), min_size=30, max_size=30))
def test_a_stream_answers_every_fuzzed_frame(served, frames: list[bytes]) -> None:  # noqa: F811
    """Frames from the same generator on one stream: each answered (an error or a letter), the
    stream stays open, and a good frame afterwards is read right."""
    from websockets.sync.client import connect
    photo, letter = good_photo()
    with connect(served[0].replace("http", "ws") + "/v1/stream", open_timeout=30,
                 max_size=None) as ws:
        for frame in frames:
            ws.send(frame or b"\0")  # an empty binary message: still a frame to refuse
            answer = json.loads(ws.recv(timeout=60))
            assert "label" in answer or answer["error"].startswith("bad frame"), answer
        ws.send(photo)
        assert json.loads(ws.recv(timeout=60))["label"] == letter
    check_server_healthy(served[0])


@settings(FUZZ, max_examples=1)
@given(files=st.lists(image_files(), min_size=24, max_size=24))
def test_predict_and_adapt_on_a_folder_of_fuzzed_files(tmp_path: Path, hand_model: Path,
                                                       files: list[bytes]) -> None:
    """The CLI on 24 generated files (two letters' folders): one line per unusable file, an
    answer for each other, no traceback."""
    data = tmp_path / "data"
    for i, content in enumerate(files):
        path = data / "AB"[i % 2] / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    result = run_cli("predict", "asl-alphabet", str(data), "--json")
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    answered = json.loads(result.stdout)
    refused = [line for line in result.stderr.splitlines() if line.startswith("fingerspell: ")]
    assert len(answered) + len(refused) == 24, result.stderr
    adapted = run_cli("adapt", "asl-alphabet", str(data), "--out", str(tmp_path / "adapted"))
    assert adapted.returncode in (0, 2) and "Traceback" not in adapted.stderr, adapted.stderr
