"""``TrainOptions``: every choice a user makes about a training run, in one typed object.

The command line builds it from its flags, ``fingerspell.train(**kwargs)`` from keyword
arguments, and ``resolve_config`` turns it into the run's saved ``config.json``. Each field says
where it lands in that file and whether a resume may change it, so adding an option is one
field here (plus its flag in cli.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


def _option(where: tuple[str, ...], *, runtime: bool = False) -> Any:
    """A field that defaults to None (= the preset's choice), stored at ``where`` in the run's
    config; ``runtime`` options change how a run executes, not what it learns (a resume may
    change them)."""
    return field(default=None, metadata={"where": where, "runtime": runtime})


@dataclass(frozen=True)
class TrainOptions:
    """The options of ``fingerspell train``; None means the default (see ``resolve_config``)."""

    preset: str | None = _option(("preset",))
    features: str | None = _option(("recipe", "features"))
    backbone: str | None = _option(("recipe", "backbone"))
    epochs: int | None = _option(("recipe", "epochs"), runtime=True)
    batch_size: int | None = _option(("recipe", "batch_size"))
    lr: float | None = _option(("recipe", "lr"))
    seed: int | None = _option(("seed",))
    weights: str | None = _option(("weights",))
    val_fraction: float | None = _option(("val_fraction",))
    split_by: str | None = _option(("split_by",))
    calibrate_on: str | None = _option(("calibrate_on",))
    landmark_weight: str | float | None = _option(("landmark_weight",))
    device: str | None = _option(("device",), runtime=True)
    runtime: str | None = _option(("runtime",), runtime=True)
    keep_epochs: int | None = _option(("keep_epochs",), runtime=True)
    finetune: int | None = _option(("recipe", "finetune_blocks"))
    finetune_epochs: int | None = _option(("recipe", "finetune_epochs"), runtime=True)
    config_file: str | Path | None = _option((), runtime=True)  # read once, into the recipe
    hand_model: str | Path | None = _option(("hand_model",), runtime=True)
    hand_pick: str | None = _option(("hand", "pick"))
    hand_confidence: float | None = _option(("hand", "min_confidence"))

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
