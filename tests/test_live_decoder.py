"""The spelling decoder (hysteresis, repeats, space/delete) and J/Z from synthetic trajectories."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from fingerspell.errors import FingerspellError
from fingerspell.features.hands import Hand
from fingerspell.infer.model import ROUTE_HAND, Prediction
from fingerspell.live import DecoderSettings, MotionTracker, SpellingDecoder
from fingerspell.live.motion import FINGERS, extended_fingers
from fingerspell.live.stream import FrameResult, LiveSession
from fingerspell.live.words import WordList


def feed(decoder: SpellingDecoder, script: list[tuple[str | None, float]], fps: float = 20,
         confidence: float = 0.9, start: float = 0.0,
         wrist: tuple[float, float] | None = None, palm: float = 0.1, **kwargs) -> float:
    """Feed (letter, seconds) segments at ``fps`` (the hand still at ``wrist`` when given);
    return the time after the last frame."""
    t = start
    points = hand_at(wrist, palm) if wrist is not None else None
    for letter, seconds in script:
        for _ in range(round(seconds * fps)):
            decoder.update(t, letter, confidence, points=points, **kwargs)
            t += 1 / fps
    return t


def hand_at(wrist: tuple[float, float], palm: float = 0.1) -> np.ndarray:
    """The decoder's view of a hand: 21 landmarks (x, y) with the wrist at ``wrist``."""
    return pose({"index", "middle"}, wrist, palm)[:, :2]


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
    decoder.update(t, "B", 0.9, points=hand_at((0.52, 0.45), 0.01))  # landmarks collapsed
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
        decoder.update(i / 20, "O", 0.9, points=hand_at((0.5 + 0.2 * i / 80, 0.5)))
    assert decoder.text == "O"


def test_nothing_is_committed_while_the_hand_moves_into_place() -> None:
    """A hand rising into view is read as letters it passes through (on webcam recordings a
    confident F): nothing is committed until it settles, then the letter it holds."""
    decoder = SpellingDecoder()
    for i in range(16):  # 0.8 s rising 0.3 image heights (3 palm lengths a second), read F
        decoder.update(i / 20, "F", 0.9, points=hand_at((0.5, 0.9 - 0.3 * i / 16)))
    assert decoder.text == ""
    feed(decoder, [("R", 0.8)], start=0.8, wrist=(0.5, 0.6))
    assert decoder.text == "R"
    # the same stream without landmarks (an image-only model) cannot tell: F is spelled
    blind = SpellingDecoder()
    feed(blind, [("F", 0.8), ("R", 0.8)])
    assert blind.text == "FR"


def test_a_held_shape_read_two_ways_by_turns_gives_one_letter() -> None:
    """One held shape the model reads as A or T by turns (0.6 s each, close scores): one
    letter per hold. Without the switch margin every turn was spelled."""
    def held_a_or_t(settings: DecoderSettings) -> str:
        decoder = SpellingDecoder(settings)
        for i in range(100):  # 5 s at 20 frames/s
            first, second = ("A", "T") if (i // 12) % 2 == 0 else ("T", "A")
            decoder.update(i / 20, first, 0.55, points=hand_at((0.5, 0.6)),
                           scores={first: 0.55, second: 0.4})
        return decoder.text
    assert held_a_or_t(DecoderSettings()) == "A"
    assert held_a_or_t(DecoderSettings(switch_margin=-1.0)) == "ATATATAT"


def test_letters_signed_without_leaving_the_view_are_all_spelled() -> None:
    """D-A-T-A in one stretch (the hand never leaves): each new letter is clearly preferred
    over the one before, so every one is spelled, the second A included."""
    decoder = SpellingDecoder()
    t = 0.0
    for letter in "DATA":
        scores = {letter: 0.9, "S": 0.05}
        t = feed(decoder, [(letter, 0.7)], start=t, wrist=(0.5, 0.6), scores=scores)
    assert decoder.text == "DATA"


def test_a_still_hand_commits_a_letter_the_model_is_unsure_of() -> None:
    """Held still for 0.6 s at 0.33 (under min_confidence): the still tier commits it; the
    same readings on a moving hand, or without landmarks, wait for the long hold."""
    def unsure_g(moving: bool, with_points: bool = True) -> str:
        decoder = SpellingDecoder()
        for i in range(16):  # 0.8 s
            y = 0.9 - (0.02 * i if moving else 0.0)  # rising 4 palm lengths a second
            decoder.update(i / 20, "G", 0.33, points=hand_at((0.5, y)) if with_points
                           else None, scores={"G": 0.33, "X": 0.23})
        return decoder.text
    assert unsure_g(moving=False) == "G"
    assert unsure_g(moving=True) == ""
    assert unsure_g(moving=False, with_points=False) == ""


def test_confident_letters_at_a_fluent_pace() -> None:
    """Very confident letters on a settled hand, 0.35 s each (nearly 3 a second) after the
    first (held while the hand settles into view): the quick tier spells them; with only the
    0.5 s hold, letters are lost."""
    def spelled(settings: DecoderSettings) -> str:
        decoder = SpellingDecoder(settings)
        t = feed(decoder, [("H", 0.6)], wrist=(0.5, 0.6), confidence=0.95)
        for letter in "ELLO":
            if decoder.text.endswith(letter):  # a double: slide a palm length sideways
                t = feed(decoder, [(letter, 0.1)], start=t, wrist=(0.6, 0.6), scores={})
                t = feed(decoder, [(letter, 0.3)], start=t, wrist=(0.6, 0.6))
            else:
                t = feed(decoder, [(letter, 0.35)], start=t, wrist=(0.5, 0.6), confidence=0.95)
        return decoder.text
    assert spelled(DecoderSettings()) == "HELLO"
    assert spelled(DecoderSettings(quick_seconds=0)) != "HELLO"


def test_a_finished_word_is_completed_from_the_word_list(tmp_path: Path) -> None:
    """With a word list, a word ends with space or a second without a hand and becomes the
    nearest listed word (a letter lost or misread); without one the text is as spelled."""
    words_file = tmp_path / "words.txt"
    words_file.write_text("hello\nhelp\n# a comment\nworld\nnot a word\n")
    words = WordList.load(words_file)
    assert words.words == ("HELLO", "HELP", "WORLD")
    settings = DecoderSettings(words=words)
    decoder = SpellingDecoder(settings)
    t = feed(decoder, [("H", 0.7), ("E", 0.7), ("L", 0.7), ("O", 0.7), (None, 0.9)])
    assert decoder.text == "HELO"  # a pause under a second: the word goes on
    t = feed(decoder, [(None, 0.2)], start=t)
    assert decoder.text == "HELLO " and decoder.events[-1].event == "word"
    assert decoder.events[-1].letter == "HELLO"
    t = feed(decoder, [("W", 0.7), ("R", 0.7), ("L", 0.7), ("D", 0.7), ("space", 0.7)], start=t)
    assert decoder.text == "HELLO WORLD "
    t = feed(decoder, [("Q", 0.7)], start=t)
    assert [e.letter for e in decoder.finish(t)] == ["Q"]  # nothing near: kept as spelled
    assert decoder.text == "HELLO WORLD Q " and decoder.finish(t) == []
    plain = SpellingDecoder()
    feed(plain, [("H", 0.7), ("E", 0.7), ("L", 0.7), ("O", 0.7), (None, 2.0)])
    assert plain.text == "HELO" and plain.finish(5.0) == []


def test_word_lists_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fingerspell.live import words as words_module
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00hello")
    big = tmp_path / "big.txt"
    big.write_text("hello\n" * 100)
    monkeypatch.setattr(words_module, "MAX_BYTES", 100)
    for path, message in ((tmp_path / "none.txt", "does not exist"),
                          (binary, "not UTF-8"), (big, "at most")):
        with pytest.raises(FingerspellError, match=message):
            WordList.load(path)


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
    # without the motion tracker the model's own answer is kept: a hand held still at J 0.3
    # spells J (the still tier), never I
    session = LiveSession(_StandInModel(), motion=False)
    result = still_frames(session, [("J", 0.3), ("I", 0.25), ("Y", 0.2)])
    assert session.text == "J" and result.prediction.label == "J"


def test_live_and_serve_options_reach_the_decoder(tmp_path: Path) -> None:
    """Unset options keep DecoderSettings' defaults; given ones replace them (live and serve)."""
    from fingerspell.cli import _decoder_settings, build_parser
    parser = build_parser()
    assert _decoder_settings(parser.parse_args(["live", "--camera", "0"])) == DecoderSettings()
    words = tmp_path / "words.txt"
    words.write_text("hello\n")
    given = _decoder_settings(parser.parse_args(["serve", "--long-hold", "0", "--hold", "0.4",
                                                 "--min-confidence", "0.6", "--words",
                                                 str(words)]))
    assert given == DecoderSettings(hold_seconds=0.4, min_confidence=0.6, long_hold_seconds=0.0,
                                    words=WordList(("HELLO",)))


def test_word_list_distance_gives_up_only_beyond_its_limit():
    import random

    from fingerspell.evaluation.metrics import text_edits
    from fingerspell.live.words import _edits_up_to
    rng = random.Random(0)
    for _ in range(3000):
        a = "".join(rng.choice("ABC") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("ABC") for _ in range(rng.randint(0, 7)))
        assert _edits_up_to(a, b, 2) == min(text_edits(a, b)["edits"], 3), (a, b)
