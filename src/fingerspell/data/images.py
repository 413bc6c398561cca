"""Decode one image file into an RGB PIL image, or raise a one-line ImageError saying why not."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FingerspellError, ImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
MIN_SIDE = 32  # below this a hand is a few pixels: nothing to recognise
MAX_PIXELS = 100_000_000  # a guard against decompression bombs; 8000x8000 photos are fine
# no photo of a hand is a strip: a 32 x 524288 PNG (172 KB, under every pixel budget) shrank to
# a width of 0 for detection and broke MediaPipe's graph for every later photo; phone panoramas
# stay under 8:1
MAX_ASPECT = 10
# no photo is this big (an 8000x8000 RGB PNG is at most 192 MB): a file over it is not worth
# reading, and cache keys would otherwise read it whole before its pixels were checked
MAX_FILE_BYTES = 512 * 2**20


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def file_size_problem(n_bytes: int) -> str | None:
    """Why a file of ``n_bytes`` is not read as an image (None: its size is fine)."""
    if n_bytes == 0:
        return "empty file (0 bytes)"
    if n_bytes > MAX_FILE_BYTES:
        return (f"file too large for an image ({n_bytes / 2**20:,.0f} MB, limit "
                f"{MAX_FILE_BYTES // 2**20} MB)")
    return None


@dataclass(frozen=True)
class SizeProblem:
    """Why an image's declared size is refused: ``too_large`` (a pixel budget: HTTP 413) or
    not (too small, too elongated: HTTP 415), and the one-line reason."""

    reason: str
    too_large: bool = False


def size_problem(width: int, height: int, max_pixels: int = MAX_PIXELS) -> SizeProblem | None:
    """The one rule for the pixels of every image from outside (files, uploads, stream frames),
    checked from the header before anything is decoded (None: the size is fine).

    Example:
        >>> size_problem(640, 480) is None
        True
        >>> size_problem(32, 524288).reason
        'image too elongated (32x524288; at most 10:1)'
    """
    if width * height > max_pixels:
        return SizeProblem(f"image too large ({width}x{height} pixels; the limit is "
                           f"{max_pixels:,} pixels)", too_large=True)
    if min(width, height) < MIN_SIDE:
        return SizeProblem(f"image too small ({width}x{height}, minimum {MIN_SIDE}x{MIN_SIDE})")
    if max(width, height) > MAX_ASPECT * min(width, height):
        return SizeProblem(f"image too elongated ({width}x{height}; at most {MAX_ASPECT}:1)")
    return None


def expand_image_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given and the images in folders (searched recursively, in name order); a missing
    path or a folder without images is a one-line error."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
            if not found:
                raise FingerspellError(f"{path}: no images in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise FingerspellError(f"{path}: file does not exist")
    return files


def image_in_memory(image: Image.Image | np.ndarray, name: str) -> Image.Image:
    """An 8-bit RGB copy of a PIL image or an ``H x W x 3`` (or ``H x W`` grey) uint8 array,
    its size checked by the size rule before anything is converted or decoded."""
    if isinstance(image, np.ndarray) and (image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] not in (3, 4))):
        raise ImageError(name, f"expected an H x W x 3 uint8 array, not {image.dtype} "
                               f"{'x'.join(map(str, image.shape))}")
    width, height = image.size if isinstance(image, Image.Image) else image.shape[1::-1]
    problem = size_problem(width, height)
    if problem:
        raise ImageError(name, problem.reason)
    return to_rgb(image if isinstance(image, Image.Image) else Image.fromarray(image))


def load_rgb(path: str | Path, min_decode_side: int | None = None) -> Image.Image:
    """Open ``path`` and return an 8-bit RGB image, EXIF rotation applied.

    Args:
        path: image file (JPEG, PNG, ...; grayscale, palette, RGBA and 16-bit are converted).
        min_decode_side: if set, large JPEGs are decoded at a reduced scale that still keeps
            at least this many pixels on the short side (much faster for huge photos).

    Example:
        >>> from skimage import data; from PIL import Image; import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.png"); Image.fromarray(data.coffee()).save(p)
        >>> load_rgb(p).size
        (600, 400)
    """
    path = Path(path)
    try:
        n_bytes = path.stat().st_size
    except OSError as exc:
        raise ImageError(path, f"cannot read file ({exc.strerror or exc})") from None
    problem = file_size_problem(n_bytes)
    if problem:
        raise ImageError(path, problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                problem = size_problem(width, height)
                if problem:
                    raise ImageError(path, problem.reason)
                if min_decode_side and im.format == "JPEG":
                    scale = min(width, height) / min_decode_side
                    if scale >= 2:
                        im.draft("RGB", (int(width / scale) + 1, int(height / scale) + 1))
                im.load()
                ImageOps.exif_transpose(im, in_place=True)  # no copy: to_rgb makes the one
                return to_rgb(im)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(path, "not an image (unrecognised file format)") from None
    except Image.DecompressionBombError:
        raise ImageError(path, f"image too large (limit {MAX_PIXELS // 1_000_000} megapixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(path, f"corrupt or truncated image ({exc})") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is flattened onto white."""
    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if (im.mode == "P" and "transparency" in im.info) or im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return im.convert("RGB")
