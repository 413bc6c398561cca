"""``fingerspell train``: data folder -> cached features -> trained head -> model bundle + report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_json, write_text
from ..data.layout import ImageSet
from ..data.merge import discover_many
from ..data.split import split_samples
from ..errors import FingerspellError
from ..evaluation.plots import plot_curves
from ..evaluation.run import prediction_report, write_pictures
from ..features.backbones import FrozenBackbone, create_backbone
from ..features.extract import HandCrops, resolve_device
from ..features.feature_mode import FeatureMode, get_mode
from ..features.hands import HandSettings, check_hand_model, resolve_hand_model
from ..features.modes import ModeFeatures
from ..features.onnx_runtime import choose_encoder
from ..head.calibration import calibration_record, temper
from ..head.heads import LateFusionHead, MLPHead
from ..head.recipes import Recipe
from ..infer.bundle import BundleInfo, Calibration, Validation
from ..infer.model import Model
from .config import RunConfig, resolve_config, resume_config
from .distributed import Dist, init_from_env
from .finetune import ImageRows, finetune, last_blocks
from .fitting import LANDMARKS, MAIN, Examples, FittedHead, HeadFitter, remember_views
from .fusion_weight import DEFAULT as DEFAULT_LANDMARK_WEIGHT
from .fusion_weight import choose_landmark_weight
from .loop import Checkpoints, FitCallback, OnEpoch
from .metrics import TrainMetrics
from .options import TrainOptions
from .run_features import RunFeatures
from .run_folder import (
    CONFIG_FILE,
    finish_run_folder,
    numbered_run_dir,
    plan_run_folder,
    refuse_inside_data,
    start_run_folder,
)
from .source_calibration import SourceFold, fold_answers, out_of_source_folds

MIN_CALIBRATION_ROWS = 20  # fewer held-out predictions cannot pin a temperature down


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path
    config: RunConfig
    metrics: TrainMetrics
    skipped: dict[str, str] = field(default_factory=dict)
    is_main: bool = True  # False on torchrun ranks other than 0, which write nothing

    @property
    def val_accuracy(self) -> float:
        return float(self.metrics.best_val_acc or 0.0)

    def summary(self) -> str:
        """The one-screen summary ``fingerspell train`` prints: what was trained on what, how long
        each stage took, the validation accuracy, the calibration and where everything went."""
        m, recipe = self.metrics, self.config.recipe
        fusion = get_mode(m.features).late_fusion
        lines = [
            "",
            f"trained    {m.features} features ({recipe.backbone}) + head "
            f"{list(recipe.hidden) or 'linear'}"
            + (" on the crop, averaged with a landmark MLP" if fusion else "")
            + f" ({self.config.preset} preset), {len(m.history)} epochs",
            f"data       {' + '.join(m.data)}: {len(m.classes)} classes, {m.n_train} "
            f"train / {m.n_val} validation ({m.split} split), {m.n_skipped} skipped",
            *(f"  from     {source['data']}: {source['images']} images, "
              f"{len(source['classes'])} classes ({', '.join(source['classes'])})"
              for source in (m.sources if len(m.sources) > 1 else [])),  # who brought which letters
            f"features   {m.features_computed} extracted, {m.features_cached} from cache, "
            f"{m.feature_seconds:.1f} s ({m.runtime})"
            + (f"; hand found in {m.hand_found:.1%}" if m.hand_found is not None else ""),
            f"head       {m.head_seconds:.1f} s on {m.device}"
            + (f" ({m.world_size} processes)" if m.world_size > 1 else "")
            + (f", resumed after epoch {m.resumed_from_epoch}" if m.resumed_from_epoch else ""),
            f"accuracy   {m.best_val_acc:.2%} on validation (best epoch {m.best_epoch})"
            + (f"; {'crop head' if fusion else 'head'} only {m.head_only_val_acc:.2%}, "
               f"fine-tuned {m.finetune_val_acc:.2%}"
               f" ({'kept' if m.finetune_kept else 'not better: the frozen backbone kept'})"
               if m.finetuned else ""),
        ]
        if m.calibration_fit is not None:
            fit = m.calibration_fit
            lines.append(f"confidence temperature {fit['temperature']:g} fitted on "
                         f"{fit['fitted_on']}: calibration error {fit['ece_before']:.3f} -> "
                         f"{fit['ece_after']:.3f} on {fit['n']} answers")
        if m.landmark_weight is not None:
            scores = m.landmark_weight_by_source_folds
            lines.append(f"fusion     landmark head weight {m.landmark_weight:g}"
                         + (f", chosen on each folder answered without it "
                            f"({scores[str(m.landmark_weight)]:.1%} mean; "
                            f"{' '.join(f'{w}: {s:.1%}' for w, s in scores.items())})"
                            if scores else ""))
        lines += [f"model      {self.model_dir}",
                  f"report     {self.run_dir / 'report.html'} (curves.png, confusion_matrix.png, "
                  f"errors.png)"]
        if self.skipped:
            lines.append(f"skipped    {len(self.skipped)} unreadable images listed in "
                         f"{self.run_dir / 'skipped.txt'}")
        return "\n".join(lines)


def train(data_dir: str | Path | list[str | Path], out: str | Path | None = None,
          options: TrainOptions | None = None, *, resume: bool = False, force: bool = False,
          cache_dir: Path | None = None, workers: int | None = None,
          show_progress: bool = True, callbacks: Sequence[FitCallback] = (),
          **overrides: Any) -> TrainResult:
    """Train a letter recognizer on the labelled images in ``data_dir`` (one folder or a list,
    merged by class name); write it to ``out`` (default: a new numbered ``runs/train<N>``).

    ``options`` and keyword ``overrides`` are ``TrainOptions`` fields (features, backbone,
    epochs, ...). ``out`` receives ``model/`` (the bundle), ``checkpoints/``, ``metrics.json``,
    ``curves.png``, ``confusion_matrix.png``, ``errors.png``, ``report.html`` and, if any image
    was unreadable, ``skipped.txt``. An existing run in ``out`` is continued with ``resume`` or
    replaced with ``force`` (only once the new run has succeeded); any other non-empty folder
    is refused. ``callbacks`` (``FitCallback`` objects) see each epoch of the main head (for a
    fusion: the crop head) as an ``EpochEnd`` (epoch, history, weights, whether it improved);
    raising in one stops training.

    Example:
        >>> result = train("asl_alphabet_train", "runs/lite0", epochs=10)   # doctest: +SKIP
        >>> round(result.val_accuracy, 2)                                   # doctest: +SKIP
        0.8
    """
    options = TrainOptions.build(options, **overrides)
    out = Path(out) if out is not None else numbered_run_dir()
    folder = plan_run_folder(out, resume=resume, force=force)
    config = (resume_config(data_dir, folder.final, folder.work, options) if resume
              else resolve_config(data_dir, folder.final, options))
    # bad data, devices or weights fail here, before the run folder is touched
    device = resolve_device(config.device)
    images = discover_many(config.data)
    refuse_inside_data(folder.final, config.data)
    backbone = create_backbone(config.recipe.backbone, config.weights)
    mode = get_mode(config.recipe.features)
    hand_model = (check_hand_model(resolve_hand_model(config.hand_model, cache_dir))
                  if mode.needs_hands else None)
    if config.recipe.finetune_blocks:
        last_blocks(backbone, config.recipe.finetune_blocks)  # a wrong N fails now
    dist = init_from_env(device.type)
    if dist.active and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if dist.is_main:
        if not resume:
            start_run_folder(folder)
        write_json(folder.work / CONFIG_FILE, config.to_dict())
    dist.barrier()
    try:
        result = _run(config, folder.work, images, backbone, hand_model, device, dist,
                      cache_dir=cache_dir, workers=workers,
                      show_progress=show_progress and dist.is_main, callbacks=callbacks)
    finally:
        if dist.active:
            torch.distributed.destroy_process_group()
    if dist.is_main:
        finish_run_folder(folder)  # a replacement takes the old run's place only now
    return replace(result, run_dir=folder.final, model_dir=folder.final / "model")


def _part_callbacks(run_dir: Path, config: RunConfig, dist: Dist,
                    on_epoch: Callable[[list[dict[str, Any]]], None],
                    user: Sequence[FitCallback] = ()) -> Callable[[str], list[FitCallback]]:
    """Each head part checkpoints in its own folder (rank 0 writes; every rank resumes); the
    main part also reports to ``user``'s callbacks."""
    def callbacks(part: str) -> list[FitCallback]:
        folder = run_dir / "checkpoints" / ("" if part == MAIN else part)
        keep = config.keep_epochs if part == MAIN else None
        found: list[FitCallback] = [Checkpoints(folder, keep, write=dist.is_main)]
        if part == MAIN and dist.is_main:
            found += [OnEpoch(on_epoch), *user]
        return found
    return callbacks


@dataclass
class RunData:
    """Stage one's record: the photos split, their features as the heads see them, and what the
    run learnt from (``metrics``)."""

    paths: list[Path]
    labels: np.ndarray
    features: ModeFeatures
    examples: Examples
    train_idx: list[int]
    val_idx: list[int]
    split_strategy: str
    skipped: dict[str, str]
    metrics: TrainMetrics


@dataclass
class RunHeads:
    """Stage two's record: the fitted head(s), the answers about each data folder from heads
    fitted without it (when there are several), and the run's metrics so far."""

    fitter: HeadFitter
    fitted: FittedHead
    folds: list[SourceFold] | None
    metrics: TrainMetrics

    @property
    def head(self) -> MLPHead | LateFusionHead:
        return self.fitted.head


def _run(config: RunConfig, run_dir: Path, images: ImageSet, backbone: FrozenBackbone,
         hand_model: Path | None, device: torch.device, dist: Dist, *, cache_dir: Path | None,
         workers: int | None, show_progress: bool,
         callbacks: Sequence[FitCallback] = ()) -> TrainResult:
    """The stages: data (split, features), heads (and the fusion's weight), fine-tuning if asked,
    then the model, its validation answers and temperature, and the files of the run."""
    recipe = config.recipe
    mode = get_mode(recipe.features)
    hand_settings = config.hand
    data = _data_stage(config, run_dir, images, backbone, hand_model, device, dist, mode=mode,
                       hand_settings=hand_settings, cache_dir=cache_dir, workers=workers,
                       show_progress=show_progress)
    heads = _head_stage(data, config, run_dir, images, mode, recipe, backbone.spec.feature_dim,
                        device, dist, show_progress=show_progress, callbacks=callbacks)
    metrics, head = heads.metrics, heads.head
    val_probs, tuned = None, False
    if recipe.finetune_blocks:
        hands = data.features.hands if mode.backbone_input == "crop" else None

        def rows(index: list[int]) -> ImageRows:  # the photos as the head reads them
            return ImageRows([data.paths[i] for i in index], data.labels[index],
                             HandCrops([hands[i] for i in index], hand_settings.margin)
                             if hands is not None else None)
        # a fusion fine-tunes its crop head with the backbone; the landmark head stays
        part = head.crop if isinstance(head, LateFusionHead) else head
        tuned, val_probs = _finetune_stage(backbone, part, recipe, config, metrics, run_dir,
                                           device, dist, train=rows(data.train_idx),
                                           val=rows(data.val_idx), workers=workers,
                                           show_progress=show_progress)
    if not dist.is_main:  # the other ranks helped; rank 0 writes the results
        return TrainResult(run_dir, run_dir / "model", config, metrics, data.skipped,
                           is_main=False)

    model = Model(backbone, head.cpu(), images.classes,
        info=BundleInfo(recipe=recipe.to_dict(), preset=config.preset),
        features=mode, hand_settings=hand_settings, hand_model=hand_model,
        fallback_head=heads.fitted.fallback.cpu() if heads.fitted.fallback is not None else None)
    model.to(torch.device("cpu"))
    val_probs = _validation_answers(model, data, metrics, val_probs, tuned, cache_dir)
    val_probs = _calibrate(model, data, heads, val_probs, tuned, config, len(images.sources))
    model.info.validation = Validation(float(metrics.best_val_acc or 0.0), data.split_strategy,
                                       len(data.val_idx), [str(p) for p in images.sources])
    model.save(run_dir / "model")
    _write_report(run_dir, images, data, metrics, val_probs, recipe, config)
    write_json(run_dir / "metrics.json", metrics.to_dict())
    return TrainResult(run_dir, run_dir / "model", config, metrics, data.skipped)


def _data_stage(config: RunConfig, run_dir: Path, images: ImageSet,
                backbone: FrozenBackbone, hand_model: Path | None, device: torch.device,
                dist: Dist, *, mode: FeatureMode, hand_settings: HandSettings,
                cache_dir: Path | None, workers: int | None, show_progress: bool) -> RunData:
    """Split the photos (split.json), compute their features (cached; skipped.txt lists the
    unreadable), and describe the data."""
    split = split_samples(images.samples, val_fraction=config.val_fraction,
                          seed=config.seed, strategy=config.split_by)
    paths = [s.path for s in images.samples]
    if dist.is_main:
        write_json(run_dir / "split.json", {
            "strategy": split.strategy, "seed": config.seed,
            "val": [str(paths[i]) for i in split.val]})
    for turn in (True, False):  # rank 0 creates the caches and ONNX graph before the others
        if dist.is_main == turn:
            encoder = choose_encoder(backbone, runtime=config.runtime,
                                     device=device, cache_root=cache_dir)
        dist.barrier()
    extract = RunFeatures(encoder, hand_model=hand_model, hand_settings=hand_settings,
                          cache_dir=cache_dir, workers=workers, device=device, dist=dist,
                          show_progress=show_progress)
    features = extract(mode, paths)
    skipped = {str(paths[i]): reason for i, reason in sorted(features.failed.items())}
    if skipped and dist.is_main:
        write_text(run_dir / "skipped.txt",
                   "".join(f"{path}\t{reason}\n" for path, reason in skipped.items()))
    train_idx = [i for i in split.train if i not in features.failed]
    val_idx = [i for i in split.val if i not in features.failed]
    # a landmarks head learns from hands only; the no-hand rule answers for the rest
    if not any(features.found[i] or not mode.head_needs_hand for i in train_idx):
        raise FingerspellError(f"{images.root}: no readable training images"
                               + (" with a hand found" if mode.head_needs_hand else "")
                               + f" (see {run_dir / 'skipped.txt'})")
    label_of = {name: i for i, name in enumerate(images.classes)}
    labels = np.asarray([label_of[s.label] for s in images.samples])
    sources = np.asarray([s.source for s in images.samples])
    metrics = _data_metrics(images, mode, split.strategy, features, train_idx, val_idx,
                            skipped, sources)
    metrics.device, metrics.runtime, metrics.world_size = str(device), encoder.runtime, dist.world
    # views kept once computed: the heads fitted without each folder need the same rows' views
    examples = Examples(features.vectors, labels, features.found,
                        sources if len(images.sources) > 1 else None,
                        remember_views(extract.views(paths), len(paths)))
    return RunData(paths, labels, features, examples, train_idx, val_idx, split.strategy,
                   skipped, metrics)


def _head_stage(data: RunData, config: RunConfig, run_dir: Path, images: ImageSet,
                mode: FeatureMode, recipe: Recipe, feature_dim: int, device: torch.device,
                dist: Dist, *, show_progress: bool, callbacks: Sequence[FitCallback]) -> RunHeads:
    """Fit the head(s) on the training rows (checkpoints, resume, metrics.json every epoch),
    then a fusion's landmark weight: given, or chosen on each data folder answered by heads
    fitted without it."""
    def on_epoch(history: list[dict[str, Any]]) -> None:
        write_json(run_dir / "metrics.json", replace(data.metrics, history=history).to_dict())

    fitter = HeadFitter(mode, recipe, len(images.classes), feature_dim, seed=config.seed,
                        device=device, show_progress=show_progress,
                        callbacks=_part_callbacks(run_dir, config, dist, on_epoch, callbacks))
    no_nothing = "nothing" not in {c.lower() for c in images.classes}
    fitted = fitter.fit(data.examples, data.train_idx, data.val_idx,
                        fallback=mode.head_needs_hand and no_nothing)
    fit = fitted.main
    metrics = replace(data.metrics, n_train_rows=fitted.n_train_rows, best_epoch=fit.best_epoch,
                      best_val_acc=fit.best_val_acc, head_seconds=round(fitted.seconds, 2),
                      resumed_from_epoch=fit.resumed_from, history=fit.history)
    if LANDMARKS in fitted.parts:
        marks = fitted.parts[LANDMARKS]
        metrics.crop_head_val_acc = fit.best_val_acc
        metrics.landmark_head_val_acc, metrics.landmark_history = marks.best_val_acc, marks.history
    # answers about each data folder from heads fitted without it: for the fusion's weight
    # and for the temperature (--calibrate-on sources), both the default with several folders.
    # The folds' heads read the frozen backbone: a fine-tuned model's temperature comes from
    # its validation split instead, but the weight is still chosen on them. Under torchrun
    # every rank fits the same folds, as it fits the same head (seconds on cached features).
    several = len(images.sources) > 1
    weight = config.landmark_weight
    folds = None
    if several and ((mode.late_fusion and weight == "auto")
                    or (config.calibrate_on == "sources" and not recipe.finetune_blocks)):
        folds = out_of_source_folds(fitter, data.examples, data.train_idx + data.val_idx,
                                    show_progress=show_progress)
    head = fitted.head
    if isinstance(head, LateFusionHead):
        if weight != "auto":
            head.landmark_weight = float(weight)
        elif folds:
            head.landmark_weight, scores = choose_landmark_weight(folds, data.examples)
            metrics.landmark_weight_by_source_folds = scores
        else:
            head.landmark_weight = DEFAULT_LANDMARK_WEIGHT
        metrics.landmark_weight = head.landmark_weight
    return RunHeads(fitter, fitted, folds, metrics)


def _validation_answers(model: Model, data: RunData, metrics: TrainMetrics,
                        val_probs: torch.Tensor | None, tuned: bool,
                        cache_dir: Path | None) -> torch.Tensor | None:
    """The validation photos answered as the model will answer (updating ``best_val_acc``):
    the head plus the no-hand rule, or after a kept fine-tuning its crop head's answers
    completed by the landmark head."""
    val_idx = data.val_idx
    if not val_idx:
        return val_probs
    head = model.head
    if tuned and isinstance(head, LateFusionHead):
        # fine-tuning answered for the crop head on the validation crops (the cached crop
        # features are the frozen backbone's); the landmark head's answers complete the fusion
        assert val_probs is not None
        with torch.no_grad():
            _, marks, found = head.parts(torch.from_numpy(data.features.vectors[val_idx]))
            val_probs = LateFusionHead.mix(val_probs, marks, found, head.landmark_weight).exp()
        metrics.head_val_acc = metrics.best_val_acc
        metrics.best_val_acc = float((val_probs.argmax(1).numpy() == data.labels[val_idx]).mean())
    if val_probs is None:
        # the final rule end to end: head, plus `nothing` or the fallback where no hand is found
        hands = data.features.hands
        val_features = ModeFeatures(data.features.vectors[val_idx], {},
                                    [hands[i] for i in val_idx] if hands is not None else None)
        probs, _ = model.decide(val_features, model.whole_image_features(
            [data.paths[i] for i in val_idx], use_cache=True, cache_root=cache_dir))
        val_probs = torch.from_numpy(probs)
        metrics.head_val_acc = metrics.best_val_acc
        metrics.best_val_acc = float((probs.argmax(1) == data.labels[val_idx]).mean())
    return val_probs


def _calibrate(model: Model, data: RunData, heads: RunHeads, val_probs: torch.Tensor | None,
               tuned: bool, config: RunConfig, n_folders: int) -> torch.Tensor | None:
    """Honest confidence: one temperature fitted on held-out answers (answers unchanged), stored
    in the model; returns the validation answers at that temperature.

    With several folders (--calibrate-on sources, the default) the answers about each folder
    from heads fitted without it, else (one folder, a fine-tuned backbone the folds would not
    share, or --calibrate-on validation) the validation split's.
    benchmarks/generalisation.py --validation-temperature compares them."""
    held_out = None
    if config.calibrate_on == "sources" and heads.folds and not tuned:
        # the folds answer as the model will: a fusion at the weight it keeps
        probs, truth = fold_answers(heads.folds, data.examples,
                                    getattr(heads.head, "landmark_weight", None))
        if len(truth) >= MIN_CALIBRATION_ROWS:
            held_out = (probs, truth, f"leave one source out ({n_folders} folders)")
    if held_out is None and val_probs is not None and len(data.val_idx) >= MIN_CALIBRATION_ROWS:
        held_out = (val_probs.numpy(), data.labels[data.val_idx],
                    f"validation split ({data.split_strategy})")
    if held_out is not None:
        record = calibration_record(*held_out)
        heads.metrics.calibration_fit = record
        model.info.calibration = Calibration.from_dict(record)
        if val_probs is not None:
            val_probs = torch.from_numpy(temper(val_probs.numpy(), record["temperature"]))
    return val_probs


def _write_report(run_dir: Path, images: ImageSet, data: RunData, metrics: TrainMetrics,
                  val_probs: torch.Tensor | None, recipe: Recipe, config: RunConfig) -> None:
    """curves.png, and for the validation answers confusion_matrix.png, errors.png,
    confidence.png and report.html (``val_per_class`` into ``metrics``)."""
    curves = plot_curves(metrics.history, run_dir / "curves.png")
    if val_probs is None:
        return
    val_idx, hands = data.val_idx, data.features.hands
    report = prediction_report(
        images.classes, [str(data.paths[i]) for i in val_idx], data.labels[val_idx],
        val_probs.numpy(), hands=[hands[i] for i in val_idx] if hands is not None else None,
        signers=[images.samples[i].signer for i in val_idx])
    write_pictures(
        report, run_dir, images.classes, title=f"Validation ({data.split_strategy} split)",
        summary={"features": recipe.features, "backbone": recipe.backbone,
                 "preset": config.preset, "best epoch": metrics.best_epoch,
                 "training images": len(data.train_idx), "skipped images": len(data.skipped)},
        more_pictures=(curves,))
    metrics.val_per_class = report["per_class"]


def _data_metrics(images: ImageSet, mode: FeatureMode, strategy: str, features: ModeFeatures,
                  train_idx: list[int], val_idx: list[int], skipped: dict[str, str],
                  sources: np.ndarray) -> TrainMetrics:
    """What the run learnt from: folders, classes, split, hand detection, extraction."""
    covered = {(s.source, s.label) for s in images.samples}
    return TrainMetrics(
        data=[str(p) for p in images.sources], layout=images.layout,
        sources=[{"data": str(root), "images": int((sources == k).sum()),
                  "classes": [c for c in images.classes if (k, c) in covered]}
                 for k, root in enumerate(images.sources)],
        classes=images.classes, features=mode.name,
        split=strategy, n_train=len(train_idx), n_val=len(val_idx),
        hand_found=round(float(features.found[train_idx + val_idx].mean()), 4)
        if mode.needs_hands else None,
        n_skipped=len(skipped), feature_seconds=round(features.seconds, 2),
        features_computed=features.computed,
        features_cached=len(images.samples) - features.computed)


def _finetune_stage(backbone: FrozenBackbone, head: MLPHead, recipe: Recipe,
                    config: RunConfig, metrics: TrainMetrics, run_dir: Path,
                    device: torch.device, dist: Dist, *, train: ImageRows, val: ImageRows,
                    workers: int | None, show_progress: bool) -> tuple[bool, torch.Tensor | None]:
    """Stage two: fine-tune the backbone's last blocks with ``head`` (the head that reads the
    backbone: a fusion's crop head); keep it only if it beats that head alone on validation
    (else both are restored). Updates ``metrics``; returns whether fine-tuning was kept and,
    if so, ``head``'s validation probabilities."""
    head_only = metrics.best_val_acc
    before = ({k: v.detach().clone() for k, v in backbone.net.state_dict().items()},
              {k: v.detach().clone() for k, v in head.state_dict().items()}, backbone.weights_id)
    tuned = finetune(backbone, head, recipe, train=train, val=val,
                     checkpoint_dir=run_dir / "checkpoints", device=device, seed=config.seed,
                     first_epoch=recipe.epochs + 1, keep_epochs=config.keep_epochs,
                     workers=workers, show_progress=show_progress, dist=dist)
    kept = tuned.best_val_acc >= (head_only or 0.0)
    metrics.head_only_val_acc, metrics.finetune_kept = head_only, kept
    metrics.finetune_val_acc, metrics.finetune_seconds = tuned.best_val_acc, tuned.seconds
    metrics.history = metrics.history + tuned.history
    if kept:  # fine-tuning already scored the validation images with its best weights
        metrics.best_epoch, metrics.best_val_acc = tuned.best_epoch, tuned.best_val_acc
        return True, tuned.val_probs
    backbone.net.load_state_dict(before[0])  # not better: keep stage one's model
    head.load_state_dict(before[1])
    backbone.weights_id = before[2]
    return False, None
