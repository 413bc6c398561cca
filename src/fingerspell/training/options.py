"""``TrainOptions``: every choice a user makes about a training run, in one typed object.

The command line's flags are made from it (``add_arguments``: flag, type, choices and help come
from each field), ``fingerspell.train(**kwargs)`` takes the same names, and ``resolve_config``
turns it into the run's saved ``config.json``. Each field says where it lands in that file and
whether a resume may change it, so adding an option is one field here. No heavy imports: the
command line's parser reads this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..choices import (
    CALIBRATION_SOURCES,
    EXTRACTION_RUNTIMES,
    FEATURE_MODES,
    HAND_PICKS,
    PRESETS,
    SPLIT_STRATEGIES,
)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _option(where: tuple[str, ...], help: str, *, runtime: bool = False,
            flag: str | None = None, type: Callable[[str], Any] | None = None,
            choices: tuple[str, ...] | None = None, metavar: str | None = None) -> Any:
    """A field that defaults to None (= the preset's choice), stored at ``where`` in the run's
    config; ``runtime`` options change how a run executes, not what it learns (a resume may
    change them). ``flag`` (default: the name with dashes), ``type``, ``choices``, ``metavar``
    and ``help`` make its command-line flag."""
    return field(default=None, metadata={
        "where": where, "runtime": runtime, "flag": flag, "help": help,
        "argparse": {k: v for k, v in (("type", type), ("choices", choices),
                                       ("metavar", metavar)) if v is not None}})


@dataclass(frozen=True)
class TrainOptions:
    """The options of ``fingerspell train``; None means the default (see ``resolve_config``)."""

    preset: str | None = _option(
        ("preset",), "'default' (measured best) or 'seed' (the tutorial's VGG16 recipe)",
        choices=PRESETS)
    features: str | None = _option(
        ("recipe", "features"), "what the head sees: fusion (default: hand crop + landmarks), "
        "crop, landmarks, image (the whole photo; the seed preset's)", choices=FEATURE_MODES)
    hand_model: str | Path | None = _option(
        ("hand_model",), "MediaPipe hand_landmarker.task (default: $FINGERSPELL_HAND_MODEL, "
        "the cache, else downloaded)", runtime=True, metavar="FILE")
    hand_pick: str | None = _option(
        ("hand", "pick"), "which hand signs when several are in view (largest)", flag="--hand",
        choices=HAND_PICKS)
    hand_confidence: float | None = _option(
        ("hand", "min_confidence"), "MediaPipe palm detection threshold (0.5)", type=float)
    backbone: str | None = _option(
        ("recipe", "backbone"), "backbone name (see 'fingerspell backbones')")
    weights: str | None = _option(
        ("weights",), "local backbone checkpoint instead of the packaged/downloaded weights; "
        "'none' for random weights", metavar="FILE")
    config_file: str | Path | None = _option(  # read once, into the recipe
        (), "JSON recipe overriding the preset's fields (flags given here win)", runtime=True,
        flag="--config", metavar="FILE")
    epochs: int | None = _option(("recipe", "epochs"), "training epochs of the head", runtime=True,
                                 type=positive_int)
    batch_size: int | None = _option(("recipe", "batch_size"), "examples per step",
                                     type=positive_int)
    lr: float | None = _option(("recipe", "lr"), "learning rate", type=float)
    seed: int | None = _option(("seed",), "seed for the split and training (0)", type=int)
    val_fraction: float | None = _option(("val_fraction",), "held-out share (0.2)", type=float)
    split_by: str | None = _option(
        ("split_by",), "auto (default): whole signers held out where file names say who signed "
        "(<signer>_<CLASS>_<n>.jpg), else blocks of the frame index; signer, frame, or random "
        "(leaky)", choices=SPLIT_STRATEGIES)
    calibrate_on: str | None = _option(
        ("calibrate_on",), "where the confidence temperature is fitted: sources (default: with "
        "several data folders, each folder answered by heads fitted without it, the same fits "
        "as --landmark-weight auto; one folder: the validation split) or validation (the "
        "validation split's answers)", choices=CALIBRATION_SOURCES)
    landmark_weight: str | float | None = _option(
        ("landmark_weight",), "fusion: the landmark head's share of the averaged answer; auto "
        "(default): with several data folders, the weight that does best on each folder "
        "answered by heads fitted without it (one more fit per folder), else 0.5",
        metavar="auto|W")
    device: str | None = _option(("device",), "auto (default), cpu, cuda, mps", runtime=True)
    runtime: str | None = _option(
        ("runtime",), "feature extraction engine: auto (ONNX Runtime on a CPU when installed), "
        "torch, onnx", runtime=True, choices=EXTRACTION_RUNTIMES)
    finetune: int | None = _option(
        ("recipe", "finetune_blocks"), "after the head, fine-tune the backbone's last N blocks "
        "with it, on the images or hand crops it reads", type=positive_int, metavar="N")
    finetune_epochs: int | None = _option(
        ("recipe", "finetune_epochs"), "epochs of fine-tuning (3 on whole images, 12 on hand "
        "crops)", runtime=True, type=positive_int)
    keep_epochs: int | None = _option(
        ("keep_epochs",), "keep only the N most recent per-epoch checkpoints (default: all)",
        runtime=True, type=positive_int)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def build(cls, options: TrainOptions | None = None, **overrides: Any) -> TrainOptions:
        """``options`` (or the defaults) with the non-None ``overrides`` applied."""
        unknown = set(overrides) - set(cls.names())
        if unknown:
            raise TypeError(f"unknown training options: {', '.join(sorted(unknown))}")
        return replace(options or cls(), **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser,
                      names: tuple[str, ...] | None = None) -> None:
        """One flag per field (``dest`` is the field's name, default None); ``names``: only
        those fields."""
        for f in fields(cls):
            if names is not None and f.name not in names:
                continue
            flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
            parser.add_argument(flag, dest=f.name, default=None, help=f.metadata["help"],
                                **f.metadata["argparse"])

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> TrainOptions:
        """The fields the parser has flags for (the others stay None)."""
        return cls(**{name: getattr(args, name) for name in cls.names() if hasattr(args, name)})

    def given(self) -> dict[str, Any]:
        """The options the user set (not None)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @staticmethod
    def where(name: str) -> tuple[str, ...]:
        return _FIELDS[name].metadata["where"]

    @staticmethod
    def is_runtime(name: str) -> bool:
        return bool(_FIELDS[name].metadata["runtime"])


_FIELDS = {f.name: f for f in fields(TrainOptions)}

# What ``fingerspell tune`` shares with ``train``: what the searched run sees and how it is split
# (the recipe fields themselves are what the search chooses).
TUNE_OPTIONS = ("preset", "features", "hand_model", "hand_pick", "hand_confidence", "weights",
                "seed", "val_fraction", "split_by", "device", "runtime")
