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
