"""Bytes from the network -> an RGB image, with the work bounded before it is done.

The pixel budget is checked from the image's header, before anything is decoded: a 97 KB PNG
can declare 10,000 x 10,000 pixels and cost gigabytes to decode. Every refusal is a ``BadInput``
with the HTTP status to answer and a one-line reason.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from ..data.images import size_problem, to_rgb

DEFAULT_MAX_PIXELS = 4096 * 4096  # a camera frame or a phone photo; far more is an attack


class BadInput(ValueError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """RGB image from uploaded bytes, or ``BadInput`` saying why not.

    Example:
        >>> decode_image(b"")
        Traceback (most recent call last):
        ...
        fingerspell.serve.uploads.BadInput: empty body: send an image (JPEG, PNG, ...)
    """
    if not data:
        raise BadInput(415, "empty body: send an image (JPEG, PNG, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size  # from the header: nothing decoded yet
                problem = size_problem(width, height, max_pixels)
                if problem:
                    raise BadInput(413 if problem.too_large else 415, problem.reason)
                image.load()
                ImageOps.exif_transpose(image, in_place=True)  # as files are read; no copy
                return to_rgb(image)
    except BadInput:
        raise
    except Image.DecompressionBombError:
        raise BadInput(413, f"image too large (declares more than {max_pixels} pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            MemoryError, IndexError, TypeError, KeyError, ZeroDivisionError):
        # Pillow's decoders raise many kinds of error on crafted data: all mean "not usable"
        raise BadInput(415, "not an image (unrecognised or corrupt data)") from None
