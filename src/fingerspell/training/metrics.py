"""``TrainMetrics``: what a training run measured, typed; its ``to_dict()`` is ``metrics.json``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _when_measured() -> Any:
    """A field that only some runs have (a fusion, a fine-tuning, a calibration, ...): None
    until set, and left out of ``metrics.json`` while None."""
    return field(default=None, metadata={"optional": True})


@dataclass
class TrainMetrics:
    """A run's figures, filled in stage by stage (``metrics.json``, ``TrainResult.metrics``).

    The data stage sets what the run learnt from; the head stage the head's scores; fusion,
    fine-tuning, calibration and the validation report add theirs. ``best_val_acc`` is the
    validation accuracy of the model as saved (head plus the no-hand rule, at its calibrated
    temperature the order is unchanged); ``head_val_acc`` the head's own score before that.
    """

    # the data stage
    data: list[str]
    layout: str
    sources: list[dict[str, Any]]
    classes: list[str]
    features: str
    split: str
    n_train: int
    n_val: int
    hand_found: float | None  # share of photos with a hand found (None: the mode uses no hands)
    n_skipped: int
    feature_seconds: float
    features_computed: int
    features_cached: int
    device: str = "cpu"
    runtime: str = "torch"
    world_size: int = 1
    # the head stage
    n_train_rows: int | None = _when_measured()
    best_epoch: int | None = _when_measured()
    best_val_acc: float | None = _when_measured()
    head_seconds: float | None = _when_measured()
    resumed_from_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # a fusion's two heads and its landmark weight
    crop_head_val_acc: float | None = _when_measured()
    landmark_head_val_acc: float | None = _when_measured()
    landmark_history: list[dict[str, Any]] | None = _when_measured()  # noqa: RUF009 (a field(), None)
    landmark_weight_by_source_folds: dict[str, float] | None = _when_measured()  # noqa: RUF009 (a field(), None)
    landmark_weight: float | None = _when_measured()
    # fine-tuning (--finetune)
    head_only_val_acc: float | None = _when_measured()
    finetune_kept: bool | None = _when_measured()
    finetune_val_acc: float | None = _when_measured()
    finetune_seconds: float | None = _when_measured()
    # the model as saved, its temperature and its validation report
    head_val_acc: float | None = _when_measured()
    calibration_fit: dict[str, Any] | None = _when_measured()  # noqa: RUF009 (a field(), None)
    val_per_class: dict[str, Any] | None = _when_measured()  # noqa: RUF009 (a field(), None)

    @property
    def finetuned(self) -> bool:
        return self.finetune_kept is not None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not (f.metadata.get("optional") and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainMetrics:
        """Read ``metrics.json`` back (fields this version does not know are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
