"""The square crop around the signing hand, and background replacement behind the hand."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from .hands import Hand


def hand_crop(image: Image.Image, hand: Hand | None, margin: float) -> Image.Image:
    """A square crop around ``hand`` (the whole image when there is none); left hands are
    mirrored, so that a selfie camera and a left-handed signer look like everyone else.

    Example:
        >>> hand_crop(Image.new("RGB", (64, 48)), None, 0.25).size
        (64, 48)
    """
    if hand is None:
        return image
    crop = image.crop(hand.crop_box(image.width, image.height, margin))
    return ImageOps.mirror(crop) if hand.handedness == "Left" else crop


def hand_outline(hand: Hand, image_size: tuple[int, int], margin: float) -> list[tuple[float, float]]:
    """The convex hull of the hand's landmarks in the pixel coordinates of ``hand_crop``."""
    width, height = image_size
    left, top, right, _ = hand.crop_box(width, height, margin)
    side = right - left
    points = [(x * width - left, y * height - top) for x, y, _ in hand.landmarks.tolist()]
    if hand.handedness == "Left":
        points = [(side - x, y) for x, y in points]
    return _convex_hull(points)


def _convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    points = sorted(set(points))
    if len(points) < 3:
        return points

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def replace_background(image: Image.Image, outline: list[tuple[float, float]],
                       rng: np.random.Generator,
                       plain: tuple[int, int, int] | None = None) -> Image.Image:
    """Keep the hand (its outline, widened to cover the fingers' thickness) and paint a random
    colour gradient with noise behind it: another room for every training crop (``plain``: one
    flat colour instead, i.e. the background masked out)."""
    width, height = image.size
    mask = Image.new("L", image.size, 0)
    if len(outline) >= 3:
        draw = ImageDraw.Draw(mask)
        draw.polygon(outline, fill=255)
        draw.line([*outline, outline[0]], fill=255, width=max(3, round(0.12 * width)),
                  joint="curve")
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, 0.02 * width)))
    if plain is not None:
        return Image.composite(image, Image.new("RGB", image.size, plain), mask)
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, width)[None, :, None]
    if rng.random() < 0.5:
        ramp = np.linspace(0, 1, height)[:, None, None]
    background = start + (end - start) * ramp + rng.normal(0, rng.uniform(0, 30), (height, width, 3))
    background = Image.fromarray(np.clip(np.broadcast_to(background, (height, width, 3)), 0, 255)
                                 .astype(np.uint8))
    return Image.composite(image, background, mask)
