"""A model bundle read from disk: checks before anything is built from it, and its typed
metadata (``BundleInfo``).

A bundle is outside input (downloaded, copied, edited by hand): every field ``Model.load`` uses
is checked for presence and type, layer sizes are compared with the weights file's header
(nothing is allocated for a head whose declared size the weights do not back), and the hand
model is compared with the checksum recorded at training time. Each problem is one line naming
the file and what to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from .._version import __version__
from ..data.layout import class_name_problem
from ..errors import FingerspellError
from ..features.feature_mode import FeatureMode, get_mode
from ..features.landmarks import LANDMARK_ENCODINGS
from ..head.calibration import UNSURE_BELOW, check_calibration
from ..head.config import config_from_dict
from ..jsonfile import read_json

ONNX_FILE = "model.onnx"  # the backbone (and a single-graph head) for ONNX Runtime
INT8_FILE = "model.int8.onnx"  # the same, statically quantised (fingerspell export --int8)
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a config is a few KB; more is not a fingerspell bundle
MAX_WEIGHTS_BYTES = 4 * 1024**3  # the largest curated backbone with a dense head is ~1.1 GB


def read_config(config_path: Path) -> dict[str, Any]:
    """The parsed ``config.json`` (a JSON object of bounded size and depth)."""
    config = read_json(config_path, "model config", max_bytes=MAX_CONFIG_BYTES)
    if not isinstance(config, dict):
        raise FingerspellError(f"{config_path}: not a fingerspell model config")
    return config


def _require(config: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in config:
        raise FingerspellError(f"{where}: field {key!r} is missing; re-save the model with "
                               f"'fingerspell train' or restore the original config.json")
    value = config[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (
            kind if isinstance(kind, tuple) else (kind,))):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise FingerspellError(f"{where}: field {key!r} should be {names}, "
                               f"not {type(value).__name__}")
    return value


def check_config(config: dict[str, Any], config_path: Path) -> None:
    """Every field ``Model.load`` reads exists and has the right type; the head's class count
    and input sizes agree with the class list, the backbone and the feature mode."""
    classes = _require(config, "classes", list, config_path)
    if not classes:
        raise FingerspellError(f"{config_path}: 'classes' must be a non-empty list of names")
    for name in classes:
        problem = class_name_problem(name)
        if problem:
            raise FingerspellError(f"{config_path}: {problem}")
    if len(set(classes)) != len(classes):
        raise FingerspellError(f"{config_path}: 'classes' lists a class twice")
    backbone = _require(config, "backbone", dict, config_path)
    _require(backbone, "name", str, config_path)
    _require(backbone, "weights_id", (str, type(None)), config_path)
    feature_dim = _require(backbone, "feature_dim", int, config_path)
    _require(config, "preprocessing", dict, config_path)
    head = _require(config, "head", dict, config_path)
    features = config.get("features") or {"mode": "image", "hand": {}}
    if not isinstance(features, dict) or not isinstance(features.get("mode"), str) \
            or not isinstance(features.get("hand", {}), dict):
        raise FingerspellError(f"{config_path}: 'features' should be an object with a 'mode'")
    mode = saved_mode(features, config_path)
    problem = check_calibration(config.get("calibration"))
    if problem:
        raise FingerspellError(f"{config_path}: {problem}")
    # the head's inputs and outputs, per part
    parts = {"crop": head.get("crop"), "landmarks": head.get("landmarks")} \
        if head.get("kind") == "late_fusion" else {"head": head}
    for name, part in parts.items():
        if not isinstance(part, dict):
            raise FingerspellError(f"{config_path}: head part {name!r} is missing")
        for key in ("in_dim", "n_classes"):
            _require(part, key, int, config_path)
        for key in ("hidden", "dropout"):
            _require(part, key, list, config_path)
        if part["n_classes"] != len(classes):
            raise FingerspellError(f"{config_path}: the head has {part['n_classes']} outputs but "
                                   f"'classes' lists {len(classes)}")
    expected_in = {"crop": feature_dim, "landmarks": mode.landmark_dim}
    if "head" in parts:
        expected_in["head"] = ((feature_dim if mode.uses_backbone else 0)
                               + mode.landmark_dim + int(mode.found_flag))
    for name, part in parts.items():
        if part["in_dim"] != expected_in[name]:
            label = "head" if name == "head" else f"{name} head"
            raise FingerspellError(f"{config_path}: the {label} takes {part['in_dim']} "
                                   f"inputs but {mode.name} features have {expected_in[name]}")


def saved_mode(features: dict[str, Any], config_path: Path) -> FeatureMode:
    """The feature mode a bundle's ``features`` names, reading landmarks in the encoding its
    head was trained on (absent: 1, bundles written before the encoding was recorded)."""
    try:
        mode = get_mode(features["mode"])
    except FingerspellError as exc:
        raise FingerspellError(f"{config_path}: {exc}") from None
    encoding = features.get("landmark_encoding", 1)
    if type(encoding) is not int or encoding not in LANDMARK_ENCODINGS:
        known = ", ".join(map(str, LANDMARK_ENCODINGS))
        raise FingerspellError(f"{config_path}: landmark encoding {encoding!r} is not one this "
                               f"fingerspell ({__version__}) knows ({known}); upgrade")
    return mode.with_landmark_encoding(encoding)


def check_weight_shapes(weights_path: Path, prefix: str, head_config: dict[str, Any]) -> None:
    """The layers ``head_config`` declares have the shapes stored in ``weights_path`` (read from
    the file's header: nothing is allocated, no network is built)."""
    from safetensors import safe_open

    try:
        expected = config_from_dict(head_config).weight_shapes()
    except (KeyError, TypeError, ValueError) as exc:
        raise FingerspellError(f"{weights_path.parent / 'config.json'}: invalid head "
                               f"({exc})") from None
    with safe_open(str(weights_path), framework="numpy") as stored:
        shapes = {k[len(prefix):]: tuple(stored.get_slice(k).get_shape())
                  for k in stored.keys() if k.startswith(prefix)}
    for key, shape in expected.items():
        if shapes.get(key) != shape:
            raise FingerspellError(f"{weights_path}: weights do not match config.json ({prefix}{key}"
                                   f": config {shape}, weights {shapes.get(key, 'missing')})")


# ----- what a bundle says about its model, beside the weights' description -------------------
# config.json's fields other than the ones that rebuild the network (classes, features,
# backbone, preprocessing, head, fallback_head), typed. Fields this version does not know
# (written by a newer one) are kept in ``BundleInfo.extra`` and written back unchanged.

RecordT = TypeVar("RecordT", bound="_Record")


class _Record:
    """A JSON object of a bundle's config as a dataclass: the fields it knows, absent ones
    left out when written."""

    @classmethod
    def from_dict(cls: type[RecordT], data: dict[str, Any]) -> RecordT:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Calibration(_Record):
    """The temperature dividing the head's log-probabilities and where it was fitted
    (``head.calibration.calibration_record``); older bundles have none: temperature 1."""

    temperature: float = 1.0
    unsure_below: float = UNSURE_BELOW  # answers under this confidence are marked unsure
    fitted_on: str | None = None
    n: int | None = None
    ece_before: float | None = None
    ece_after: float | None = None


@dataclass
class Validation(_Record):
    """How the model did on its validation split at training time."""

    accuracy: float
    split: str | None = None
    n: int | None = None
    data: list[str] = field(default_factory=list)  # the data folders it was trained on


@dataclass
class BundleInfo:
    """A model bundle's metadata: how it was trained (``recipe``, ``preset``), its confidence
    calibration, its validation figures, what it was adapted from (``adapted``: infer/adapt.py)
    and, for a built-in model, its card (tools/build_model.py)."""

    recipe: dict[str, Any] | None = None
    preset: str | None = None
    calibration: Calibration | None = None
    validation: Validation | None = None
    adapted: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BundleInfo:
        """The metadata fields of a (checked) ``config.json``."""
        known = {f.name for f in fields(cls)} - {"extra"}
        calibration, validation = config.get("calibration"), config.get("validation")
        typed_validation = isinstance(validation, dict) and "accuracy" in validation
        if validation is not None and not typed_validation:
            known.discard("validation")  # an older shape: kept in extra, written back as it was
        return cls(recipe=config.get("recipe"), preset=config.get("preset"),
                   calibration=Calibration.from_dict(calibration) if calibration else None,
                   validation=Validation.from_dict(validation) if typed_validation else None,
                   adapted=config.get("adapted"), card=config.get("card"),
                   extra={k: v for k, v in config.items()
                          if k not in known and k not in REBUILD_FIELDS})

    def to_config(self) -> dict[str, Any]:
        """The fields as ``config.json`` stores them (absent ones left out)."""
        out: dict[str, Any] = {"recipe": self.recipe, "preset": self.preset,
                               "calibration": self.calibration.to_dict() if self.calibration else None,
                               "validation": self.validation.to_dict() if self.validation else None,
                               "adapted": self.adapted, "card": self.card}
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    @property
    def temperature(self) -> float:
        return self.calibration.temperature if self.calibration else 1.0

    @property
    def unsure_below(self) -> float:
        return self.calibration.unsure_below if self.calibration else UNSURE_BELOW


# the fields that describe the network itself (Model.config writes them; not metadata)
REBUILD_FIELDS = frozenset({"format", "format_version", "fingerspell_version", "classes",
                            "backbone", "preprocessing", "head", "fallback_head", "features"})
