"""Turn a noisy stream of per-frame letters into spelled text. Pure: no I/O, no clocks.

The terminal (``fingerspell live``), the web page and the API all feed this one class with
``update(t, letter, confidence, points=..., scores=...)`` and read its events and ``text``.

Rules (all times in seconds of the stream, not of the wall clock; distances in palm lengths):
- **settled**: with landmarks, nothing is committed while the hand moves — the (lower) median
  speed of its 21 landmarks over the last ``settle_seconds`` must be under ``settled_speed``
  palm lengths a second (a hand rising into view, or changing shape, is read as letters it
  passes through); a slide that repeats a letter is the one movement that does not wait;
- a letter is *committed* when it has been the confident answer (``min_confidence``) of at least
  ``stability`` of the frames for ``hold_seconds`` — hysteresis, never a single frame; sooner
  (``quick_*``) when the answer is very confident on every frame of a settled hand, the pace of
  fluent spelling; later when the model is unsure but the signer keeps still (``still_*``: the
  hand settled that long) or keeps holding (``long_hold_*``);
- **one letter per hold**: while the hand stays in view, another letter replaces the last one
  committed only when the model prefers it by ``switch_margin`` (mean probability over the
  hold): a held shape the model reads as A or T by turns gives one letter, not "ATATA";
- the same letter again needs a *release* in between: ``release_seconds`` without a hand (or
  ``nothing``), or the hand sliding by ``movement`` palm lengths within ``movement_seconds``
  (how signers double a letter; slow drift does not count);
- ``space`` adds a space, ``del`` removes the last character; no hand / ``nothing`` resets the
  hold; letters from motion (J, Z) are committed at once, once per motion;
- with a word list (``words``), a finished word — ``space``, or ``word_pause_seconds`` without a
  hand — becomes the nearest listed word (``live/words.py``), then a space.
Thresholds were chosen on half of the shared letter clips and reported on the other half
(``benchmarks/live_video.py --sweep``), the fluent-spelling ones on words made of real photos
(``benchmarks/spelling_streams.py --sweep``); docs/guide/live-decoder.md has the figures.
The on-device page runs a copy in JavaScript (``fingerspell/web/decoder.js``):
``tests/test_web_parity.py`` fails when the two spell differently, so change both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .words import WordList

RESET_LABELS = frozenset({"nothing"})
SPACE_LABELS = frozenset({"space"})
DELETE_LABELS = frozenset({"del", "delete"})
GLITCH_PALM = 0.7  # a palm this much shorter than the window's median: misplaced landmarks
WRIST, MIDDLE_MCP = 0, 9


@dataclass(frozen=True)
class DecoderSettings:
    hold_seconds: float = 0.5
    min_confidence: float = 0.5
    stability: float = 0.7
    # the long hold, chosen on half the shared letter clips (docs/guide/live-decoder.md): 0 disables it
    long_hold_seconds: float = 1.5
    long_hold_min_confidence: float = 0.2
    long_hold_stability: float = 0.8
    # a settled hand: landmarks' median speed over settle_seconds, palm lengths a second
    settle_seconds: float = 0.25
    settled_speed: float = 3.0
    # a still hand the model is unsure of: settled this long, the answer on most frames
    still_seconds: float = 0.5
    still_min_confidence: float = 0.25
    still_stability: float = 0.9
    # fluent spelling: a very confident answer on every frame of a settled hand
    quick_seconds: float = 0.2
    quick_min_confidence: float = 0.7
    switch_margin: float = 0.2  # mean probability another letter needs over the held one
    release_seconds: float = 0.3
    movement: float = 0.6  # wrist travel, in palm lengths, that counts as a release ...
    movement_seconds: float = 0.4  # ... when it happens within this time
    # word completion (--words): a word ends with space or this long without a hand
    words: WordList | None = None
    word_pause_seconds: float = 1.0

    def tiers(self) -> list[tuple[float, float, float, bool]]:
        """(seconds, min confidence, stability, needs a hand settled that long), quickest
        first; a tier of 0 seconds is off."""
        tiers = [(self.quick_seconds, self.quick_min_confidence, 1.0, True),
                 (self.hold_seconds, self.min_confidence, self.stability, False),
                 (self.still_seconds, self.still_min_confidence, self.still_stability, True),
                 (self.long_hold_seconds, self.long_hold_min_confidence,
                  self.long_hold_stability, False)]
        return [tier for tier in tiers if tier[0] > 0]


@dataclass(frozen=True)
class Event:
    """Something that changed the text: ``letter`` (with the letter), ``space``, ``delete``, or
    ``word`` (a finished word, completed from the word list: ``letter`` holds the word)."""

    t: float
    event: str
    text: str
    letter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["letter"] is None:
            del out["letter"]
        return out


@dataclass
class _Frame:
    t: float
    letter: str
    confidence: float
    scores: dict[str, float]

    def probability(self, label: str) -> float:
        return self.scores.get(label, self.confidence if label == self.letter else 0.0)


@dataclass
class SpellingDecoder:
    """Example:
        >>> decoder = SpellingDecoder()
        >>> for i in range(10):
        ...     _ = decoder.update(i * 0.1, "A", 0.9)
        >>> decoder.text
        'A'
    """

    settings: DecoderSettings = field(default_factory=DecoderSettings)
    text: str = ""
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._window: deque[_Frame] = deque()
        self._last_committed: str | None = None
        self._released_since: float | None = None  # start of the current hand-free stretch
        self._wrists: deque[tuple[float, float, float, float]] = deque()  # (t, x, y, palm)
        self._moved = False
        self._moved_at = 0.0  # when the slide that allows a repeat was seen
        self._poses: deque[tuple[float, np.ndarray, float]] = deque()  # (t, points, palm)
        self._speeds: deque[tuple[float, float]] = deque()  # (t, landmark speed)
        self._settled_since: float | None = None  # None: moving, or no landmarks to tell

    def reset(self, text: str = "") -> None:
        """Start over (the page's Clear button)."""
        self.text = text
        self.events.clear()
        self.__post_init__()

    @property
    def current(self) -> str | None:
        """The letter being held right now, if any (for display)."""
        if not self._window or self._window[-1].confidence < self.settings.min_confidence:
            return None
        return self._window[-1].letter

    def update(self, t: float, letter: str | None, confidence: float = 1.0, *,
               points: np.ndarray | None = None, scores: dict[str, float] | None = None
               ) -> list[Event]:
        """Feed one frame: its time, the recognised letter (None: no hand) and confidence.
        ``points``: the hand's 21 landmarks (x, y in one unit on both axes, e.g.
        ``Hand.shape_points()``), to tell a settled hand from a moving one and to let a sliding
        hand repeat a letter; ``scores``: the model's probabilities for its top letters, to
        weigh a competitor against the letter held. Returns the events this frame caused."""
        if letter is None or letter.lower() in RESET_LABELS:
            self._window.clear()
            self._poses.clear()
            self._speeds.clear()
            self._settled_since = None
            if self._released_since is None:
                self._released_since = t
            elif t - self._released_since >= self.settings.release_seconds:
                self._last_committed = None  # a real pause: the same letter may come again
            if (self.settings.words is not None and self.text and not self.text.endswith(" ")
                    and t - self._released_since >= self.settings.word_pause_seconds):
                self.events.append(self._end_word(t))
                return [self.events[-1]]
            return []
        self._released_since = None
        if points is not None:
            points = np.asarray(points, np.float64)[:, :2]
            self._track_speed(t, points)
            self._track_movement(t, points)
        self._window.append(_Frame(t, letter, confidence, dict(scores or {})))
        kept = max(seconds for seconds, *_ in self.settings.tiers())
        while self._window and self._window[0].t < t - kept:
            self._window.popleft()
        held = self._held(t, has_points=points is not None)
        if held is None or (held == self._last_committed and not self._moved):
            return []
        return [self._commit(t, held)]

    def finish(self, t: float) -> list[Event]:
        """The stream ended (a video's last frame): with a word list, the last word is
        completed as if the hand had been lowered."""
        if self.settings.words is None or not self.text or self.text.endswith(" "):
            return []
        self.events.append(self._end_word(t))
        return [self.events[-1]]

    def commit_motion(self, t: float, letter: str, since: float | None = None) -> list[Event]:
        """A letter recognised from motion (J, Z): committed at once. The motion began with a
        held handshape at ``since``; a letter committed from that hold (the I a J starts
        from) is taken back first."""
        self._window.clear()
        last = self.events[-1] if self.events else None
        events = []
        if since is not None and last is not None and last.event == "letter" and last.t >= since:
            events.append(self._commit(t, "del"))  # as if the signer had signed del
        return [*events, self._commit(t, letter)]

    # ------------------------------------------------------------------------------------------
    def _held(self, t: float, has_points: bool) -> str | None:
        """The letter held long enough at some tier, or None. With landmarks, only on a
        settled hand — or after a slide: that movement is the signer's way to repeat, and the
        repeat is timed from it; without landmarks (an image-only model), tiers that need a
        settled hand are skipped."""
        if self._moved:
            settled_for = t - self._moved_at
        elif has_points and self._settled_since is None:
            return None
        else:
            settled_for = t - self._settled_since if self._settled_since is not None else -1.0
        for seconds, min_confidence, stability, needs_settled in self.settings.tiers():
            if needs_settled and settled_for + self._spacing() < seconds:
                continue
            held = self._held_for(seconds, min_confidence, stability)
            if held is not None and self._beats_last(held, seconds):
                return held
        return None

    def _spacing(self) -> float:
        """The time between the last two frames (slack for holds measured in frames)."""
        return self._window[-1].t - self._window[-2].t if len(self._window) > 1 else 0.0

    def _held_for(self, seconds: float, min_confidence: float, stability: float) -> str | None:
        """The last frame's letter if it was the answer at ``min_confidence`` or more of at
        least ``stability`` of the frames over the last ``seconds``."""
        last = self._window[-1]
        frames = [f for f in self._window if f.t >= last.t - seconds]
        # the frames must span the hold time (allowing one frame's spacing of slack at the start)
        spacing = (last.t - frames[0].t) / max(1, len(frames) - 1)
        if last.t - frames[0].t + spacing < seconds or last.confidence < min_confidence:
            return None
        agreeing = sum(f.letter == last.letter and f.confidence >= min_confidence for f in frames)
        return last.letter if agreeing >= stability * len(frames) else None

    def _beats_last(self, letter: str, seconds: float) -> bool:
        """Whether ``letter`` may replace the letter committed in this hold: the model must
        prefer it by ``switch_margin`` on average over the hold (hysteresis: two readings of
        one held shape taking turns do not both become text)."""
        last = self._last_committed
        if last is None or last == letter or self._moved:
            return True
        frames = [f for f in self._window if f.t >= self._window[-1].t - seconds]
        margin = sum(f.probability(letter) - f.probability(last) for f in frames) / len(frames)
        return margin >= self.settings.switch_margin

    def _track_speed(self, t: float, points: np.ndarray) -> None:
        """The landmarks' median speed over ``settle_seconds`` (palm lengths a second, so
        the same for a hand near the camera or far); a frame whose palm collapsed is left out."""
        palm = float(np.linalg.norm(points[MIDDLE_MCP] - points[WRIST]))
        palms = sorted(p for *_, p in self._poses)
        if palm <= 0 or (palms and palm < GLITCH_PALM * palms[len(palms) // 2]):
            return
        if self._poses:
            before_t, before, before_palm = self._poses[-1]
            if t > before_t:
                scale = (palm + before_palm) / 2
                speed = float(np.linalg.norm(points - before, axis=1).mean()) / scale
                self._speeds.append((t, speed / (t - before_t)))
        self._poses.append((t, points, palm))
        window = self.settings.settle_seconds
        while self._poses and self._poses[0][0] < t - window:
            self._poses.popleft()
        while self._speeds and self._speeds[0][0] < t - window:
            self._speeds.popleft()
        speeds = sorted(v for _, v in self._speeds)
        # the lower median: one jerky frame (a landmark glitch, a quick change of letter) does
        # not unsettle the hand; most of the window moving does
        settled = len(speeds) >= 2 and speeds[(len(speeds) - 1) // 2] <= self.settings.settled_speed
        if not settled:
            self._settled_since = None
        elif self._settled_since is None:
            self._settled_since = t

    def _track_movement(self, t: float, points: np.ndarray) -> None:
        wrist = points[WRIST]
        palm = float(np.linalg.norm(points[MIDDLE_MCP] - wrist))
        if palm <= 0:
            return
        while self._wrists and self._wrists[0][0] < t - self.settings.movement_seconds:
            self._wrists.popleft()
        palms = sorted(p for *_, p in self._wrists)
        # a frame whose landmarks collapsed (palm far shorter than the moments before) is not
        # trusted: on real recordings such frames made a held letter "move" and repeat
        if palms and palm < GLITCH_PALM * palms[len(palms) // 2]:
            return
        self._wrists.append((t, float(wrist[0]), float(wrist[1]), palm))
        palms = sorted(p for *_, p in self._wrists)
        scale = palms[len(palms) // 2]  # the hand's size over the window, not one frame's
        # sideways, as signers slide a doubled letter; a hand rising into place or sinking
        # away moves up and down (on the shared recordings that made held letters repeat)
        reach = max(abs(x - wrist[0]) for _, x, _, _ in self._wrists)
        if reach >= self.settings.movement * scale and not self._moved:
            self._moved, self._moved_at = True, t
            self._window.clear()  # the repeat needs its own hold after the slide, not before

    def _commit(self, t: float, label: str) -> Event:
        lowered = label.lower()
        if lowered in SPACE_LABELS and self.settings.words is not None:
            event = self._end_word(t)
        elif lowered in SPACE_LABELS:
            self.text += " "
            event = Event(t, "space", self.text)
        elif lowered in DELETE_LABELS:
            self.text = self.text[:-1]
            event = Event(t, "delete", self.text)
        else:
            self.text += label
            event = Event(t, "letter", self.text, label)
        self._last_committed = label
        self._wrists.clear()
        self._moved = False
        self._window.clear()  # the next letter needs its own full hold
        self.events.append(event)
        return event

    def _end_word(self, t: float) -> Event:
        """The last word completed from the word list, then a space (the caller records the
        event)."""
        assert self.settings.words is not None
        head, _, word = self.text.rpartition(" ")
        word = self.settings.words.correct(word)
        self.text = f"{head} {word} " if head else f"{word} "
        return Event(t, "word", self.text, word)
