"""What several benchmarks share: where the shared data is, small models trained on it, and
webcam-like frames."""

from __future__ import annotations

import io
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
KAGGLE = SHARED / "data" / "asl_alphabet" / "train"
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"
LETTERS = ["A", "B", "C", "L", "Y", "nothing"]


def require_shared() -> None:
    if not (KAGGLE.is_dir() and HAND_MODEL.is_file()):
        sys.exit(f"needs the shared photos and hand model under {SHARED}")


def small_model(folder: Path, mode: str = "fusion", epochs: int = 3) -> Path:
    """A model of ``mode`` trained on 20 shared photos of six letters (speed does not depend
    on how well it is trained); returns its bundle folder."""
    import fingerspell
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import link_subset
    data = folder / "data"
    if not data.is_dir():
        link_subset(KAGGLE, data, LETTERS, per_class=20, step=10)
    result = fingerspell.train(data, folder / mode, features=mode, epochs=epochs,
                               hand_model=HAND_MODEL, show_progress=False)
    return result.model_dir


def webcam_frames(count: int) -> list[bytes]:
    """640x480 JPEG frames as a camera or a browser sends them: a shared photo of a hand pasted
    into a plain scene, 15 frames per letter in turn."""
    from PIL import Image
    frames = []
    for i in range(count):
        letter = LETTERS[(i // 15) % len(LETTERS)]
        photo = Image.open(KAGGLE / letter / f"{letter}{1000 + 5 * (i % 15)}.jpg").convert("RGB")
        scene = Image.new("RGB", (640, 480), (120, 110, 100))
        scene.paste(photo.resize((360, 360)), (140, 60))
        buffer = io.BytesIO()
        scene.save(buffer, "JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames
