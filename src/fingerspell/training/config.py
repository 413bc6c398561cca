"""``RunConfig``: what a training run is, typed, as saved to the run's ``config.json``.

One configuration, in layers that each override the one before: ``RunConfig``'s own defaults,
the preset's recipe for the chosen feature mode (``head/recipes.PRESETS``), a recipe file
(``--config``, e.g. ``tune``'s ``best_config.json``), then the options a user gave
(``TrainOptions``: each field says where in this config it lands and whether a resume may
change it). ``train``, ``tune``, ``--resume``, ``--dry-run`` and ``fingerspell.train`` all go
through ``resolve_config`` / ``resume_config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .._version import __version__
from ..choices import CALIBRATION_SOURCES, EXTRACTION_RUNTIMES, SPLIT_STRATEGIES
from ..errors import FingerspellError
from ..features.backbones import get_spec
from ..features.feature_mode import get_mode
from ..features.hands import HandSettings
from ..head.recipes import Recipe, get_preset
from ..jsonfile import read_json
from .options import TrainOptions
from .run_folder import CONFIG_FILE, RUN_KIND

# What runs saved before a field was recorded meant by its absence.
_ABSENT_IN_OLD_RUNS = {"landmark_encoding": 1, "calibrate_on": "validation"}


@dataclass(frozen=True)
class RunConfig:
    """A training run's settings (the run folder's ``config.json``; ``--dry-run`` prints it).

    Attributes:
        data: the data folders, resolved (several are merged by class name).
        out: the run folder.
        preset: the preset the recipe came from (``default`` or ``seed``).
        recipe: how the head is trained (feature mode, backbone, optimiser, epochs, ...).
        weights: a local backbone checkpoint, ``none`` for random weights, or None (packaged or
            downloaded).
        seed: seeds the split and training.
        val_fraction: the held-out share.
        split_by: ``auto`` (by signer where file names say who signed, else blocks of frames),
            ``signer``, ``frame`` or ``random``.
        calibrate_on: where the confidence temperature is fitted (``sources`` or
            ``validation``).
        landmark_weight: a fusion's landmark share, or ``auto`` (chosen per data folder).
        landmark_encoding: what the landmark features of this run's checkpoints mean.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        runtime: the feature extraction engine (``auto``, ``torch``, ``onnx``).
        keep_epochs: keep only this many per-epoch checkpoints (None: all).
        hand: how the signing hand is found.
        hand_model: MediaPipe's hand model file, or None (found or downloaded).
    """

    kind: str = RUN_KIND
    fingerspell_version: str = __version__
    data: tuple[str, ...] = ()
    out: str = ""
    preset: str = "default"
    recipe: Recipe = field(default_factory=Recipe)
    weights: str | None = None
    seed: int = 0
    val_fraction: float = 0.2
    split_by: str = "auto"
    calibrate_on: str = "sources"
    landmark_weight: str | float = "auto"
    landmark_encoding: int = 2
    device: str = "auto"
    runtime: str = "auto"
    keep_epochs: int | None = None
    hand: HandSettings = field(default_factory=HandSettings)
    hand_model: str | None = None

    def __post_init__(self) -> None:
        recipe = self.recipe
        get_spec(recipe.backbone)  # unknown names fail here, before any work
        mode = get_mode(recipe.features)
        if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
            raise FingerspellError(f"epochs, batch size and learning rate must be positive "
                                   f"(got {recipe.epochs}, {recipe.batch_size}, {recipe.lr})")
        for name, value, known in (("split-by", self.split_by, SPLIT_STRATEGIES),
                                   ("calibrate-on", self.calibrate_on, CALIBRATION_SOURCES),
                                   ("runtime", self.runtime, EXTRACTION_RUNTIMES)):
            if value not in known:
                raise FingerspellError(f"unknown --{name} {value!r}; choose from "
                                       f"{', '.join(known)}")
        if not 0 < self.val_fraction < 1:
            raise FingerspellError(f"--val-fraction must be between 0 and 1, got "
                                   f"{self.val_fraction}")
        if self.landmark_weight != "auto" and not (
                isinstance(self.landmark_weight, int | float) and 0 <= self.landmark_weight <= 1):
            raise FingerspellError(f"--landmark-weight must be auto or a number from 0 to 1, "
                                   f"got {self.landmark_weight!r}")
        if recipe.finetune_blocks and not mode.finetunable:
            raise FingerspellError(f"--finetune needs backbone features (image, crop or fusion; "
                                   f"got {mode.name})")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written to ``config.json``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(data=list(self.data), recipe=self.recipe.to_dict(), hand=self.hand.to_dict())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "run configuration") -> RunConfig:
        """Read a saved configuration (fields a newer version added take what their absence
        meant; unknown fields are refused, naming them)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FingerspellError(f"{source}: unknown fields {', '.join(sorted(unknown))}")
        values = {**_ABSENT_IN_OLD_RUNS, **data}
        try:
            return cls(**{**values, "data": tuple(values.get("data", ())),
                          "recipe": Recipe.from_dict(values["recipe"]),
                          "hand": HandSettings.from_dict(values.get("hand", {}))})
        except (KeyError, TypeError, AttributeError) as error:
            raise FingerspellError(f"{source}: not a fingerspell run configuration "
                                   f"({error})") from None

    @classmethod
    def read(cls, run_dir: Path) -> RunConfig:
        path = run_dir / CONFIG_FILE
        saved = read_json(path, "run configuration")
        if not isinstance(saved, dict) or not isinstance(saved.get("recipe"), dict):
            raise FingerspellError(f"{path}: not a fingerspell run configuration")
        return cls.from_dict(saved, str(path))

    @property
    def mode_name(self) -> str:
        return self.recipe.features


def data_dirs(data: str | Path | list[str | Path]) -> list[str]:
    """The data folders as resolved path strings (one or several)."""
    return [str(Path(d).resolve()) for d in ([data] if isinstance(data, str | Path) else data)]


def resolve_config(data_dir: str | Path | list[str | Path], out: str | Path,
                   options: TrainOptions | None = None, **overrides: Any) -> RunConfig:
    """The configuration of a new training run: ``RunConfig``'s defaults < the preset's recipe
    for the feature mode (``fusion`` for the default preset, ``image`` for ``seed``) < a
    ``config_file``'s recipe fields < the options given."""
    o = TrainOptions.build(options, **overrides)
    preset = get_preset(o.preset or RunConfig.preset)
    from_file = _read_recipe_file(Path(o.config_file)) if o.config_file else {}
    mode = get_mode(o.features or from_file.get("features") or preset.features)
    recipe = {**preset.recipe(mode.name).to_dict(), **from_file, "features": mode.name}
    config = {**RunConfig(recipe=Recipe.from_dict(recipe)).to_dict(), "preset": preset.name,
              "data": data_dirs(data_dir), "out": str(Path(out).resolve()),
              "landmark_encoding": mode.landmark_encoding}
    for name, value in o.given().items():
        _put(config, name, value)
    return RunConfig.from_dict(config, "options")


def resume_config(data_dir: str | Path | list[str | Path], out: str | Path, run_dir: Path,
                  options: TrainOptions | None = None, **overrides: Any) -> RunConfig:
    """The saved configuration of ``run_dir``, for writing to ``out`` (where the user pointed,
    even if the run was copied or moved there). Options given must agree with the saved ones,
    except runtime options (``TrainOptions.is_runtime``), which the resume may change."""
    o = TrainOptions.build(options, **overrides)
    saved = RunConfig.read(run_dir)
    config = saved.to_dict()
    differences = ["data"] if data_dirs(data_dir) != config["data"] else []
    for name, value in o.given().items():
        if not TrainOptions.is_runtime(name) and _get(config, name) != _normalised(name, value):
            differences.append(name)
    from ..features.landmarks import LATEST_ENCODING
    if get_mode(saved.mode_name).landmarks and saved.landmark_encoding != LATEST_ENCODING:
        raise FingerspellError(f"{out}: the run was started with landmark encoding "
                               f"{saved.landmark_encoding}, this fingerspell trains encoding "
                               f"{LATEST_ENCODING}; use --force to start over")
    if differences:
        raise FingerspellError(f"{out}: cannot resume with different settings "
                               f"({', '.join(differences)}); resume with the run's own settings, "
                               f"or use --force to start over")
    for name, value in o.given().items():
        if TrainOptions.is_runtime(name):
            _put(config, name, value)
    return replace(RunConfig.from_dict(config, str(run_dir / CONFIG_FILE)),
                   out=str(Path(out).resolve()))


def _normalised(name: str, value: Any) -> Any:
    """An option's value as the config stores it."""
    if name == "hand_model":
        return str(Path(value).resolve())  # the same model may be named from elsewhere
    if name == "weights":
        return str(value)
    if name == "landmark_weight" and value != "auto":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise FingerspellError(f"--landmark-weight must be auto or a number from 0 to 1, "
                                   f"got {value!r}") from None
    return value


def _put(config: dict[str, Any], name: str, value: Any) -> None:
    """Write option ``name`` where it lands in the config (options read once, such as the
    recipe file, land nowhere)."""
    where = TrainOptions.where(name)
    if not where:
        return
    target = config
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = _normalised(name, value)


def _get(config: dict[str, Any], name: str) -> Any:
    value: Any = config
    for key in TrainOptions.where(name):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _read_recipe_file(path: Path) -> dict[str, Any]:
    data = read_json(path, "recipe config")
    if not isinstance(data, dict) or not isinstance(data.get("recipe", data), dict):
        raise FingerspellError(f"{path}: a recipe config must be a JSON object")
    recipe = data.get("recipe", data)
    Recipe.from_dict(recipe)  # unknown fields fail here, naming them
    return recipe


__all__ = ["RunConfig", "data_dirs", "resolve_config", "resume_config"]
