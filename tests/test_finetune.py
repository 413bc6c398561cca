"""Two-stage training: the head on cached features, then the backbone's last blocks on images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fingerspell.features import create_backbone
from fingerspell.infer import Model
from fingerspell.training.finetune import backbone_blocks, unfreeze_last_blocks
from fingerspell.training.loop import EXTENSION_LR_SHARE

from .conftest import link_subset, run_cli


def test_unfreeze_last_blocks_only() -> None:
    backbone = create_backbone("efficientnet_lite0", weights="none")
    blocks = backbone_blocks(backbone.net)
    assert len(blocks) == 17 and "conv_head.weight" in blocks[-1]
    trainable = unfreeze_last_blocks(backbone, 2)
    names = {n for n, p in backbone.net.named_parameters() if p.requires_grad}
    assert names == set(blocks[-1]) | set(blocks[-2]) and len(trainable) == len(names)
    assert len(backbone_blocks(create_backbone("vgg16", weights="none").net)) == 5


def test_too_many_blocks_fails_before_the_run_folder(tmp_path: Path, hand_model: Path) -> None:
    from .conftest import write_image
    for label in ("A", "B"):
        write_image(tmp_path / "data" / label / f"{label}1.jpg")
    result = run_cli("train", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                     "--finetune", "99")
    assert result.returncode == 2 and "has 17 blocks" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_finetune_short_run_then_resume(shared_train: Path, tmp_path: Path) -> None:
    data = link_subset(shared_train, tmp_path / "data", ["A", "B", "C"], per_class=12, step=20)
    out = tmp_path / "run"
    args = ["train", str(data), "--out", str(out), "--epochs", "2", "--finetune", "2"]
    first = run_cli(*args, "--finetune-epochs", "1")
    assert first.returncode == 0, first.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    stages = [h.get("stage", "head") for h in metrics["history"]]
    assert stages == ["head", "head", "finetune"] and "head_only_val_acc" in metrics
    assert (out / "checkpoints" / "finetune_last.pt").is_file()
    per_class = metrics["val_per_class"]  # the report scores the model that was kept
    recall = sum(r["recall"] * r["support"] for r in per_class.values())
    assert recall / sum(r["support"] for r in per_class.values()) == pytest.approx(
        metrics["best_val_acc"], abs=1e-3)

    pretrained = create_backbone("efficientnet_lite0")
    tuned = Model.load(out / "model", runtime="torch")
    changed = [k for k, v in tuned.backbone.net.state_dict().items()
               if not torch.equal(v, pretrained.net.state_dict()[k])]
    if metrics["finetune_kept"]:  # the better of the two stages is the model
        assert metrics["finetune_val_acc"] >= metrics["head_only_val_acc"]
        last_two = {name for block in backbone_blocks(pretrained.net)[-2:] for name in block}
        assert changed and set(changed) <= last_two  # frozen blocks and BN statistics untouched
        assert tuned.backbone.weights_id != pretrained.weights_id
    else:
        assert not changed and tuned.backbone.weights_id == pretrained.weights_id
    tuned_state = torch.load(out / "checkpoints" / "finetune_best.pt", weights_only=True)
    assert any(not torch.equal(v, pretrained.net.state_dict()[k])
               for k, v in tuned_state["backbone"].items())  # stage two did train the backbone

    second = run_cli(*args, "--finetune-epochs", "2", "--resume")
    assert second.returncode == 0, second.stderr
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[2] == metrics["history"][2]  # the finished epoch was kept, not redone
    # the extension continued the finished cosine (from 10% of the rate) instead of restarting
    # its decay at half the rate
    plan = torch.load(out / "checkpoints" / "finetune_last.pt", weights_only=True)["lr_plan"]
    assert plan["anchor_factor"] == pytest.approx(EXTENSION_LR_SHARE)
    assert plan["anchor_step"] * 2 == plan["total"]
    predictions = json.loads(run_cli("predict", str(out), str(next((data / "A").iterdir())),
                                     "--json").stdout)
    assert predictions[0]["label"] in ("A", "B", "C")


def test_fusion_finetunes_its_crop_head_on_hand_crops(shared_train: Path, shared_signers: Path,
                                                      hand_model: Path, tmp_path: Path) -> None:
    """A fusion fine-tunes the backbone with its crop head on the hand crops it reads: the
    validation answers fine-tuning kept are the saved model's crop head on the crops that
    prediction takes; the landmark weight is still chosen on the folders answered without
    themselves (frozen folds), and the temperature comes from the validation split."""
    kaggle = link_subset(shared_train, tmp_path / "kaggle", ["A", "B", "C"], per_class=12,
                         step=20)
    people = link_subset(shared_signers, tmp_path / "people", ["A", "B", "C"], per_class=15,
                         step=4)
    out = tmp_path / "run"
    result = run_cli("train", str(kaggle), str(people), "--out", str(out), "--epochs", "3",
                     "--finetune", "2", "--finetune-epochs", "2", "--val-fraction", "0.3",
                     "--hand-model", str(hand_model))
    assert result.returncode == 0, result.stderr
    assert "crop head only" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["features"] == "fusion"  # --finetune keeps the default features
    assert [h.get("stage") for h in metrics["history"]][-2:] == ["finetune", "finetune"]
    scores = metrics["landmark_weight_by_source_folds"]
    assert scores[str(metrics["landmark_weight"])] == max(scores.values())

    model = Model.load(out / "model", runtime="torch")
    val = [Path(p) for p in json.loads((out / "split.json").read_text())["val"]]
    features = model.feature_vectors(val)
    with torch.no_grad():
        crop_probs = model.head.crop(torch.from_numpy(
            features.vectors[:, :model.backbone.spec.feature_dim])).softmax(-1)
    best = torch.load(out / "checkpoints" / "finetune_best.pt", weights_only=True)
    assert torch.allclose(crop_probs, best["val_probs"], atol=1e-3)

    pretrained = create_backbone("efficientnet_lite0")
    changed = [k for k, v in model.backbone.net.state_dict().items()
               if not torch.equal(v, pretrained.net.state_dict()[k])]
    if metrics["finetune_kept"]:
        assert metrics["finetune_val_acc"] >= metrics["head_only_val_acc"] and changed
        assert model.info.calibration.fitted_on.startswith("validation split")
        # the report and best_val_acc score the fusion end to end, on the new crops
        per_class = metrics["val_per_class"]
        recall = sum(r["recall"] * r["support"] for r in per_class.values())
        assert recall / sum(r["support"] for r in per_class.values()) == pytest.approx(
            metrics["best_val_acc"], abs=1e-3)
    else:
        assert not changed
        assert model.info.calibration.fitted_on.startswith("leave one source out")
