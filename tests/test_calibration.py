"""Honest confidence: a temperature fitted at training, stored in the bundle, used everywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fingerspell import FingerspellError, Model
from fingerspell.head.calibration import fit_temperature, reliability, temper


def test_fit_recovers_a_known_temperature():
    """Labels drawn from softmax(z) are calibrated at T=1; shown softmax(2z), the fit says 2."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4000, 5))
    calibrated = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=p) for p in calibrated])
    overconfident = temper(calibrated, 0.5)
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.0, rel=0.1)
    after = reliability(temper(overconfident, temperature), labels)["ece"]
    assert after < reliability(overconfident, labels)["ece"] and after < 0.03
    assert (temper(overconfident, temperature).argmax(1) == overconfident.argmax(1)).all()


def test_training_stores_the_temperature_and_predict_uses_it(trained_run: Path, shared_test: Path):
    config = json.loads((trained_run / "model" / "config.json").read_text())
    record = config["calibration"]
    assert 0.05 <= record["temperature"] <= 20 and record["n"] >= 20
    assert record["fitted_on"].startswith("validation split")
    assert record["ece_after"] <= record["ece_before"]
    model = Model.load(trained_run / "model")
    assert model.temperature == record["temperature"]
    predictions = model.predict(sorted(shared_test.glob("*_test.jpg"))[:8])
    for p in predictions:
        assert p.unsure == (p.confidence < record["unsure_below"])
        assert p.to_dict()["unsure"] == p.unsure
    # the same vectors without the temperature: same answers, other confidences
    vectors = model.feature_vectors([Path(predictions[0].path)]).vectors
    raw = model.head_proba(vectors, model.head)
    assert raw.argmax() == model.head_proba(vectors).argmax()
    np.testing.assert_allclose(temper(raw, model.temperature), model.head_proba(vectors),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("value", "message"), [
    (-1.0, "'calibration.temperature' should be between"),
    ("hot", "'calibration.temperature' should be a number"),
    ({"temperature": 1.0, "unsure_below": 2}, "'calibration.unsure_below' should be between"),
])
def test_malformed_calibration_is_refused(tiny_model: Path, tmp_path: Path, value, message):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    config = json.loads((copy / "config.json").read_text())
    config["calibration"] = value if isinstance(value, dict) else {"temperature": value}
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(FingerspellError, match=message) as refused:
        Model.load(copy)
    assert "config.json" in str(refused.value) and "\n" not in str(refused.value)


def test_landmark_weight_choice_follows_the_folds_answers() -> None:
    """A surer crop head that is always wrong and a landmark head that is always right: only a
    weight near 1 lets the landmarks win, and the smallest such weight is chosen; with both
    heads right every weight ties and 0.5 stays."""
    import torch

    from fingerspell.head.heads import LateFusionHead
    from fingerspell.training.fitting import Examples
    from fingerspell.training.fusion_weight import choose_landmark_weight
    from fingerspell.training.source_calibration import SourceFold, fold_answers

    def fold(source: int, rows: list[int], crop_says: int) -> SourceFold:
        p_crop = torch.full((len(rows), 3), 0.05)
        p_crop[:, crop_says] = 0.9
        p_marks = torch.full((len(rows), 3), 0.2)
        p_marks[:, 1] = 0.6
        found = torch.ones(len(rows), 1, dtype=torch.bool)
        parts = (p_crop, p_marks, found)
        return SourceFold(source, rows, LateFusionHead.mix(*parts, 0.5).exp().numpy(), parts)

    examples = Examples(np.zeros((4, 4), np.float32), np.full(4, 1), np.ones(4, bool),
                        np.array([0, 0, 1, 1]))
    folds = [fold(0, [0, 1], crop_says=0), fold(1, [2, 3], crop_says=0)]
    weight, scores = choose_landmark_weight(folds, examples)
    # class 1 wins when 0.6 w + 0.05 (1 - w) > 0.2 w + 0.9 (1 - w), i.e. w > 0.68
    assert scores["0.5"] == scores["0.6"] == 0.0 and scores["0.7"] == scores["1.0"] == 1.0
    assert weight == 0.7
    probs, truth = fold_answers(folds, examples, weight)
    assert (probs.argmax(1) == truth).all()
    assert (fold_answers(folds, examples)[0].argmax(1) == 0).all()  # as fitted: weight 0.5
    folds = [fold(0, [0, 1], crop_says=1), fold(1, [2, 3], crop_says=1)]
    assert choose_landmark_weight(folds, examples)[0] == 0.5
    with pytest.raises(ValueError):
        choose_landmark_weight([SourceFold(0, [0], np.ones((1, 3)) / 3)], examples)
