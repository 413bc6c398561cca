"""Word completion for live spelling (``--words FILE``): a finished word becomes the nearest
word of a list, when one is near enough. Applied only when asked: a list decides what can be
spelled, so names and words outside it would be "corrected" away.

A word is finished when the signer signs ``space`` or lowers the hand for a pause (the decoder
then adds the space). Near enough: one edit for words of up to four letters, two for longer
ones (an edit: a letter added, dropped or changed, as the live path's errors are); among equally
near words the one earlier in the file wins, so a list in order of frequency prefers common
words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import FingerspellError

MAX_BYTES = 8 * 1024 * 1024  # a frequency list of every English word form is about 5 MB
MAX_WORDS = 500_000
WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class WordList:
    """Example:
        >>> words = WordList(("HELLO", "HELP", "WORLD"))
        >>> words.correct("HELO"), words.correct("WRLD"), words.correct("XYZ")
        ('HELLO', 'WORLD', 'XYZ')
    """

    words: tuple[str, ...]

    @classmethod
    def load(cls, path: str | Path) -> WordList:
        """One word per line (letters only; other lines, blank ones and ``#`` comments are
        skipped), upper-cased like the spelled text."""
        path = Path(path)
        if not path.is_file():
            raise FingerspellError(f"{path}: word list does not exist")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FingerspellError(f"{path}: word list is {size:,} bytes; at most "
                                   f"{MAX_BYTES:,} are read")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise FingerspellError(f"{path}: word list is not UTF-8 text ({exc.reason})") from None
        words = tuple(dict.fromkeys(line.strip().upper() for line in lines
                                    if WORD.fullmatch(line.strip())))[:MAX_WORDS]
        if not words:
            raise FingerspellError(f"{path}: no words in this list (one word of letters A-Z "
                                   f"per line)")
        return cls(words)

    def correct(self, word: str) -> str:
        """``word`` itself if listed, else the nearest listed word within reach, else ``word``."""
        if not word or word in self._index:
            return word
        reach = 1 if len(word) <= 4 else 2
        best, best_edits = word, reach + 1
        for candidate in self.words:
            if abs(len(candidate) - len(word)) > reach:
                continue  # too long or too short to be within reach: skip the alignment
            edits = _edits_up_to(candidate, word, reach)
            if edits < best_edits:
                best, best_edits = candidate, edits
                if edits == 1:
                    break  # nothing nearer exists (the word is not listed); earlier wins ties
        return best

    @cached_property
    def _index(self) -> frozenset[str]:
        return frozenset(self.words)


def _edits_up_to(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` as soon as it must exceed
    ``limit``: most of a long list is far from the word, and stops after a row or two."""
    row = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (char != b[j - 1]))
        if min(row) > limit:
            return limit + 1
    return min(row[-1], limit + 1)
