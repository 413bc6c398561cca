"""The on-device page (``fingerspell export MODEL --format web``) in headless Chromium against
Python: on the shared letter clips, frame by frame, the page finds the hand where ``live`` does
and answers the same top letter, and spells the same text; on shared photos it answers as
``predict``; with a fake camera showing a clip it spells the clip's letter, asking nothing of
any address but its own folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from fingerspell.errors import FingerspellError
from fingerspell.infer import Model
from fingerspell.infer.adapter import apply_adapter
from fingerspell.infer.web import SITE_CONFIG
from fingerspell.infer.web_runtime import WEB_RUNTIME_ENV
from fingerspell.live.stream import frames_from, video_fps

from .browser import (
    RECOGNIZE_PHOTOS,
    REPLAY_CLIPS,
    chromium,
    fake_camera,
    live_answers,
    open_site,
    served,
    write_y4m,
)
from .conftest import link_subset, run_cli
from .test_serve import start_server

CLIPS = ("A", "B", "C", "L", "Y")
MIN_AGREEMENT = 0.97  # the bar: top-1 letters on frames where both found a hand


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, hand_model: Path) -> Path:
    """The built-in exported as a site by the command line (the browser libraries from the
    npm install make setup made)."""
    if shutil.which("npm") is None and not os.environ.get(WEB_RUNTIME_ENV):
        pytest.skip("npm is not installed: the page's browser libraries cannot be installed")
    out = tmp_path_factory.mktemp("site") / "asl-alphabet-web"
    result = run_cli("export", "asl-alphabet", "--format", "web", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote the on-device page to {out} (")
    return out


def _clip_frames(videos: Path, letter: str) -> list[tuple[float, object]]:
    return list(frames_from(video=videos / f"{letter}.mp4"))


def test_page_answers_and_spells_clips_as_live(site: Path, shared_test: Path) -> None:
    videos = shared_test.parents[1] / "videos" / "letters"
    if not all((videos / f"{c}.mp4").is_file() for c in CLIPS):
        pytest.skip(f"letter videos not available: {videos} is absent")
    model = Model.load("asl-alphabet")
    clips, expected = [], []
    for letter in CLIPS:
        frames = _clip_frames(videos, letter)
        folder = site / "frames" / letter  # lossless copies: both sides see the same pixels
        folder.mkdir(parents=True)
        urls = []
        for i, (t, frame) in enumerate(frames):
            frame.save(folder / f"{i:04d}.png")
            urls.append([t, f"./frames/{letter}/{i:04d}.png"])
        clips.append({"frames": urls})
        expected.append(live_answers(model, frames))
    with served(site) as url, chromium() as browser:
        got = open_site(browser, url).evaluate(REPLAY_CLIPS, clips)
    both = agree = hands_same = total = 0
    for (answers, text), page in zip(expected, got, strict=True):
        assert page["text"] == text  # the same spelled text, clip by clip
        for want, have in zip(answers, page["frames"], strict=True):
            total += 1
            hands_same += (want.hand is not None) == have["hand"]
            if want.hand is not None and have["hand"]:
                both += 1
                agree += want.label == have["label"]
    assert "".join(text for _, text in expected) == "".join(CLIPS)  # Python spells them
    assert both >= 0.8 * total
    assert hands_same >= 0.95 * total
    assert agree >= MIN_AGREEMENT * both, f"top-1 agrees on {agree} of {both} frames"


def test_page_answers_photos_as_predict(site: Path, shared_test: Path) -> None:
    photos = sorted(shared_test.glob("*.jpg"))
    expected = Model.load("asl-alphabet").predict(photos)
    shutil.copytree(shared_test, site / "photos", dirs_exist_ok=True)
    with served(site) as url, chromium() as browser:
        got = open_site(browser, url).evaluate(RECOGNIZE_PHOTOS,
                                               [f"./photos/{p.name}" for p in photos])
    agree = sum(want.label == have["label"] for want, have in zip(expected, got, strict=True))
    routes = sum(want.route == have["route"] for want, have in zip(expected, got, strict=True))
    assert agree >= len(photos) - 1 and routes >= len(photos) - 1
    gaps = [np.abs(np.asarray(have["probs"]) - want.probs).max()
            for want, have in zip(expected, got, strict=True) if want.route == have["route"]]
    assert np.median(gaps) < 0.05  # the same answer, not just the same top letter


def test_page_spells_from_a_camera_on_the_device_alone(site: Path, shared_test: Path,
                                                       tmp_path: Path) -> None:
    clip = shared_test.parents[1] / "videos" / "letters" / "L.mp4"
    if not clip.is_file():
        pytest.skip(f"letter videos not available: {clip} is absent")
    camera = write_y4m(tmp_path / "L.y4m", [frame for _, frame in frames_from(video=clip)],
                       video_fps(clip))
    with served(site) as url, chromium(fake_camera(camera)) as browser:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{url}/index.html?autostart")
        page.wait_for_function("window.fingerspell.text.includes('L') || window.fingerspell.error",
                               timeout=90_000)
        state = page.evaluate("({text: window.fingerspell.text, error: window.fingerspell.error,"
                              " frames: window.fingerspell.frames.length})")
        shown = page.inner_text("#text")
    assert state["error"] is None and state["text"].startswith("L") and shown == state["text"]
    assert state["frames"] > 3
    others = [r for r in requests if not r.startswith((url, "data:", "blob:"))]
    assert not others, f"the page asked other addresses: {others[:3]}"


def test_export_web_refuses_what_it_cannot_make(site: Path, tmp_path: Path) -> None:
    """An existing folder is never written into; a model without a landmark head has no page."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("a user's file")
    result = run_cli("export", "asl-alphabet", "--format", "web", "--out", str(taken))
    assert result.returncode != 0 and "not empty" in result.stderr
    assert [p.name for p in taken.iterdir()] == ["mine.txt"]
    config = (site / SITE_CONFIG).read_text()
    assert '"format": "fingerspell-web"' in config
    with pytest.raises(FingerspellError, match="int8"):
        Model.load("asl-alphabet").export("web", int8=True, out=tmp_path / "x")


def test_serve_sends_a_capable_browser_to_the_device_page(hand_model: Path, shared_test: Path,
                                                          tmp_path: Path) -> None:
    """``fingerspell serve`` builds the on-device page (once per model, in the cache) and serves
    it at /device/; / sends Chromium there, where it spells from the camera with no frame sent
    to the server; /?server keeps the streaming page."""
    clip = shared_test.parents[1] / "videos" / "letters" / "B.mp4"
    if not clip.is_file():
        pytest.skip(f"letter videos not available: {clip} is absent")
    if shutil.which("npm") is None and not os.environ.get(WEB_RUNTIME_ENV):
        pytest.skip("npm is not installed: the page's browser libraries cannot be installed")
    camera = write_y4m(tmp_path / "B.y4m", [frame for _, frame in frames_from(video=clip)],
                       video_fps(clip))
    process, base = start_server(Path("asl-alphabet"), "--profiles", str(tmp_path / "p"),
                                 device_page=True)
    try:
        assert httpx.get(f"{base}/v1/model").json()["device_page"] == "/device/"
        with chromium(fake_camera(camera)) as browser:
            page = browser.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{base}/")
            page.wait_for_url("**/device/?served", timeout=30_000)
            page.wait_for_function("window.fingerspell.ready || window.fingerspell.error",
                                   timeout=120_000)
            assert page.is_visible("#served")  # the way back to Teach mode on the server page
            page.click("#start")
            page.wait_for_function("window.fingerspell.text.includes('B')", timeout=90_000)
            assert not sockets  # no frame went to the server
            page.goto(f"{base}/?server")
            page.wait_for_timeout(1500)
            assert page.url.endswith("/?server") and page.is_visible("#teach")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_teach_on_the_device(site: Path, tmp_path: Path) -> None:
    """The camera shows one of user3's T, which the built-in reads as G: Check holds it once
    (five frames) and lists it wrong, Adapt in the page, and it reads T; one more Capture adds
    a hold; the examples and the adapter survive a
    reload (IndexedDB); the downloaded adapter makes Python read user3's other T photos as T;
    Forget restores the model as shipped and Import brings the adapter back."""
    from .test_teach import LETTER, TAKEN_FOR, person_photos, scene
    photos = person_photos()
    camera = write_y4m(tmp_path / "t.y4m", [scene(photos[0])] * 3)
    letter_is = "document.getElementById('letter').textContent === '{}'"
    with served(site) as url, chromium(fake_camera(camera)) as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto(f"{url}/index.html?countdown=0&autostart")
        page.wait_for_function(letter_is.format(TAKEN_FOR), timeout=90_000)
        page.click("#teach summary")
        page.fill("#check-letters", LETTER.lower())
        page.click("#check")  # one hold of T: read wrong, so it heads the Letter list
        page.wait_for_function("document.getElementById('wrong-letters').textContent"
                               f" === 'Got wrong: {LETTER} (read {TAKEN_FOR})'", timeout=60_000)
        assert page.input_value("#teach-letter") == LETTER
        assert page.inner_text("#examples") == f"Examples: {LETTER} 5"
        page.click("#adapt")
        page.wait_for_function(letter_is.format(LETTER), timeout=60_000)
        assert page.inner_text("#teach-status").startswith("Adapted")
        page.click("#capture")  # the selected letter, T: one more hold
        page.wait_for_function(f"document.getElementById('examples').textContent"
                               f" === 'Examples: {LETTER} 10'", timeout=60_000)
        assert page.evaluate("window.fingerspell.adaptSeconds") < 10
        with page.expect_download() as download:
            page.click("#download")
        adapter = tmp_path / "mine.fsadapter"
        download.value.save_as(adapter)
        page.reload()  # what was taught stays in this browser
        page.wait_for_function(letter_is.format(LETTER), timeout=90_000)
        assert page.evaluate("window.fingerspell.adapted.examples") == {LETTER: 5}
        page.click("#teach summary")
        assert page.inner_text("#examples") == f"Examples: {LETTER} 10"
        page.click("#forget")
        page.wait_for_function(letter_is.format(TAKEN_FOR), timeout=60_000)
        page.set_input_files("#import", str(adapter))
        page.wait_for_function(letter_is.format(LETTER), timeout=60_000)
    adapted = Model.load("asl-alphabet", adapter=adapter)
    assert adapted.info.adapted["examples"] == {LETTER: 5}
    unseen = [p.label for p in adapted.predict([scene(photo) for photo in photos[1:]])]
    assert unseen.count(LETTER) >= 6, unseen  # the base reads none of them as T
    other = Model.load("asl-alphabet")
    with torch.no_grad():
        other.head.crop.layers[-1].bias += 0.01  # another model: the adapter is refused
    with pytest.raises(FingerspellError, match="adapted from another model"):
        apply_adapter(other, adapter)
    result = run_cli("predict", "asl-alphabet", str(tmp_path / "t.y4m"), "--adapter",
                     str(tmp_path / "missing.fsadapter"))
    assert result.returncode != 0 and "adapter file does not exist" in result.stderr


def test_export_web_int8_keeps_a_checked_graph(shared_train: Path, tmp_path: Path,
                                               hand_model: Path) -> None:
    """--int8: the crop graph quantised on half the calibration photos' hand crops, kept because
    the crop head agrees with the float graph on the other half (recorded in model.json), a
    quarter of the size; without --calibration, a one-line error and no folder."""
    if shutil.which("npm") is None and not os.environ.get(WEB_RUNTIME_ENV):
        pytest.skip("npm is not installed: the page's browser libraries cannot be installed")
    photos = link_subset(shared_train, tmp_path / "photos", sorted(
        p.name for p in shared_train.iterdir() if p.name != "nothing"), per_class=3, step=30)
    out = tmp_path / "int8"
    result = run_cli("export", "asl-alphabet", "--format", "web", "--int8", "--calibration",
                     str(photos), "--out", str(out))
    assert result.returncode == 0, result.stderr
    crop = json.loads((out / SITE_CONFIG).read_text())["crop"]
    assert crop["int8"]["crops"] >= 30 and crop["int8"]["agreement"] >= 0.95
    assert (out / "crop.onnx").stat().st_size < 6e6  # float: 13.7 MB
    assert not list(tmp_path.glob(".int8-*"))  # the build folder is gone
    refused = run_cli("export", "asl-alphabet", "--format", "web", "--int8", "--out",
                      str(tmp_path / "no"))
    assert refused.returncode != 0 and "needs --calibration" in refused.stderr
    assert not (tmp_path / "no").exists()
