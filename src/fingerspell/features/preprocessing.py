"""Image preprocessing that travels with a backbone's weights (size, crop, interpolation, mean/std)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

_INTERPOLATION = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                  "nearest": Image.Resampling.NEAREST}


@dataclass(frozen=True)
class Preprocessing:
    """Resize the short side to ``size / crop_pct``, centre-crop ``size``, scale, normalise.

    ``mean=(0,0,0), std=(1,1,1)`` means inputs scaled to [0, 1] (the tutorial's recipe).

    Example:
        >>> pre = Preprocessing(size=32, mean=(0, 0, 0), std=(1, 1, 1))
        >>> pre(Image.new("RGB", (64, 48), (255, 0, 0))).shape
        (3, 32, 32)
    """

    size: int = 224
    crop_pct: float = 1.0
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __call__(self, image: Image.Image) -> np.ndarray:
        resize_to = round(self.size / self.crop_pct)
        width, height = image.size
        scale = resize_to / min(width, height)
        new_size = (max(self.size, round(width * scale)), max(self.size, round(height * scale)))
        if new_size != image.size:
            image = image.resize(new_size, _INTERPOLATION[self.interpolation])
        left = (new_size[0] - self.size) // 2
        top = (new_size[1] - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        array = np.asarray(image, dtype=np.float32) / 255.0
        array = (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(array.transpose(2, 0, 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(size=int(data["size"]), crop_pct=float(data["crop_pct"]),
                   interpolation=str(data["interpolation"]), mean=tuple(data["mean"]),
                   std=tuple(data["std"]))
