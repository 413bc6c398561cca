"""The Python API as a user meets it: ``Model.predict`` takes what they have at hand (a path, a
folder, a list, a PIL image or a NumPy array) and answers the same letter whichever form it came
in; ``fingerspell.evaluate`` returns metrics and writes files only when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fingerspell
from fingerspell import FingerspellError, ImageError, Model


@pytest.fixture(scope="module")
def builtin(hand_model: Path) -> Model:
    return Model.load("asl-alphabet")


def test_a_single_path_is_one_photo_not_its_characters(builtin: Model, shared_test: Path) -> None:
    photo = shared_test / "B_test.jpg"
    for given in (str(photo), photo):
        predictions = builtin.predict(given)
        failed = predictions.failed
        assert [p.path for p in predictions] == [str(photo)] and not failed
        assert predictions[0].label == "B"


def test_a_folder_is_its_images_in_name_order(builtin: Model, shared_test: Path) -> None:
    predictions = builtin.predict(shared_test)
    failed = predictions.failed
    expected = sorted(p for p in shared_test.iterdir() if p.suffix == ".jpg")
    assert [p.path for p in predictions] == [str(p) for p in expected] and not failed
    right = sum(p.label == Path(p.path).name.split("_test")[0] for p in predictions)
    assert right >= 0.9 * len(expected)


def test_images_in_memory_answer_as_the_file_does(builtin: Model, shared_test: Path) -> None:
    photo = shared_test / "L_test.jpg"
    from_file = builtin.predict([photo])[0]
    image = Image.open(photo)
    in_memory = builtin.predict([image, np.asarray(image.convert("RGB"))])
    failed = in_memory.failed
    assert not failed and [p.label for p in in_memory] == [from_file.label] * 2
    assert [p.path for p in in_memory] == ["image 0", "image 1"]
    assert in_memory[0].confidence == pytest.approx(from_file.confidence, abs=0.02)


@pytest.mark.parametrize(("source", "message"), [
    (np.zeros((10, 10, 3), np.uint8), "image too small"),
    (Image.new("RGB", (40, 4000)), "too elongated"),
    (np.zeros((64, 64, 3), np.float32), "uint8 array"),
    ("no-such-photo.jpg", "file does not exist"),
])
def test_bad_sources_are_one_line_errors(builtin: Model, source: object, message: str) -> None:
    with pytest.raises((FingerspellError, ImageError), match=message):
        builtin.predict(source)


def test_files_and_images_are_not_mixed(builtin: Model, shared_test: Path) -> None:
    with pytest.raises(FingerspellError, match="not a mix"):
        builtin.predict([shared_test / "A_test.jpg", Image.new("RGB", (64, 64))])


def test_evaluate_from_python_writes_nothing_unless_asked(builtin: Model, shared_test: Path,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = builtin.evaluate(shared_test, show_progress=False)
    assert result.report["n"] == 28 and result.accuracy >= 0.9
    assert result.out_dir is None and result.files == [] and list(tmp_path.iterdir()) == []
    asked = fingerspell.evaluate("asl-alphabet", shared_test, out_dir=tmp_path / "eval",
                                 show_progress=False)  # a name or folder is loaded first
    assert asked.report["accuracy"] == result.report["accuracy"]
    assert {p.name for p in asked.files} == {"confidence.png", "confusion_matrix.png",
                                             "errors.png", "report.html"}


def test_predict_proba_is_the_answer_behind_predict(builtin: Model, shared_test: Path,
                                                    tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    photos = [shared_test / "A_test.jpg", broken, shared_test / "Y_test.jpg"]
    answer = builtin.predict_proba(photos)
    assert answer.answered == [0, 2] and set(answer.failed) == {1}
    assert np.allclose(answer.probs[answer.answered].sum(1), 1.0, atol=1e-4)
    predictions = builtin.predict(photos)
    failed = predictions.failed
    assert [builtin.classes[int(answer.probs[i].argmax())] for i in answer.answered] == \
        [p.label for p in predictions] == ["A", "Y"]
    assert list(failed) == [str(broken)]


def test_predictions_draw_save_and_serialise_themselves(builtin: Model, shared_test: Path,
                                                        tmp_path: Path) -> None:
    import json
    photos = [shared_test / "B_test.jpg", shared_test / "L_test.jpg"]
    predictions = builtin.predict(photos, top_k=3)
    first = predictions[0]
    assert first.probs is not None and first.probs.shape == (len(builtin.classes),)
    assert builtin.classes[int(first.probs.argmax())] == first.label
    assert first.probs.max() == pytest.approx(first.confidence, abs=1e-5)
    assert [label for label, _ in first.top_k] == \
        [builtin.classes[i] for i in np.argsort(-first.probs)[:3]]
    # the picture: the photo, with the skeleton drawn over the hand (green bones) and the answer
    photo = np.asarray(Image.open(photos[0]).convert("RGB")).astype(int)
    picture = np.asarray(first.plot()).astype(int)
    assert picture.shape == photo.shape and first.hand is not None
    changed = np.abs(picture - photo).sum(2) > 60
    left, top, right, bottom = first.hand.box
    height, width = changed.shape
    in_hand = changed[int(top * height):int(bottom * height), int(left * width):int(right * width)]
    assert in_hand.mean() > 0.02 and changed.mean() < 0.3

    written = predictions.save(tmp_path / "answers")
    assert sorted(p.name for p in written) == ["B_test.png", "L_test.png", "predictions.json"]
    saved = json.loads((tmp_path / "answers" / "predictions.json").read_text())
    assert [p["label"] for p in saved["predictions"]] == [p.label for p in predictions]
    assert saved == json.loads(predictions.to_json()) and saved["failed"] == {}
    assert json.loads(first.to_json())["top_k"][0][0] == first.label
    before = (tmp_path / "answers" / "B_test.png").read_bytes()
    with pytest.raises(FingerspellError, match="exists"):  # nothing is overwritten
        predictions.save(tmp_path / "answers")
    assert (tmp_path / "answers" / "B_test.png").read_bytes() == before
    # an image given in memory draws itself without a file
    in_memory = builtin.predict(Image.open(photos[1]))[0]
    assert np.asarray(in_memory.plot()).shape == np.asarray(Image.open(photos[1])).shape


def test_train_reports_each_epoch_to_callbacks_and_one_can_stop_it(tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    """``fingerspell.train(callbacks=...)``: every epoch of the head reaches a FitCallback; one
    that raises stops the run with its own error, leaving no model behind."""
    from fingerspell.training import EpochEnd, FitCallback
    data = tiny_model.parents[1] / "data"

    class Record(FitCallback):
        def __init__(self) -> None:
            self.epochs: list[int] = []

        def on_epoch_end(self, end: EpochEnd) -> None:
            self.epochs.append(end.epoch)

    seen = Record()
    fingerspell.train(data, tmp_path / "run", features="image", epochs=3, callbacks=[seen],
                      show_progress=False)
    assert seen.epochs == [1, 2, 3]

    class Stop(FitCallback):
        def on_epoch_end(self, end: EpochEnd) -> None:
            if end.epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fingerspell.train(data, tmp_path / "stopped", features="image", epochs=5,
                          callbacks=[Stop()], show_progress=False)
    assert not (tmp_path / "stopped" / "model").exists()


def test_bundle_metadata_keeps_what_it_does_not_know() -> None:
    """``BundleInfo`` types the fields it knows; a newer or older bundle's other fields (and a
    validation record of another shape) are written back exactly as they were read."""
    from fingerspell.infer.bundle import BundleInfo
    config = {"classes": ["A"], "calibration": {"temperature": 0.7}, "future": {"x": 1},
              "validation": {"split": "frame"}, "card": {"headline": {"test": "1/1"}}}
    info = BundleInfo.from_config(config)
    assert info.temperature == 0.7 and info.unsure_below == 0.5 and info.validation is None
    written = info.to_config()
    assert written["future"] == {"x": 1} and written["validation"] == {"split": "frame"}
    assert written["card"] == config["card"] and "classes" not in written
