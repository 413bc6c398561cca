"""``fingerspell train``: data folder -> cached features -> trained head -> model bundle + report."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_json, write_text
from ..data.layout import ImageSet
from ..data.merge import discover_many, source_balanced_weights
from ..data.split import split_samples
from ..errors import FingerspellError
from ..evaluation.plots import plot_curves
from ..evaluation.run import summarize_predictions
from ..features.backbones import FrozenBackbone, create_backbone
from ..features.extract import resolve_device
from ..features.feature_mode import FeatureMode, get_mode
from ..features.hands import HandSettings, check_hand_model, resolve_hand_model
from ..features.landmarks import LANDMARK_DIM
from ..features.modes import FeaturePipeline, ModeFeatures
from ..features.onnx_runtime import choose_encoder
from ..head.heads import LateFusionHead
from ..head.recipes import Recipe, recipe_for_features
from ..infer.model import Model
from .config import resolve_config, resume_config
from .distributed import Dist, init_from_env
from .finetune import finetune, last_blocks
from .loop import fit_head
from .options import TrainOptions
from .run_folder import (
    CONFIG_FILE,
    finish_run_folder,
    numbered_run_dir,
    plan_run_folder,
    start_run_folder,
)


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    is_main: bool = True  # False on torchrun ranks other than 0, which write nothing

    @property
    def val_accuracy(self) -> float:
        return float(self.metrics["best_val_acc"])


def train(data_dir: str | Path | list[str | Path], out: str | Path | None = None,
          options: TrainOptions | None = None, *, resume: bool = False, force: bool = False,
          cache_dir: Path | None = None, workers: int | None = None,
          show_progress: bool = True, **overrides: Any) -> TrainResult:
    """Train a letter recognizer on the labelled images in ``data_dir`` (one folder or a list,
    merged by class name); write it to ``out`` (default: a new numbered ``runs/train<N>``).

    ``options`` and keyword ``overrides`` are ``TrainOptions`` fields (features, backbone,
    epochs, ...). ``out`` receives ``model/`` (the bundle), ``checkpoints/``, ``metrics.json``,
    ``curves.png``, ``confusion_matrix.png``, ``errors.png``, ``report.html`` and, if any image
    was unreadable, ``skipped.txt``. An existing run in ``out`` is continued with ``resume`` or
    replaced with ``force`` (only once the new run has succeeded); any other non-empty folder
    is refused.

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
    device = resolve_device(config["device"])
    images = discover_many(config["data"])
    backbone = create_backbone(config["recipe"]["backbone"], config["weights"])
    mode = get_mode(config["recipe"]["features"])
    hand_model = (check_hand_model(resolve_hand_model(config["hand_model"], cache_dir))
                  if mode.needs_hands else None)
    if config["recipe"]["finetune_blocks"]:
        last_blocks(backbone, config["recipe"]["finetune_blocks"])  # a wrong N fails now
    dist = init_from_env(device.type)
    if dist.active and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if dist.is_main:
        if not resume:
            start_run_folder(folder)
        write_json(folder.work / CONFIG_FILE, config)
    dist.barrier()
    try:
        result = _run(config, folder.work, images, backbone, hand_model, device, dist,
                      cache_dir=cache_dir, workers=workers,
                      show_progress=show_progress and dist.is_main)
    finally:
        if dist.active:
            torch.distributed.destroy_process_group()
    if dist.is_main:
        finish_run_folder(folder)  # a replacement takes the old run's place only now
    return replace(result, run_dir=folder.final, model_dir=folder.final / "model")


def _run(config: dict[str, Any], run_dir: Path, images: ImageSet, backbone: FrozenBackbone,
         hand_model: Path | None, device: torch.device, dist: Dist, *, cache_dir: Path | None,
         workers: int | None, show_progress: bool) -> TrainResult:
    recipe = Recipe.from_dict(config["recipe"])
    mode = get_mode(recipe.features)
    split = split_samples(images.samples, val_fraction=config["val_fraction"],
                          seed=config["seed"], strategy=config["split_by"])
    paths = [s.path for s in images.samples]
    if dist.is_main:
        write_json(run_dir / "split.json", {
            "strategy": split.strategy, "seed": config["seed"],
            "val": [str(paths[i]) for i in split.val]})

    for turn in (True, False):  # rank 0 creates the caches and ONNX graph before the others
        if dist.is_main == turn:
            encoder = choose_encoder(backbone, runtime=config.get("runtime") or "auto",
                                     device=device, cache_root=cache_dir)
        dist.barrier()

    def pipeline(feature_mode: FeatureMode, progress: bool = show_progress) -> FeaturePipeline:
        return FeaturePipeline(feature_mode, encoder, hand_model=hand_model,
                               hand_settings=HandSettings.from_dict(config["hand"]),
                               cache_root=cache_dir, workers=workers, device=device,
                               show_progress=progress)

    def extract(files: list[Path], view: int = 0, feature_mode: FeatureMode = mode) -> ModeFeatures:
        if not dist.active:
            return pipeline(feature_mode).compute(files, view)
        # each rank fills the shared caches with its share, then every rank reads all of it
        share = pipeline(feature_mode).compute(files[dist.rank::dist.world], view)
        computed = torch.tensor([share.computed], dtype=torch.int64)
        seconds = torch.tensor([share.seconds], dtype=torch.float64)
        torch.distributed.all_reduce(computed)  # images extracted by all ranks together
        torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
        result = pipeline(feature_mode, progress=False).compute(files, view)
        result.computed, result.seconds = int(computed), float(seconds) + result.seconds
        return result

    features = extract(paths)
    skipped = {str(paths[i]): reason for i, reason in sorted(features.failed.items())}
    if skipped and dist.is_main:
        write_text(run_dir / "skipped.txt",
                   "".join(f"{path}\t{reason}\n" for path, reason in skipped.items()))
    # a landmarks head learns from hands only; the no-hand rule answers for the rest
    usable = features.found if mode.head_needs_hand else np.ones(len(paths), dtype=bool)
    train_idx = [i for i in split.train if i not in features.failed]
    val_idx = [i for i in split.val if i not in features.failed]
    head_train = [i for i in train_idx if usable[i]]
    head_val = [i for i in val_idx if usable[i]]
    if not head_train:
        raise FingerspellError(f"{images.root}: no readable training images"
                               + (" with a hand found" if mode.head_needs_hand else "")
                               + f" (see {run_dir / 'skipped.txt'})")

    label_of = {name: i for i, name in enumerate(images.classes)}
    labels = np.asarray([label_of[s.label] for s in images.samples])
    sources = np.asarray([s.source for s in images.samples])

    def tensors(vectors: np.ndarray, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(np.asarray(vectors, np.float32)).to(device),
                torch.from_numpy(labels[rows]).to(device))

    def training_set(rows: list[int], base: np.ndarray, part_recipe: Recipe, feature_mode: FeatureMode,
                     columns: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``base`` (the rows' vectors) plus the recipe's augmented views of the same photos
        (``columns`` of ``feature_mode``'s vectors), labels, and the loss weights that make
        merged data folders count equally within a class."""
        x, y = tensors(base, rows)
        all_rows = list(rows)
        for view in range(1, part_recipe.augment_views + 1):
            augmented = extract([paths[i] for i in rows], view, feature_mode=feature_mode)
            keep = [j for j in range(len(rows)) if j not in augmented.failed]
            x_view, y_view = tensors(augmented.vectors[keep][:, columns], [rows[j] for j in keep])
            x, y = torch.cat([x, x_view]), torch.cat([y, y_view])
            all_rows += [rows[j] for j in keep]
        weights = None
        if part_recipe.balance_sources and len(images.sources) > 1:
            weights = torch.from_numpy(source_balanced_weights(labels[all_rows],
                                                               sources[all_rows])).float().to(device)
        return x, y, weights

    # fusion's main head is the crop half of the late fusion: crop features only
    columns = slice(0, backbone.spec.feature_dim) if mode.late_fusion else slice(None)
    x_train, y_train, weights = training_set(head_train, features.vectors[head_train][:, columns],
                                             recipe, mode, columns)
    x_val, y_val = tensors(features.vectors[head_val][:, columns], head_val)
    torch.manual_seed(config["seed"])
    head = recipe.make_head(x_train.shape[1], len(images.classes))
    head.set_normalization(x_train)
    head.to(device)

    found = features.found
    covered = {(s.source, s.label) for s in images.samples}
    base_metrics = {
        "data": [str(p) for p in images.sources], "layout": images.layout,
        "sources": [{"data": str(root), "images": int((sources == k).sum()),
                     "classes": [c for c in images.classes if (k, c) in covered]}
                    for k, root in enumerate(images.sources)],
        "classes": images.classes, "features": mode.name,
        "split": split.strategy, "n_train": len(train_idx),
        "n_train_rows": len(x_train), "n_val": len(val_idx),
        "hand_found": round(float(found[train_idx + val_idx].mean()), 4)
        if mode.needs_hands else None,
        "n_skipped": len(skipped), "feature_seconds": round(features.seconds, 2),
        "features_computed": features.computed, "features_cached": len(paths) - features.computed,
        "device": str(device), "runtime": encoder.runtime, "world_size": dist.world,
    }

    def on_epoch(history: list[dict[str, Any]]) -> None:
        if dist.is_main:
            write_json(run_dir / "metrics.json", {**base_metrics, "history": history})

    fit = fit_head(head, recipe, x_train, y_train, x_val, y_val,
                   checkpoint_dir=run_dir / "checkpoints", seed=config["seed"],
                   keep_epochs=config.get("keep_epochs"), show_progress=show_progress,
                   on_epoch=on_epoch, writer=dist.is_main, sample_weight=weights)
    fallback = None
    if mode.head_needs_hand and "nothing" not in {c.lower() for c in images.classes}:
        # no `nothing` class to answer for photos without a hand: learn a whole-image head
        image_recipe = recipe_for_features("image")
        whole = extract(paths, feature_mode=get_mode("image"))
        fb_train = [i for i in train_idx if i not in whole.failed]
        fb_val = [i for i in val_idx if i not in whole.failed]
        fallback = image_recipe.make_head(backbone.spec.feature_dim, len(images.classes))
        fallback = fit_head(fallback, image_recipe, *tensors(whole.vectors[fb_train], fb_train),
                            *tensors(whole.vectors[fb_val], fb_val),
                            checkpoint_dir=run_dir / "checkpoints" / "fallback",
                            seed=config["seed"], show_progress=show_progress,
                            writer=dist.is_main).head.cpu()

    metrics = {**base_metrics, "best_epoch": fit.best_epoch, "best_val_acc": fit.best_val_acc,
               "head_seconds": round(fit.seconds, 2), "resumed_from_epoch": fit.resumed_from,
               "history": fit.history}
    head = fit.head
    if mode.late_fusion:
        # the landmark half: the landmarks mode's own recipe on the photos with a hand
        marks = recipe_for_features("landmarks")
        with_hand = [i for i in train_idx if found[i]]
        val_hand = [i for i in val_idx if found[i]]
        part = slice(backbone.spec.feature_dim, backbone.spec.feature_dim + LANDMARK_DIM)
        # jittered hands come from the landmarks pipeline: cached detections, no image work
        x_marks, y_marks, mark_weights = training_set(
            with_hand, features.vectors[with_hand, part], marks, get_mode("landmarks"), slice(None))
        torch.manual_seed(config["seed"])
        landmark_head = marks.make_head(LANDMARK_DIM, len(images.classes))
        landmark_head.set_normalization(x_marks)
        landmark_fit = fit_head(landmark_head.to(device), marks, x_marks, y_marks,
                                *tensors(features.vectors[val_hand, part], val_hand),
                                checkpoint_dir=run_dir / "checkpoints" / "landmarks",
                                seed=config["seed"], show_progress=show_progress,
                                writer=dist.is_main, sample_weight=mark_weights)
        head = LateFusionHead(head, landmark_fit.head)
        metrics.update(crop_head_val_acc=fit.best_val_acc,
                       landmark_head_val_acc=landmark_fit.best_val_acc,
                       landmark_history=landmark_fit.history,
                       head_seconds=round(fit.seconds + landmark_fit.seconds, 2))
    val_probs = None
    if recipe.finetune_blocks:
        before = ({k: v.detach().clone() for k, v in backbone.net.state_dict().items()},
                  {k: v.detach().clone() for k, v in head.state_dict().items()}, backbone.weights_id)
        tuned = finetune(backbone, head, recipe,
                         train=([paths[i] for i in train_idx], labels[train_idx]),
                         val=([paths[i] for i in val_idx], labels[val_idx]),
                         checkpoint_dir=run_dir / "checkpoints", device=device,
                         seed=config["seed"], first_epoch=recipe.epochs + 1,
                         keep_epochs=config.get("keep_epochs"), workers=workers,
                         show_progress=show_progress, dist=dist)
        kept = tuned["best_val_acc"] >= fit.best_val_acc
        metrics.update(head_only_val_acc=fit.best_val_acc, finetune_kept=kept,
                       finetune_val_acc=tuned["best_val_acc"], finetune_seconds=tuned["seconds"],
                       history=fit.history + tuned["history"])
        if kept:  # fine-tuning already scored the validation images with its best weights
            metrics.update(best_epoch=tuned["best_epoch"], best_val_acc=tuned["best_val_acc"])
            val_probs = tuned["val_probs"]
        else:  # fine-tuning did not beat the head alone on validation: keep stage one's model
            backbone.net.load_state_dict(before[0])
            head.load_state_dict(before[1])
            backbone.weights_id = before[2]
    if not dist.is_main:  # the other ranks helped; rank 0 writes the results
        return TrainResult(run_dir, run_dir / "model", config, metrics, skipped, is_main=False)

    model = Model(backbone, head.cpu(), images.classes, info={
        "recipe": recipe.to_dict(), "preset": config["preset"]},
        features=mode, hand_settings=HandSettings.from_dict(config["hand"]),
        hand_model=hand_model, fallback_head=fallback)
    model.to(torch.device("cpu"))
    if val_idx and val_probs is None:
        # the final rule end to end: head, plus `nothing` or the fallback where no hand is found
        val_features = ModeFeatures(features.vectors[val_idx], {},
                                    [features.hands[i] for i in val_idx]
                                    if features.hands is not None else None)
        probs, _ = model.decide(val_features, model.whole_image_features(
            [paths[i] for i in val_idx], use_cache=True, cache_root=cache_dir))
        val_probs = torch.from_numpy(probs)
        metrics["head_val_acc"] = metrics["best_val_acc"]
        metrics["best_val_acc"] = float((probs.argmax(1) == labels[val_idx]).mean())
    model.info["validation"] = {"accuracy": metrics["best_val_acc"], "split": split.strategy,
                                "n": len(val_idx), "data": [str(p) for p in images.sources]}
    model.save(run_dir / "model")

    curves = plot_curves(metrics["history"], run_dir / "curves.png")
    if val_probs is not None:
        report, _ = summarize_predictions(
            run_dir, images.classes, [str(paths[i]) for i in val_idx], labels[val_idx],
            val_probs.numpy(),
            title=f"Validation ({split.strategy} split)",
            hands=[features.hands[i] for i in val_idx] if features.hands is not None else None,
            signers=[images.samples[i].signer for i in val_idx],
            summary={"features": mode.name, "backbone": recipe.backbone, "preset": config["preset"],
                     "best epoch": metrics["best_epoch"], "training images": len(train_idx),
                     "skipped images": len(skipped)},
            more_pictures=(curves,))
        metrics["val_per_class"] = report["per_class"]
    write_json(run_dir / "metrics.json", metrics)
    return TrainResult(run_dir, run_dir / "model", config, metrics, skipped)
