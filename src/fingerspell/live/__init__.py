"""Live fingerspelling: per-frame letters -> spelled text (decoder), J/Z from motion, streams."""

from .decoder import DecoderSettings, Event, SpellingDecoder
from .motion import MotionTracker

__all__ = ["DecoderSettings", "Event", "MotionTracker", "SpellingDecoder"]
