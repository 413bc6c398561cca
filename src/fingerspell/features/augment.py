"""Light photometric and geometric augmentation, applied before feature extraction.

Each augmented "view" of an image is deterministic (seeded by the view number and the file
name), so its features can be cached like the original's.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image, ImageEnhance


def augment_view(image: Image.Image, view: int, name: str) -> Image.Image:
    """Return view number ``view`` (>= 1) of ``image``: lighting, colour, small rotation and zoom.

    Example:
        >>> im = Image.new("RGB", (100, 100), (120, 80, 60))
        >>> augment_view(im, 1, "a.jpg").size == im.size
        True
    """
    rng = np.random.default_rng([view, zlib.crc32(name.encode())])
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.4))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
    gamma = rng.uniform(0.7, 1.4)
    image = image.point([round(255 * (i / 255) ** gamma) for i in range(256)] * 3)
    width, height = image.size
    angle = rng.uniform(-12, 12)
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))
    zoom = rng.uniform(0.8, 1.0)
    crop_w, crop_h = width * zoom, height * zoom
    left = rng.uniform(0, width - crop_w)
    top = rng.uniform(0, height - crop_h)
    return image.resize((width, height), Image.Resampling.BILINEAR,
                        box=(left, top, left + crop_w, top + crop_h))
