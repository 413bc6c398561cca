"""Live fingerspelling: per-frame letters -> spelled text (decoder), J/Z from motion, word
completion, streams."""

from .decoder import DecoderSettings, Event, SpellingDecoder
from .motion import MotionTracker
from .words import WordList

__all__ = ["DecoderSettings", "Event", "MotionTracker", "SpellingDecoder", "WordList"]
