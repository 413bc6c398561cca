"""The spelling decoder (hysteresis, repeats, space/delete) and J/Z from synthetic trajectories."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fingerspell.features.hands import Hand
from fingerspell.infer.model import ROUTE_HAND, Prediction
from fingerspell.live import DecoderSettings, MotionTracker, SpellingDecoder
from fingerspell.live.motion import FINGERS, extended_fingers
from fingerspell.live.stream import FrameResult, LiveSession


def feed(decoder: SpellingDecoder, script: list[tuple[str | None, float]], fps: float = 20,
         confidence: float = 0.9, start: float = 0.0, **kwargs) -> float:
    """Feed (letter, seconds) segments at ``fps``; return the time after the last frame."""
    t = start
    for letter, seconds in script:
        for _ in range(round(seconds * fps)):
            decoder.update(t, letter, confidence, **kwargs)
            t += 1 / fps
    return t


def test_held_letters_spell_a_word() -> None:
    decoder = SpellingDecoder()
    feed(decoder, [("C", 0.8), ("A", 0.8), ("B", 0.8)])
    assert decoder.text == "CAB"
    assert [e.letter for e in decoder.events] == ["C", "A", "B"]
    assert all(e.event == "letter" for e in decoder.events)
    assert [e.text for e in decoder.events] == ["C", "CA", "CAB"]


def test_a_single_frame_or_a_flicker_commits_nothing() -> None:
    decoder = SpellingDecoder()
    feed(decoder, [("A", 0.2), ("B", 0.05), ("A", 0.2)])  # never held 0.5 s without flicker
    assert decoder.text == ""
    noisy = SpellingDecoder()
    letters = ["A" if i % 5 else "S" for i in range(16)]  # 80% A for 0.8 s
    for i, letter in enumerate(letters):
        noisy.update(i / 20, letter, 0.9)
    assert noisy.text == "A"  # stable enough; the S flicker is not a letter


def test_low_confidence_is_not_a_letter() -> None:
    decoder = SpellingDecoder(DecoderSettings(min_confidence=0.6))
    feed(decoder, [("A", 1.0)], confidence=0.4)
    assert decoder.text == ""


def test_a_letter_the_model_is_unsure_of_commits_when_held_longer() -> None:
    """Under min_confidence a letter needs the long hold (1.5 s, at 0.2 or more, 80% of the
    frames): holding it longer is what a signer does when nothing appears."""
    decoder = SpellingDecoder()
    feed(decoder, [("O", 1.4)], confidence=0.3)
    assert decoder.text == ""
    feed(decoder, [("O", 0.2)], confidence=0.3, start=1.4)
    assert decoder.text == "O" and decoder.events[-1].t == pytest.approx(1.5, abs=0.06)
    feed(decoder, [("O", 3.0)], confidence=0.3, start=1.6)
    assert decoder.text == "O"  # held on: no repeat
    # two letters taking turns at low confidence, or a letter under the floor: nothing
    unsure = SpellingDecoder()
    for i in range(60):
        unsure.update(i / 20, "M" if i % 4 else "N", 0.3)
    feed(unsure, [("T", 3.0)], confidence=0.15, start=3.0)
    assert unsure.text == ""
    # a confident letter is still committed after the short hold; 0 disables the long one
    confident = SpellingDecoder()
    feed(confident, [("A", 0.55)])
    assert confident.text == "A"
    off = SpellingDecoder(DecoderSettings(long_hold_seconds=0))
    feed(off, [("O", 3.0)], confidence=0.3)
    assert off.text == ""


def test_a_repeated_letter_needs_a_release() -> None:
    decoder = SpellingDecoder()
    feed(decoder, [("L", 2.0)])
    assert decoder.text == "L"  # held for 2 s: still one L
    feed(decoder, [(None, 0.1), ("L", 0.8)], start=2.0)
    assert decoder.text == "L"  # a 0.1 s drop-out is not a pause
    feed(decoder, [(None, 0.5), ("L", 0.8)], start=3.0)
    assert decoder.text == "LL"
    feed(decoder, [("nothing", 0.5), ("L", 0.8)], start=5.0)
    assert decoder.text == "LLL"


def test_moving_the_hand_repeats_a_letter() -> None:
    decoder = SpellingDecoder()
    t = feed(decoder, [("O", 0.8)], wrist=(0.5, 0.5), palm=0.1)
    t = feed(decoder, [("O", 0.8)], start=t, wrist=(0.52, 0.5), palm=0.1)  # a tremor
    assert decoder.text == "O"
    feed(decoder, [("O", 0.8)], start=t, wrist=(0.6, 0.5), palm=0.1)  # a deliberate slide
    assert decoder.text == "OO"


def test_rising_into_place_or_a_glitch_does_not_repeat_a_letter() -> None:
    """What made held letters repeat on the shared recordings: the hand rising by most of a
    palm length after the first commit, and one frame of collapsed landmarks (a tiny palm)."""
    decoder = SpellingDecoder()
    t = feed(decoder, [("B", 0.6)], wrist=(0.5, 0.55), palm=0.12)
    t = feed(decoder, [("B", 0.25)], start=t, wrist=(0.48, 0.45), palm=0.12)  # rises 0.8 palm
    t = feed(decoder, [("B", 1.0)], start=t, wrist=(0.48, 0.45), palm=0.12)
    decoder.update(t, "B", 0.9, wrist=(0.52, 0.45), palm=0.01)  # landmarks collapsed
    feed(decoder, [("B", 1.0)], start=t + 0.05, wrist=(0.48, 0.45), palm=0.12)
    assert decoder.text == "B"


def test_a_slide_needs_a_new_hold_before_the_repeat() -> None:
    """The hand sliding away (leaving the view) right after holding a letter is no repeat:
    the second letter must be held again after the slide."""
    decoder = SpellingDecoder()
    t = feed(decoder, [("A", 1.2)], wrist=(0.5, 0.5), palm=0.1)
    t = feed(decoder, [("A", 0.1)], start=t, wrist=(0.62, 0.6), palm=0.1)  # sliding out ...
    feed(decoder, [(None, 1.0)], start=t)  # ... and gone
    assert decoder.text == "A"


def test_slow_drift_does_not_repeat_a_letter() -> None:
    decoder = SpellingDecoder()
    for i in range(80):  # 4 s, the wrist wanders 2 palm lengths
        decoder.update(i / 20, "O", 0.9, wrist=(0.5 + 0.2 * i / 80, 0.5), palm=0.1)
    assert decoder.text == "O"


def test_space_delete_and_reset() -> None:
    decoder = SpellingDecoder()
    feed(decoder, [("H", 0.7), ("I", 0.7), ("space", 0.7), ("A", 0.7), ("del", 0.7)])
    assert decoder.text == "HI "
    assert [e.event for e in decoder.events] == ["letter", "letter", "space", "letter", "delete"]
    assert decoder.events[-1].to_dict() == {"t": decoder.events[-1].t, "event": "delete",
                                            "text": "HI "}
    decoder.reset()
    assert decoder.text == "" and decoder.events == [] and decoder.current is None
    t = feed(decoder, [("del", 0.7)])  # deleting from nothing is harmless
    assert decoder.text == ""
    decoder.commit_motion(t, "J")
    assert decoder.text == "J" and decoder.events[-1].letter == "J"


def test_a_motion_letter_takes_back_the_letter_held_before_it() -> None:
    """A signer holds the I, then hooks it into a J: the I committed from that hold goes."""
    decoder = SpellingDecoder()
    t = feed(decoder, [("H", 0.8), (None, 0.4)])
    hold_starts = t
    t = feed(decoder, [("I", 0.8)], start=t)
    assert decoder.text == "HI"
    events = decoder.commit_motion(t, "J", since=hold_starts)
    assert decoder.text == "HJ" and [e.event for e in events] == ["delete", "letter"]
    # a letter committed before the motion's hold stays
    events = decoder.commit_motion(t + 2.0, "Z", since=t + 1.0)
    assert decoder.text == "HJZ" and [e.event for e in events] == ["letter"]


# ----- J and Z from fingertip trajectories ---------------------------------------------------
def pose(extended: set[str], wrist: tuple[float, float] = (0.5, 0.7), palm: float = 0.1
         ) -> np.ndarray:
    """21 landmarks of an upright hand with the given fingers straight, the others curled."""
    points = np.zeros((21, 3))
    wx, wy = wrist
    points[0] = (wx, wy, 0)
    for offset, (name, (tip, pip)) in zip((-0.4, -0.15, 0.0, 0.15, 0.3), FINGERS.items(),
                                          strict=True):
        x = wx + offset * palm
        mcp, dip = pip - 1, tip - 1
        points[mcp] = (x, wy - palm, 0)
        points[pip] = (x, wy - 1.5 * palm, 0)
        if name in extended:
            points[dip] = (x, wy - 1.9 * palm, 0)
            points[tip] = (x, wy - 2.3 * palm, 0)
        else:  # folded back towards the palm
            points[dip] = (x, wy - 1.2 * palm, 0)
            points[tip] = (x, wy - 0.9 * palm, 0)
    return points


def run_path(extended: set[str], path: list[tuple[float, float]], tip: int, fps: float = 30,
             tracker: MotionTracker | None = None,
             twist: list[float] | None = None) -> list[str]:
    """Move the hand so that landmark ``tip`` follows ``path`` (one point per frame), turning
    it about the vertical through the wrist by ``twist`` degrees per frame."""
    tracker = tracker or MotionTracker()
    base = pose(extended)
    found = []
    for i, (x, y) in enumerate(path):
        points = base.copy()
        if twist:
            a = math.radians(twist[i])
            dx, dz = points[:, 0] - points[0, 0], points[:, 2]
            points[:, 0] = points[0, 0] + dx * math.cos(a) - dz * math.sin(a)
            points[:, 2] = dx * math.sin(a) + dz * math.cos(a)
        points[:, 0] += x - points[tip, 0]
        points[:, 1] += y - points[tip, 1]
        letter = tracker.update(i / fps, Hand(points, "Right", 0.9))
        if letter:
            found.append(letter)
    return found


def polyline(corners: list[tuple[float, float]], frames_per_stroke: int = 8
             ) -> list[tuple[float, float]]:
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        out += [(x0 + (x1 - x0) * k / frames_per_stroke, y0 + (y1 - y0) * k / frames_per_stroke)
                for k in range(frames_per_stroke)]
    return [*out, corners[-1]]


def j_motion(drop: float = 0.15, degrees: float = 60.0, hold: int = 6, moving: int = 12
             ) -> tuple[list[tuple[float, float]], list[float]]:
    """The I held, then the little fingertip dropping by ``drop`` while the hand twists by
    ``degrees`` (a J as the shared recordings show it: image y grows downwards)."""
    path = [(0.5, 0.3)] * hold + [(0.5, 0.3 + drop * k / moving) for k in range(1, moving + 1)]
    twist = [0.0] * hold + [degrees * k / moving for k in range(1, moving + 1)]
    return path + [path[-1]] * 4, twist + [twist[-1]] * 4


def test_synthetic_poses_have_the_right_fingers() -> None:
    assert extended_fingers(pose({"pinky"})) == {"pinky"}
    assert extended_fingers(pose({"index"})) == {"index"}
    assert extended_fingers(pose({"index", "middle"})) == {"index", "middle"}


@pytest.mark.parametrize("mirrored", [False, True])
def test_z_is_recognised_either_way_round(mirrored: bool) -> None:
    corners = [(0.4, 0.3), (0.6, 0.3), (0.4, 0.5), (0.6, 0.5)]
    if mirrored:
        corners = [(1 - x, y) for x, y in corners]
    assert run_path({"index"}, polyline(corners), tip=8) == ["Z"]
    # the last stroke is a blur on recordings: the first two are enough
    assert run_path({"index"}, polyline(corners[:3]), tip=8) == ["Z"]


def test_j_is_a_little_finger_dropping_while_the_hand_twists() -> None:
    path, twist = j_motion()
    assert run_path({"pinky"}, path, tip=20, twist=twist) == ["J"]
    tracker = MotionTracker()
    run_path({"pinky"}, path, tip=20, twist=twist, tracker=tracker)
    assert tracker.anchor_t == pytest.approx(2 / 30)  # the hold's third frame


@pytest.mark.parametrize("case", ["still", "straight", "z with the wrong hand", "small z",
                                  "n shape", "i drifting down", "i turning in place",
                                  "j with the index finger", "flipped frame"])
def test_no_false_motion_letters(case: str) -> None:
    z = [(0.4, 0.3), (0.6, 0.3), (0.4, 0.5), (0.6, 0.5)]
    j_path, j_twist = j_motion()
    paths = {
        "still": ({"index"}, [(0.5, 0.5)] * 40, 8, None),
        "straight": ({"index"}, polyline([(0.3, 0.4), (0.7, 0.4)], 30), 8, None),
        "z with the wrong hand": ({"index", "middle", "ring", "pinky"}, polyline(z), 8, None),
        # a trembling hand: strokes of half a palm length
        "small z": ({"index"}, polyline([(0.5 + (x - 0.5) / 4, 0.4 + (y - 0.4) / 4)
                                         for x, y in z]), 8, None),
        "n shape": ({"index"}, polyline([(0.4, 0.5), (0.5, 0.3), (0.6, 0.5)], 10), 8, None),
        # a held I or Y sinking (as on the shared recordings) or turning without dropping
        "i drifting down": ({"pinky"}, j_path, 20, [0.0] * len(j_path)),
        "i turning in place": ({"pinky"}, [(0.5, 0.3)] * len(j_path), 20, j_twist),
        "j with the index finger": ({"index"}, j_path, 8, j_twist),
    }
    if case == "flipped frame":  # one frame of landmarks gone wrong: left hand, turned round
        tracker = MotionTracker()
        held = pose({"pinky"})
        for i in range(6):
            assert tracker.update(i / 30, Hand(held, "Right", 0.9)) is None
        wrong = held.copy()  # dropped by 2 palm lengths; as a left hand its palm faces back
        wrong[:, 1] += 0.2
        assert tracker.update(6 / 30, Hand(wrong, "Left", 0.9)) is None
        assert tracker.update(7 / 30, Hand(wrong, "Left", 0.9)) is None
        return
    extended, path, tip, twist = paths[case]
    assert run_path(extended, path, tip, twist=twist) == []


def test_one_motion_gives_one_letter_and_no_hand_clears() -> None:
    tracker = MotionTracker()
    corners = [(0.4, 0.3), (0.6, 0.3), (0.4, 0.5), (0.6, 0.5)]
    path = polyline(corners)
    assert run_path({"index"}, path + [path[-1]] * 20, tip=8, tracker=tracker) == ["Z"]
    assert tracker.update(10.0, None) is None


def test_a_blurred_frame_mid_motion_is_skipped_but_a_pause_starts_over() -> None:
    """Fast motions lose the hand for a frame or two; a hand gone for longer ends the motion."""
    base = pose({"index"})
    path = polyline([(0.4, 0.3), (0.6, 0.3), (0.4, 0.5)])

    def letters(missing: range, pause: float) -> list[str]:
        tracker, found = MotionTracker(), []
        for i, (x, y) in enumerate(path):
            t = i / 30 + (pause if i >= missing.stop else 0.0)
            points = base.copy()
            points[:, 0] += x - base[8, 0]
            points[:, 1] += y - base[8, 1]
            found.append(tracker.update(t, None if i in missing else Hand(points, "Right", 0.9)))
        return [f for f in found if f]

    assert letters(range(9, 11), 0.0) == ["Z"]  # two frames lost at the turn
    assert letters(range(9, 11), 0.5) == []  # the hand gone for half a second


# ----- still frames of the motion letters --------------------------------------------------
class _StandInModel:
    """What LiveSession asks of a model once the per-frame answers are made: its classes, its
    "unsure" threshold and a detector to close."""

    classes = ("A", "I", "J", "Y", "Z")
    unsure_below = 0.5

    def detector(self, video: bool = False, passes_per_frame: int | None = None
                 ) -> _StandInModel:
        return self

    def close(self) -> None:
        pass


def still_frames(session: LiveSession, top_k: list[tuple[str, float]], seconds: float = 1.0
                 ) -> FrameResult:
    hand = Hand(pose({"pinky"}), "Right", 0.9)  # an I held still
    result = None
    for i in range(round(30 * seconds)):
        prediction = Prediction("frame", top_k[0][0], top_k[0][1], top_k, ROUTE_HAND, hand)
        result = session.feed(i / 30, prediction)
    assert result is not None
    return result


def test_a_still_j_pose_is_held_as_its_handshape_i() -> None:
    """Data sets photograph J as a still; when J comes from motion, a still "J" is an I: the
    J score goes to I (0.3 + 0.25 clears the 0.5 threshold neither reaches alone)."""
    session = LiveSession(_StandInModel())
    result = still_frames(session, [("J", 0.3), ("I", 0.25), ("Y", 0.2), ("A", 0.1)])
    assert session.text == "I"
    assert result.prediction.label == "I" and result.prediction.confidence == pytest.approx(0.55)
    assert not result.prediction.unsure and result.prediction.top_k[0] == ("J", 0.3)
    # Z's still index finger is no letter: its score goes to none, and nothing is held
    session = LiveSession(_StandInModel())
    result = still_frames(session, [("Z", 0.6), ("A", 0.2), ("Y", 0.1)])
    assert session.text == "" and result.prediction.label == "A"
    # without the motion tracker the model's own answer is kept (J at 0.3: never held)
    session = LiveSession(_StandInModel(), motion=False)
    result = still_frames(session, [("J", 0.3), ("I", 0.25), ("Y", 0.2)])
    assert session.text == "" and result.prediction.label == "J"


def test_live_and_serve_options_reach_the_decoder() -> None:
    """Unset options keep DecoderSettings' defaults; given ones replace them (live and serve)."""
    from fingerspell.cli import _decoder_settings, build_parser
    parser = build_parser()
    assert _decoder_settings(parser.parse_args(["live", "--camera", "0"])) == DecoderSettings()
    given = _decoder_settings(parser.parse_args(["serve", "--long-hold", "0", "--hold", "0.4",
                                                 "--min-confidence", "0.6"]))
    assert given == DecoderSettings(hold_seconds=0.4, min_confidence=0.6, long_hold_seconds=0.0)
