"""The recognizer in the browser (fingerspell/web/recognizer.js, for the on-device page) against
Python on the same inputs: the landmark encoding, the landmark head, and the fusion with the crop
head's answer agree with ``Model`` to 1e-4 in headless Chromium. Recorded landmarks (and the crop
head's logits, which the page will take from the ONNX graph) go to both sides, so detection
differences cannot hide encoding differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fingerspell.errors import FingerspellError
from fingerspell.features.landmarks import landmark_features
from fingerspell.features.modes import image_vectors
from fingerspell.infer import Model, Prediction
from fingerspell.infer.web import RECOGNIZER_JS, heads_json, web_asset
from fingerspell.live.decoder import DecoderSettings, SpellingDecoder
from fingerspell.live.stream import LiveSession, frames_from
from fingerspell.live.words import WordList

from .browser import chromium, served


def _in_browser(script: str, argument: object) -> object:
    """``script`` (an async function of ``argument``) evaluated in headless Chromium on a page
    served from fingerspell/web/, so that it can import the modules there."""
    with served(web_asset(RECOGNIZER_JS).parent) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/{RECOGNIZER_JS}")
        return page.evaluate(script, argument)


def _photos_with_hands(model: Model, photos: list[Path]) -> tuple[list[Image.Image], list]:
    """``photos`` and the mirror images of three of them (left hands), where MediaPipe finds a
    hand, with the hands found."""
    images = [Image.open(p).convert("RGB") for p in photos]
    images += [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for image in images[:3]]
    found = [(image, p.hand) for image, p in zip(images, model.predict(images), strict=True)
             if p.hand is not None]
    return [image for image, _ in found], [hand for _, hand in found]


def test_browser_encodes_and_answers_as_python(shared_test: Path, shared_signers: Path,
                                               hand_model: Path) -> None:
    model = Model.load("asl-alphabet")
    webcam = sorted((shared_signers.parent / "webcam_mit" / "B").iterdir())[:2]  # 4:3 frames
    photos = [shared_test / f"{c}_test.jpg" for c in "ABCKLTY"] + webcam
    images, hands = _photos_with_hands(model, [p for p in photos if p.is_file()])
    assert len(hands) >= 8 and {h.handedness for h in hands} == {"Left", "Right"}
    assert any(h.aspect != 1.0 for h in hands)
    # what Python answers: the fused vectors [crop | landmarks | found] through the model's head
    vectors = image_vectors(model.mode, model.encoder, images, hands, model.hand_settings.margin)
    expected = model.head_proba(vectors)
    head = model.head
    with torch.no_grad():
        crop_logits = head.crop(torch.from_numpy(vectors[:, :head.crop.config.in_dim])).numpy()
    exported = heads_json(model)
    crop_features = vectors[:, :head.crop.config.in_dim]
    samples = [{"landmarks": h.landmarks.astype(float).tolist(), "aspect": h.aspect,
                "handedness": h.handedness, "crop": crop.tolist(), "features": f.tolist()}
               for h, crop, f in zip(hands, crop_logits, crop_features, strict=True)]

    got = _in_browser("""async ([samples, model]) => {
                    const m = await import("/recognizer.js");
                    return samples.map((s) => {
                      const shaped = m.shapePoints(s.landmarks, s.aspect);
                      const features = m.landmarkFeatures(shaped, s.handedness, 2);
                      const logits = m.headLogits(model.landmark_head, features);
                      return {features: Array.from(features), logits,
                              crop: m.headLogits(model.crop_head, s.features),
                              probs: m.calibratedProbabilities(logits, model.temperature),
                              fused: m.fusedProbabilities(s.crop, logits, model.landmark_weight,
                                                          model.temperature),
                              cropOnly: m.fusedProbabilities(s.crop, null, model.landmark_weight,
                                                             model.temperature),
                              encoding1: Array.from(m.landmarkFeatures(s.landmarks,
                                                                       s.handedness, 1))};
                    });
                }""", [samples, exported])

    marks = head.landmarks
    for hand, js, answer, crop in zip(hands, got, expected, crop_logits, strict=True):
        features = landmark_features(hand.shape_points(), hand.handedness, 2)
        assert np.abs(np.asarray(js["features"]) - features).max() < 1e-4
        assert np.abs(np.asarray(js["encoding1"]) -
                      landmark_features(hand.landmarks, hand.handedness, 1)).max() < 1e-4
        with torch.no_grad():
            logits = marks(torch.from_numpy(features)[None])[0].numpy()
        assert np.allclose(js["logits"], logits, rtol=1e-4, atol=1e-4)
        assert np.allclose(js["crop"], crop, rtol=1e-4, atol=1e-4)  # the crop head in JS
        probs = torch.softmax(torch.from_numpy(logits) / model.temperature, 0).numpy()
        assert np.abs(np.asarray(js["probs"]) - probs).max() < 1e-4
        assert int(np.argmax(js["probs"])) == int(np.argmax(probs))
        # the model's answer: the fusion of both heads at the model's weight and temperature
        assert np.abs(np.asarray(js["fused"]) - answer).max() < 1e-4
        alone = torch.softmax(torch.log_softmax(torch.from_numpy(crop), 0) / model.temperature, 0)
        assert np.abs(np.asarray(js["cropOnly"]) - alone.numpy()).max() < 1e-4  # no hand


def _recorded_frames(model: Model, clips: list[Path]) -> list[dict]:
    """What ``LiveSession`` feeds its decoder on real clips played one after another: each
    frame's time, letter (None: no hand), confidence, landmarks and top scores."""
    frames: list[dict] = []
    with LiveSession(model, motion=False) as session:
        feed = session.decoder.update

        def record(t, letter, confidence=1.0, *, points=None, scores=None):
            frames.append({"t": t, "letter": letter, "confidence": confidence,
                           "points": None if points is None else np.asarray(points)[:, :2].tolist(),
                           "scores": scores})
            return feed(t, letter, confidence, points=points, scores=scores)
        session.decoder.update = record  # type: ignore[method-assign]
        start = 0.0
        for clip in clips:
            t = 0.0
            for t, frame in frames_from(video=clip):
                session.process(start + t, frame)
            start += t + 0.5
    return frames


def _random_stream(rng: np.random.Generator, hand: np.ndarray, n: int = 240) -> list[dict]:
    """Frames that reach every rule: held letters, quick and unsure ones, competing scores,
    space, del, nothing and no hand, still and moving hands, sideways slides, collapsed palms
    and frames without landmarks."""
    letters = ["A", "B", "T", "S", "space", "del", "nothing", None]
    frames, t, x = [], 0.0, 0.0
    while len(frames) < n:
        letter = letters[rng.integers(len(letters))]
        level = rng.uniform(0.15, 1.0)
        slide = rng.random() < 0.3
        for _ in range(int(rng.integers(2, 25))):
            t += float(rng.uniform(0.04, 0.1))
            x += (0.08 if slide else 0.0) + float(rng.normal(0, 0.004 if rng.random() < 0.8 else 0.05))
            confidence = float(np.clip(level + rng.normal(0, 0.15), 0.01, 1.0))
            other = letters[rng.integers(4)]
            points = hand * (0.4 if rng.random() < 0.03 else 1.0) + [x, 0.0]
            frames.append({"t": t, "letter": letter, "confidence": confidence,
                           "points": None if letter is None or rng.random() < 0.1
                           else points.tolist(),
                           "scores": {letter: confidence, other: float(rng.uniform(0, 1 - confidence))}
                           if letter is not None else None})
    return frames


def test_browser_spells_as_python(shared_test: Path, hand_model: Path) -> None:
    """The page's decoder (fingerspell/web/decoder.js) against live/decoder.py on the same frames:
    the letters a person held in the shared clips, and random streams: the same events."""
    clips = [shared_test.parents[1] / "videos" / "letters" / f"{c}.mp4" for c in "ABL"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"letter videos not available: {clips[0].parent} is absent")
    model = Model.load("asl-alphabet")
    recorded = _recorded_frames(model, clips)
    hand = np.asarray(next(f["points"] for f in recorded if f["points"] is not None))
    rng = np.random.default_rng(0)
    streams = [recorded, *(_random_stream(rng, hand) for _ in range(20))]

    words = ["TAB", "BATS", "STAB", "ABS", "BASS", "SAT", "BAT"]  # completion (--words)
    expected = []
    for listed in (None, words):
        for frames in streams:
            decoder = SpellingDecoder(DecoderSettings(words=WordList(tuple(listed)) if listed
                                                      else None))
            for f in frames:
                decoder.update(f["t"], f["letter"], f["confidence"],
                               points=None if f["points"] is None else np.asarray(f["points"]),
                               scores=f["scores"])
            decoder.finish(frames[-1]["t"])
            expected.append([e.to_dict() for e in decoder.events])
    got = _in_browser("""async ([streams, words]) => {
        const { SpellingDecoder, WordList } = await import("/decoder.js");
        return [null, words].flatMap((listed) => streams.map((frames) => {
          const decoder = new SpellingDecoder({words: listed ? new WordList(listed) : null});
          for (const f of frames) decoder.update(f.t, f.letter, f.confidence, f.points, f.scores);
          decoder.finish(frames[frames.length - 1].t);
          return decoder.events;
        }));
    }""", [streams, words])
    assert "".join(e["text"][-1:] for e in expected[0] if e["event"] == "letter") == "ABL"
    kinds = {e["event"] for events in expected for e in events}
    assert kinds == {"letter", "space", "delete", "word"}  # the streams reach every rule
    corrected = {e["letter"] for events in expected for e in events if e["event"] == "word"}
    assert corrected & set(words)  # some finished words became listed ones
    for want, have in zip(expected, got, strict=True):
        assert have == want


def _recorded_answers(model: Model, clips: list[Path]) -> list[tuple[float, Prediction]]:
    """Each frame's answer as ``LiveSession`` got it, the clips played one after another."""
    answers: list[tuple[float, Prediction]] = []
    with LiveSession(model) as session:
        start = 0.0
        for clip in clips:
            t = 0.0
            for t, frame in frames_from(video=clip):
                answers.append((start + t, model.predict_images(
                    [frame], detector=session.detector, timestamp=start + t)[0]))
            start += t + 0.5
    return answers


def test_browser_session_spells_motion_letters_as_python(shared_test: Path,
                                                         hand_model: Path) -> None:
    """The page's session (fingerspell/web/session.js: the J/Z motion tracker and what
    LiveSession.feed does with an answer) against LiveSession on the answers recorded from the
    shared clips, J and Z drawn in the air among held letters: the same events."""
    videos = shared_test.parents[1] / "videos"
    clips = [videos / "letters" / "I.mp4", videos / "jz" / "J_take1.mp4",
             videos / "letters" / "B.mp4", videos / "jz" / "Z_take1.mp4",
             videos / "letters" / "Z.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"letter videos not available: {videos} is absent")
    model = Model.load("asl-alphabet")
    answers = _recorded_answers(model, clips)
    with LiveSession(model) as session:  # Python, on the same answers
        for t, prediction in answers:
            session.feed(t, prediction)
        expected = [e.to_dict() for e in session.decoder.events]
    frames = [{"t": t, "prediction": {
        "label": p.label, "confidence": p.confidence, "route": p.route, "unsure": p.unsure,
        "top_k": [[label, float(q)] for label, q in p.top_k],
        "hand": None if p.hand is None else {"landmarks": p.hand.landmarks.astype(float).tolist(),
                                             "aspect": p.hand.aspect,
                                             "handedness": p.hand.handedness}}}
              for t, p in answers]
    got = _in_browser("""async ([frames, model]) => {
        const { LiveSpelling } = await import("/session.js");
        const session = new LiveSpelling(model);
        for (const f of frames) session.feed(f.t, f.prediction);
        return session.decoder.events;
    }""", [frames, {"classes": model.classes, "unsureBelow": model.unsure_below,
                    "usesHands": model.mode.needs_hands}])
    letters = [e["letter"] for e in expected if e["event"] == "letter"]
    assert {"J", "Z"} <= set(letters)  # motion letters were drawn and recognised
    assert got == expected


def test_browser_adapts_as_python_and_adapters_travel_both_ways(shared_test: Path,
                                                                tmp_path: Path) -> None:
    """Teach on the device (fingerspell/web/adapt.js) against head/adaptation.py on the same
    examples (one person's T, which the built-in reads as G, and their B): the same adapted
    weights and answers; the page's adapter file applies in Python (``Model.load(...,
    adapter=)``) and Python's (``save_adapter``) reads in the page, weight for weight."""
    from fingerspell.head.adaptation import AdaptSettings, adapt_head
    from fingerspell.infer.adapter import adapted_tensors, head_digest
    mon95 = shared_test.parents[1] / "mon95"
    if not mon95.is_dir():
        pytest.skip(f"mon95 photos not available: {mon95} is absent")
    model = Model.load("asl-alphabet")
    photos = {c: sorted((mon95 / c).glob("user3_*.jpg")) for c in "TB"}
    train = photos["T"][:2] + photos["B"][:1]
    labels = np.asarray([model.classes.index(c) for c in "TTB"])
    features = model.feature_vectors(train)
    assert features.found.all()
    dim = model.head.crop.config.in_dim
    marks_dim = model.head.landmarks.config.in_dim
    examples = [{"crop": v[:dim].tolist(), "marks": v[dim:dim + marks_dim].tolist(),
                 "label": int(y)} for v, y in zip(features.vectors, labels, strict=True)]
    expected = adapt_head(model.head, features.vectors, labels, AdaptSettings())
    config = heads_json(model)
    got = _in_browser("""async ([config, examples]) => {
        const { adaptHeads, adapterFile } = await import("/adapt.js");
        const adapted = adaptHeads(config, examples);
        const bytes = adapterFile(config, adapted, {examples: {T: 2, B: 1}, made_by: "test"});
        return {adapted, file: Array.from(bytes)};
    }""", [config, examples])
    js = got["adapted"]
    assert js["landmark_weight"] == pytest.approx(expected.landmark_weight, abs=1e-9)
    for name, layer in [(layer["name"], layer) for head in ("crop_head", "landmark_head")
                        for layer in js[head]["layers"]]:
        module = expected.get_submodule(name)
        assert np.abs(np.asarray(layer["weight"]) - module.weight.detach().numpy()).max() < 2e-4
        assert np.abs(np.asarray(layer["bias"]) - module.bias.detach().numpy()).max() < 2e-4
    # the page's file, applied in Python: those weights exactly, and the same answers
    adapter = tmp_path / "page.fsadapter"
    adapter.write_bytes(bytes(got["file"]))
    applied = Model.load("asl-alphabet", adapter=adapter)
    for name, tensor in adapted_tensors(applied.head).items():
        layer = next(layer for head in ("crop_head", "landmark_head")
                     for layer in js[head]["layers"] if name.startswith(layer["name"] + "."))
        want = np.asarray(layer["weight" if name.endswith("weight") else "bias"], np.float32)
        assert np.array_equal(tensor.numpy(), want)
    test = model.feature_vectors(photos["T"][2:6]).vectors
    with torch.no_grad():
        ours = expected(torch.from_numpy(test)).argmax(1)
        theirs = applied.head(torch.from_numpy(test)).argmax(1)
    assert ours.tolist() == theirs.tolist() and (ours == labels[0]).sum() >= 3
    assert applied.info.adapted["made_by"] == "test" and head_digest(model.head) == config[
        "head_digest"]
    # and back: Python's adapter in the page
    python_file = tmp_path / "python.fsadapter"
    model.with_head(expected, adapted={"base_head": head_digest(model.head)}).save_adapter(
        python_file)
    read = _in_browser("""async ([config, bytes]) => {
        const { readAdapter } = await import("/adapt.js");
        return readAdapter(config, new Uint8Array(bytes).buffer);
    }""", [config, list(python_file.read_bytes())])
    for layer in read["landmark_head"]["layers"] + read["crop_head"]["layers"]:
        module = expected.get_submodule(layer["name"])
        assert np.array_equal(np.asarray(layer["weight"], np.float32),
                              module.weight.detach().numpy())
    with pytest.raises(FingerspellError, match="already exists"):
        model.with_head(expected, adapted={"base_head": "x"}).save_adapter(python_file)
