"""Headless Chromium (Debian's) on a folder served over HTTP on 127.0.0.1: the browser tests'
one way to open a page (test_web_parity.py, test_web_site.py)."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fingerspell.infer import Model
from fingerspell.live.stream import LiveSession

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (a static host, as a user's would be): its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(args: list[str] | None = None) -> Iterator[Any]:
    """A headless Chromium browser (Playwright), skipping the test when Debian's is absent."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", *(args or [])])
        try:
            yield browser
        finally:
            browser.close()


def open_site(browser: Any, url: str) -> Any:
    """The exported page, loaded (its model ready)."""
    page = browser.new_page()
    page.goto(f"{url}/index.html")
    page.wait_for_function("window.fingerspell.ready || window.fingerspell.error", timeout=120_000)
    assert page.evaluate("window.fingerspell.error") is None
    return page


def live_answers(model: Model, frames: list) -> tuple[list, str]:
    """Each frame's answer as ``live`` gets it (a stream's detector), and the spelled text."""
    answers = []
    with LiveSession(model) as session:
        for t, frame in frames:
            prediction = model.predict_images([frame], detector=session.detector, timestamp=t)[0]
            session.feed(t, prediction)
            answers.append(prediction)
        session.finish(frames[-1][0])
        return answers, session.text


# frames of several clips through the page's recognizer and spelling (clips: [{frames: [[t,
# url of a lossless copy]]}]): per frame the top letter, whether a hand was found, the route;
# per clip the spelled text. A new stream per clip, as a new LiveSession.
REPLAY_CLIPS = """async (clips) => {
  const { LiveSpelling } = await import("./session.js");
  const r = window.fingerspell.recognizer;
  const out = [];
  for (const clip of clips) {
    r.finder.lastHit = 0; r.finder.nextRetry = 0;  // a new stream, as a new LiveSession
    const spelling = new LiveSpelling({classes: r.classes, unsureBelow: r.config.unsure_below});
    const frames = [];
    for (const [t, url] of clip.frames) {
      const bitmap = await createImageBitmap(await (await fetch(url)).blob());
      const started = performance.now();
      const answer = await r.recognize(bitmap, {whole: false});
      const ms = performance.now() - started;
      bitmap.close();
      spelling.feed(t, answer);
      frames.push({label: answer.label, hand: answer.hand !== null, route: answer.route, ms});
    }
    spelling.decoder.finish(clip.frames[clip.frames.length - 1][0]);
    out.push({frames, text: spelling.text});
  }
  return out;
}"""


def write_y4m(path: Path, frames: list[Image.Image], fps: float = 10) -> Path:
    """A raw YUV 4:2:0 clip, the format Chromium's fake camera plays (and loops).

    Video YUV is "studio swing" (Y in 16-235, chroma in 16-240): Chromium expands it back, so
    the page sees the photos' own contrast (full-range values would come out harsher)."""
    width, height = (side - side % 2 for side in frames[0].size)  # 4:2:0 halves both sides
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{round(fps * 1000)}:1000 Ip A1:1 C420jpeg\n"
                  .encode())
        for frame in frames:
            ycc = np.asarray(frame.crop((0, 0, width, height)).convert("YCbCr"), dtype=np.float64)
            luma = np.round(16 + ycc[:, :, 0] * 219 / 255).astype(np.uint8)
            chroma = np.round(128 + (ycc[::2, ::2, 1:] - 128) * 224 / 255).astype(np.uint8)
            out.write(b"FRAME\n" + luma.tobytes() + chroma[:, :, 0].tobytes()
                      + chroma[:, :, 1].tobytes())
    return path


def fake_camera(clip: Path) -> list[str]:
    """Chromium's options for a camera that plays ``clip`` (a y4m, looped), allowed at once."""
    return ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}"]


@contextlib.contextmanager
def fake_camera_page(clip: Path, url: str, height: int = 640) -> Iterator[Any]:
    """The page at ``url`` in headless Chromium whose camera plays ``clip`` (a y4m, looped)."""
    with chromium(fake_camera(clip)) as browser:
        page = browser.new_page(viewport={"width": 1100, "height": height})
        page.goto(url)
        yield page


# photos (urls) through the page's recognizer with the whole ladder of detection passes, as
# predict gives a photo: label, route and every class's probability.
RECOGNIZE_PHOTOS = """async (urls) => {
  const r = window.fingerspell.recognizer;
  r.finder.passesPerFrame = null;
  const out = [];
  for (const url of urls) {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const a = await r.recognize(bitmap);
    bitmap.close();
    out.push({label: a.label, route: a.route, probs: a.probs});
  }
  return out;
}"""
