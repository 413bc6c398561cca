"""Every kind of image a user may hand us: decoded correctly or refused with a one-line reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fingerspell.data.images import MAX_FILE_BYTES, load_rgb
from fingerspell.errors import ImageError

from .conftest import noise_image, write_image


def test_jpeg_roundtrip(tmp_path: Path) -> None:
    image = load_rgb(noise_image(tmp_path / "a.jpg"))
    assert image.mode == "RGB" and image.size == (64, 64)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello, this is not a picture\n"), "not an image"),
    (lambda p: write_image(p, size=(1, 1)), "too small"),
    (lambda p: os.truncate(p.open("wb").close() or p, MAX_FILE_BYTES + 1), "file too large"),
])
def test_unusable_files_are_refused(tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(ImageError) as info:
        load_rgb(path)
    message = str(info.value)
    assert reason in message and str(path) in message and "\n" not in message


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    good = noise_image(tmp_path / "good.jpg", size=128)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_rgb(bad)


def test_corrupt_jpeg_body_is_refused(tmp_path: Path) -> None:
    data = bytearray(noise_image(tmp_path / "good.jpg", size=128).read_bytes())
    data[200:] = b"\x00" * (len(data) - 200)
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(bytes(data[:400]))
    with pytest.raises(ImageError):
        load_rgb(bad)


@pytest.mark.parametrize(("mode", "color", "expected"), [
    ("L", 200, (200, 200, 200)),                       # grayscale
    ("RGBA", (255, 0, 0, 255), (255, 0, 0)),           # opaque RGBA
    ("RGBA", (255, 0, 0, 0), (255, 255, 255)),         # transparent -> white
    ("P", 3, None),                                    # palette
    ("I;16", 65535, (255, 255, 255)),                  # 16-bit grayscale at full scale
    ("I;16", 32896, (128, 128, 128)),                  # 16-bit mid grey
])
def test_modes_become_rgb(tmp_path: Path, mode: str, color, expected) -> None:
    path = write_image(tmp_path / "x.png", mode=mode, color=color)
    image = load_rgb(path)
    assert image.mode == "RGB"
    if expected is not None:
        assert image.getpixel((5, 5)) == expected


def test_huge_jpeg_is_decoded_reduced(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 8000), (10, 200, 30)).save(path, quality=50)
    image = load_rgb(path, min_decode_side=224)
    assert min(image.size) >= 224 and max(image.size) <= 1000
    assert np.allclose(np.asarray(image)[100, 100], (10, 200, 30), atol=8)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 MP, a few KB on disk
    with pytest.raises(ImageError, match="too large"):
        load_rgb(path)


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (80, 40), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_rgb(path).size == (40, 80)
