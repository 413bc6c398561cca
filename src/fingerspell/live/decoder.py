"""Turn a noisy stream of per-frame letters into spelled text. Pure: no I/O, no clocks.

The terminal (``fingerspell live``), the web page and the API all feed this one class with
``update(t, letter, confidence, ...)`` and read its events and ``text``.

Rules (all times in seconds of the stream, not of the wall clock):
- a letter is *committed* when it has been the confident answer (``min_confidence``) of at least
  ``stability`` of the frames for ``hold_seconds`` — hysteresis, never a single frame — or, held
  longer, the answer at a lower confidence of a larger share of the frames (``long_hold_*``: a
  letter the model is unsure of is committed when the signer keeps holding it);
- the same letter again needs a *release* in between: ``release_seconds`` without a hand (or
  ``nothing``), or the hand sliding by ``movement`` palm lengths within ``movement_seconds``
  (how signers double a letter; slow drift does not count);
- ``space`` adds a space, ``del`` removes the last character; no hand / ``nothing`` resets the
  hold; letters from motion (J, Z) are committed at once, once per motion.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

RESET_LABELS = frozenset({"nothing"})
SPACE_LABELS = frozenset({"space"})
DELETE_LABELS = frozenset({"del", "delete"})
GLITCH_PALM = 0.7  # a palm this much shorter than the window's median: misplaced landmarks


@dataclass(frozen=True)
class DecoderSettings:
    hold_seconds: float = 0.5
    min_confidence: float = 0.5
    stability: float = 0.7
    # the long hold, chosen on half the shared letter clips (README, Live): 0 disables it
    long_hold_seconds: float = 1.5
    long_hold_min_confidence: float = 0.2
    long_hold_stability: float = 0.8
    release_seconds: float = 0.3
    movement: float = 0.6  # wrist travel, in palm lengths, that counts as a release ...
    movement_seconds: float = 0.4  # ... when it happens within this time


@dataclass(frozen=True)
class Event:
    """Something that changed the text: ``letter`` (with the letter), ``space`` or ``delete``."""

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
               wrist: tuple[float, float] | None = None, palm: float | None = None
               ) -> list[Event]:
        """Feed one frame: its time, the recognised letter (None: no hand) and confidence; the
        wrist position and palm length (any unit, the same for both) let a moving hand repeat
        a letter. Returns the events this frame caused."""
        if letter is None or letter.lower() in RESET_LABELS:
            self._window.clear()
            if self._released_since is None:
                self._released_since = t
            elif t - self._released_since >= self.settings.release_seconds:
                self._last_committed = None  # a real pause: the same letter may come again
            return []
        self._released_since = None
        self._track_movement(t, wrist, palm)
        self._window.append(_Frame(t, letter, confidence))
        kept = max(self.settings.hold_seconds, self.settings.long_hold_seconds)
        while self._window and self._window[0].t < t - kept:
            self._window.popleft()
        held = self._held()
        if held is None or (held == self._last_committed and not self._moved):
            return []
        return [self._commit(t, held)]

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
    def _held(self) -> str | None:
        """The letter held long enough at either tier (short and confident, or long), or None."""
        settings = self.settings
        tiers = [(settings.hold_seconds, settings.min_confidence, settings.stability)]
        if settings.long_hold_seconds > 0:
            tiers.append((settings.long_hold_seconds, settings.long_hold_min_confidence,
                          settings.long_hold_stability))
        for seconds, min_confidence, stability in tiers:
            held = self._held_for(seconds, min_confidence, stability)
            if held is not None:
                return held
        return None

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

    def _track_movement(self, t: float, wrist: tuple[float, float] | None,
                        palm: float | None) -> None:
        if wrist is None or palm is None or palm <= 0:
            return
        while self._wrists and self._wrists[0][0] < t - self.settings.movement_seconds:
            self._wrists.popleft()
        palms = sorted(p for *_, p in self._wrists)
        # a frame whose landmarks collapsed (palm far shorter than the moments before) is not
        # trusted: on real recordings such frames made a held letter "move" and repeat
        if palms and palm < GLITCH_PALM * palms[len(palms) // 2]:
            return
        self._wrists.append((t, *wrist, palm))
        palms = sorted(p for *_, p in self._wrists)
        scale = palms[len(palms) // 2]  # the hand's size over the window, not one frame's
        # sideways, as signers slide a doubled letter; a hand rising into place or sinking
        # away moves up and down (on the shared recordings that made held letters repeat)
        reach = max(abs(x - wrist[0]) for _, x, _, _ in self._wrists)
        if reach >= self.settings.movement * scale and not self._moved:
            self._moved = True
            self._window.clear()  # the repeat needs its own hold after the slide, not before

    def _commit(self, t: float, label: str) -> Event:
        lowered = label.lower()
        if lowered in SPACE_LABELS:
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
