"""Small files that declare huge images: the shape of decompression bombs, for the server's
tests and its load benchmark."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` pixels, with a few bytes of data: the
    shape of a decompression bomb (zeros compress ~1000:1)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * min(width, 1000)) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def tiff_declaring(width: int, height: int) -> bytes:
    """A little-endian baseline TIFF whose tags declare ``width`` x ``height`` 8-bit grey."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries) + b"\0" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 16


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 60)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# every mode Pillow can make from scratch, and the formats a browser or phone may send
MODES = ("1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "I;16", "LA",
         "PA", "RGBa", "La")
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


def odd_image(width: int, height: int, mode: str = "RGB", fmt: str = "PNG", *,
              orientation: int | None = None, frames: int = 1, truncate: float | None = None,
              flip: int = 0, seed: int = 0) -> bytes:
    """An image file of any size, mode and format, possibly animated (``frames``), with an EXIF
    orientation, cut short at the fraction ``truncate`` of its bytes, or with ``flip`` bytes
    overwritten past its header: the shapes of input the fuzz tests and benchmarks send.
    Where ``fmt`` cannot hold ``mode`` the image is converted to RGB first, as a real encoder
    would be asked to."""
    import numpy as np
    rng = np.random.default_rng(seed)
    if width * height <= 256 * 256:  # noise where cheap; large images are flat (and compress)
        noise = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    else:
        noise = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(0, 256, 3)))
    try:
        image = noise.convert(mode)
    except ValueError:
        image = Image.new(mode, (width, height))
    exif = None
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    extra: dict = {"exif": exif} if exif is not None and fmt in ("JPEG", "PNG", "WEBP", "TIFF") \
        else {}
    if frames > 1 and fmt in ("GIF", "PNG", "WEBP", "TIFF"):
        others = [image.point(lambda v, k=k: (v + 40 * k) % 256) if mode not in ("I", "F", "I;16")
                  else image for k in range(1, frames)]
        extra.update(save_all=True, append_images=others)
    try:
        image.save(buffer, fmt, **extra)
    except (OSError, ValueError, KeyError, TypeError, OverflowError, RuntimeError):  # not in fmt
        buffer = io.BytesIO()
        extra.pop("append_images", None)
        extra.pop("save_all", None)
        try:
            noise.save(buffer, fmt, **extra)
        except (OSError, ValueError, OverflowError, RuntimeError):  # nor this size (JPEG, WebP, GIF)
            buffer = io.BytesIO()
            noise.save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    if flip:
        start = min(len(data) - 1, 32)
        for position in rng.integers(start, len(data), flip):
            data[position] = int(rng.integers(0, 256))
    if truncate is not None:
        data = data[:max(1, int(len(data) * truncate))]
    return bytes(data)


def strip_png() -> bytes:
    """The 172 KB PNG of issue 26: 32 x 524288 grey, under the pixel bound; it once shrank to a
    width of 0 for detection and left MediaPipe's graph failing every later photo."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 524288), (128, 128, 128)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


EXTREME_SIZES = [(1, 4096), (4096, 1), (32, 524288), (524288, 32), (32, 320), (320, 32),
                 (4096, 4096), (4097, 4096), (31, 200), (33, 33)]


class RandomHostile:
    """Random hostile bodies for the soak and fuzz benchmarks: mostly ``odd_image`` files (the
    generator tests/test_fuzz.py draws from), some fixed ones (a bomb, the strip, text)."""

    def __init__(self, seed: int) -> None:
        import random
        self.rng = random.Random(seed)
        self.fixed = [png_declaring(9990, 9990), strip_png(), b"", b"not an image",
                      b"\x89PNG\r\n"]

    def __call__(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.2:
            return rng.choice(self.fixed)
        width, height = (rng.choice(EXTREME_SIZES) if rng.random() < 0.2
                         else (rng.randint(1, 260), rng.randint(1, 260)))
        damage = rng.choice(["none", "none", "truncate", "flip"])
        return odd_image(width, height, rng.choice(MODES), rng.choice(FORMATS),
                         orientation=rng.choice([None, None, rng.randint(0, 9)]),
                         frames=rng.choice([1, 1, 1, 3]),
                         truncate=rng.uniform(0.05, 0.95) if damage == "truncate" else None,
                         flip=rng.randint(1, 40) if damage == "flip" else 0,
                         seed=rng.randint(0, 2**16))
