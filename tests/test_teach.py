"""Teach mode: profiles of captured examples, adapting through the API, and the page itself in
headless Chromium with a fake camera showing a letter the built-in model gets wrong."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .browser import fake_camera_page, write_y4m
from .conftest import SHARED, run_cli
from .test_serve import start_server

MON95 = SHARED / "data" / "mon95"
LETTER, TAKEN_FOR = "T", "G"  # the built-in model takes all 10 of user3's T for G


def person_photos(letter: str = LETTER) -> list[Path]:
    if not MON95.is_dir():
        pytest.skip(f"mon95 photos not available: {MON95} is absent")
    return sorted((MON95 / letter).glob("user3_*.jpg"))


def scene(photo: Path) -> Image.Image:
    """A webcam-sized frame with the hand photo in the middle of a plain wall."""
    canvas = Image.new("RGB", (640, 480), (120, 118, 112))
    canvas.paste(Image.open(photo).convert("RGB").resize((300, 300)), (170, 90))
    return canvas


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def teach_server(tmp_path_factory: pytest.TempPathFactory, hand_model: Path
                 ) -> Iterator[tuple[str, Path]]:
    profiles = tmp_path_factory.mktemp("profiles")
    process, base = start_server(Path("asl-alphabet"), "--profiles", str(profiles))
    yield base, profiles
    process.terminate()
    process.wait(timeout=30)


def test_profile_names_and_letters_are_checked(teach_server):
    base, profiles = teach_server
    photo = jpeg(scene(person_photos()[0]))
    for name in ("a.b", "..", "x" * 41, "-lead", "a%2Fb"):
        reply = httpx.post(f"{base}/v1/profiles/{name}/examples?label=T", content=photo)
        assert reply.status_code in (404, 422), (name, reply.status_code)
    assert httpx.post(f"{base}/v1/profiles/me/examples?label=Ä", content=photo).status_code == 422
    assert httpx.post(f"{base}/v1/profiles/me/examples?label=T", content=b"no image"
                      ).status_code == 415
    assert httpx.post(f"{base}/v1/profiles/empty/adapt").status_code == 409
    assert list(profiles.iterdir()) == []  # nothing was written for any of these


def test_examples_need_a_hand_and_are_bounded(teach_server):
    base, profiles = teach_server
    wall = jpeg(Image.new("RGB", (640, 480), (120, 118, 112)))
    reply = httpx.post(f"{base}/v1/profiles/bounds/examples?label=A", content=wall).json()
    assert reply == {"saved": False, "hand": False, "examples": {}}
    photo = jpeg(scene(person_photos("A")[0]))
    for count in range(1, 21):
        reply = httpx.post(f"{base}/v1/profiles/bounds/examples?label=A", content=photo)
        assert reply.status_code == 200 and reply.json()["examples"] == {"A": count}
    full = httpx.post(f"{base}/v1/profiles/bounds/examples?label=A", content=photo)
    assert full.status_code == 409 and "already has 20" in full.json()["detail"]
    stored = sorted((profiles / "bounds" / "examples" / "A").iterdir())
    assert len(stored) == 20 and all(Image.open(p).format == "JPEG" for p in stored)


def test_one_adaptation_at_a_time_per_profile(tmp_path: Path, hand_model: Path):
    from fingerspell import Model
    from fingerspell.serve.profiles import Profiles
    from fingerspell.serve.uploads import BadInput
    profiles = Profiles(tmp_path, Model.load("asl-alphabet"), "asl-alphabet")
    profiles.add("me", "T", scene(person_photos()[0]))
    busy = profiles._lock("me", "adapting")  # as if an adaptation were running
    with busy, pytest.raises(BadInput, match="already being adapted"):
        profiles.adapt("me")


def test_teach_mode_in_the_page(teach_server, tmp_path: Path):
    """The camera shows one of user3's T, which the built-in model calls G: the page's check
    holds it once (5 frames), finds it wrong, and one Adapt later the page reads T, and so does
    the API on user3's nine other photos of T it never saw; the profile survives a restart and
    works with predict."""
    base, profiles = teach_server
    photos = person_photos()
    clip = write_y4m(tmp_path / "t.y4m", [scene(photos[0])] * 3)
    with fake_camera_page(clip, f"{base}/?countdown=0", height=900) as page:
        page.wait_for_function(f"document.getElementById('letter').textContent === "
                               f"'{TAKEN_FOR}'", timeout=60_000)
        page.click("#teach summary")
        page.fill("#profile", "user3")
        page.fill("#check-letters", f"{LETTER.lower()}")
        page.click("#check")
        page.wait_for_function("document.getElementById('teach-status').textContent"
                               ".startsWith('Examples: T 5')", timeout=60_000)
        assert page.inner_text("#wrong-letters") == f"Got wrong: {LETTER} (read {TAKEN_FOR})"
        assert page.input_value("#teach-letter") == LETTER  # the wrong letters come first
        assert page.locator("#captures img").count() == 5
        page.click("#adapt")
        page.wait_for_function("document.getElementById('teach-status').textContent"
                               ".startsWith('Adapted')", timeout=60_000)
        cells = page.locator("#before-after tbody tr").first.locator("td").all_inner_texts()
        assert cells[0] == LETTER and cells[1] == "5" and cells[3] == "100%"
        assert int(cells[2].rstrip("%")) <= 40
        page.wait_for_function(f"document.getElementById('letter').textContent === "
                               f"'{LETTER}'", timeout=30_000)
    unseen = [httpx.post(f"{base}/v1/predict", content=jpeg(scene(photo))).json()["label"]
              for photo in photos[1:]]
    assert unseen.count(LETTER) >= 6, unseen  # the base read none of them as T
    bundle = profiles / "user3" / "model"
    config = json.loads((bundle / "config.json").read_text())
    assert config["adapted"]["examples"] == {LETTER: 5}
    process, again = start_server(Path("asl-alphabet"), "--profiles", str(profiles),
                                  "--profile", "user3")
    try:
        assert httpx.get(f"{again}/v1/model").json()["profile"] == "user3"
        reply = httpx.post(f"{again}/v1/predict", content=jpeg(scene(photos[0])))
        assert reply.json()["label"] == LETTER
    finally:
        process.terminate()
        process.wait(timeout=30)
    frame = tmp_path / "t.jpg"
    frame.write_bytes(jpeg(scene(photos[0])))
    result = run_cli("predict", str(bundle), str(frame), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)[0]["label"] == LETTER


def test_serve_with_a_bad_or_unknown_profile_is_one_line(tmp_path: Path, hand_model: Path):
    for name, message in (("../x", "a profile name is 1-40"), ("nobody", "has no adapted model")):
        result = run_cli("serve", "--profiles", str(tmp_path), "--profile", name, timeout=120)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
