"""What several benchmarks share: where the shared data is, the shared sources pooled with their
features, small models trained on them, and webcam-like frames."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared"
KAGGLE = SHARED / "data" / "asl_alphabet" / "train"
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"
LETTERS = ["A", "B", "C", "L", "Y", "nothing"]
# the shared sources, as `fingerspell train DIR1 DIR2 ...` pools them
SOURCES = {"kaggle": SHARED / "data" / "asl_alphabet" / "train",
           "multi_signer": SHARED / "data" / "multi_signer",
           "webcam_mit": SHARED / "data" / "webcam_mit",
           "mon95": SHARED / "data" / "mon95",
           "surrey_user_a": SHARED / "data" / "surrey_user_a",
           # issue 22: seven people (P1-P7) and a first-person phone viewpoint (no names)
           "asl_hg": SHARED / "data" / "asl_hg",
           "phone_cortic": SHARED / "data" / "phone_cortic"}


def require_shared() -> None:
    if not (KAGGLE.is_dir() and HAND_MODEL.is_file()):
        sys.exit(f"needs the shared photos and hand model under {SHARED}")


@dataclass
class Pooled:
    """Shared sources pooled, with a mode's features for every photo (cached between runs)."""

    images: Any  # fingerspell.data.ImageSet
    paths: list[Path]
    labels: Any  # (n,) class index
    sources: Any  # (n,) index into the pooled folders
    readable: Any  # (n,) bool
    mode: Any  # FeatureMode
    features: Any  # ModeFeatures
    examples: Any  # Examples with the mode's augmented views, kept in memory
    encoder: Any
    feature_dim: int


def model_fingerprint(model: Any) -> str:
    """A digest of the model's head weights and classes: cached answers recorded with another
    model under the same name (a rebuilt built-in) are not reused."""
    import hashlib
    digest = hashlib.sha256("|".join(model.classes).encode())
    for name, tensor in sorted(model.head.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def pooled_features(mode_name: str, names: list[str], landmark_encoding: int | None = None
                    ) -> Pooled:
    """The sources ``names`` pooled and their ``mode_name`` features, as training computes them
    (``landmark_encoding``: another than today's, to compare with bundles that use it)."""
    import numpy as np
    import torch

    from fingerspell.data import discover_many
    from fingerspell.features import create_backbone
    from fingerspell.features.feature_mode import get_mode
    from fingerspell.features.hands import HandSettings
    from fingerspell.features.onnx_runtime import choose_encoder
    from fingerspell.head.recipes import recipe_for_features
    from fingerspell.training.fitting import Examples, remember_views
    from fingerspell.training.run_features import RunFeatures
    missing = [SOURCES[n] for n in names if not SOURCES[n].is_dir()]
    if missing or not HAND_MODEL.is_file():
        sys.exit(f"needs the shared sources and hand model: missing {missing or HAND_MODEL}")
    mode = get_mode(mode_name)
    if landmark_encoding is not None:
        mode = mode.with_landmark_encoding(landmark_encoding)
    images = discover_many([SOURCES[n] for n in names])
    paths = [s.path for s in images.samples]
    labels = np.asarray([images.classes.index(s.label) for s in images.samples])
    sources = np.asarray([s.source for s in images.samples])
    backbone = create_backbone(recipe_for_features(mode.name).backbone)
    encoder = choose_encoder(backbone, runtime="auto", device=torch.device("cpu"), cache_root=None)
    extract = RunFeatures(encoder, hand_model=HAND_MODEL if mode.needs_hands else None,
                          hand_settings=HandSettings(), cache_dir=None)
    features = extract(mode, paths)
    readable = np.asarray([i not in features.failed for i in range(len(paths))])
    examples = Examples(features.vectors, labels, features.found, sources,
                        remember_views(extract.views(paths), len(paths)))
    return Pooled(images, paths, labels, sources, readable, mode, features, examples, encoder,
                  backbone.spec.feature_dim)


def fit_heads(pooled: Pooled, rows: list[int], *, seed: int = 0,
              landmark_weight: str | float | None = "auto") -> Any:
    """A ``HeadFitter`` fitted on the readable ``rows`` as ``fingerspell train`` fits those
    sources: the mode's recipe and, for a fusion, the landmark weight chosen on each source
    answered by heads fitted without it (``"auto"``, one more fit per source), fixed (a number)
    or left at the head's default (None)."""
    from fingerspell.head.recipes import recipe_for_features
    from fingerspell.training.fitting import HeadFitter
    from fingerspell.training.fusion_weight import choose_landmark_weight
    from fingerspell.training.source_calibration import out_of_source_folds
    fitter = HeadFitter(pooled.mode, recipe_for_features(pooled.mode.name),
                        len(pooled.images.classes), pooled.feature_dim, seed=seed,
                        show_progress=False)
    rows = [i for i in rows if pooled.readable[i]]
    fitter.fit(pooled.examples, rows, [])
    if pooled.mode.late_fusion and landmark_weight is not None:
        if landmark_weight == "auto":
            folds = out_of_source_folds(fitter, pooled.examples, rows, show_progress=False)
            landmark_weight, _ = choose_landmark_weight(folds, pooled.examples)
        fitter.fitted.head.landmark_weight = float(landmark_weight)
    return fitter


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
