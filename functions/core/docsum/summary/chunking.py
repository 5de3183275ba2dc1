"""Splitting a text that does not fit one model call into chunks that do.

Chunks are contiguous slices of the text: every character lands in exactly one chunk, so
`"".join(c.text for c in chunks) == text` and a chunk is named by its offsets. A chunk ends
at the strongest boundary available in the second half of the room it has: a paragraph break,
else a sentence end, else a space, else a boundary between CJK characters (scripts written
without spaces). A "word" longer than a whole chunk is a blob (base64, a minified line) and
the only thing ever cut, and then never between a character and its combining marks.

Sizes are token estimates, deliberately high: a character of a script outside the first two
UTF-8 byte ranges (CJK, Thai, emoji, …) counts as a whole token, anything else as
`1 / chars_per_token`. The model's own count (`prompt_eval_count`) is the check on it.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

# A character at or above U+0800 takes 3+ bytes in UTF-8; byte-level tokenizers spend about a
# token on each (and CJK ideographs are a token apiece in gemma's vocabulary).
_WIDE = 0x0800
# Positions just after a boundary of each kind; the split goes there, so separators stay with
# the text before them.
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE = re.compile(r"(?:[.!?…](?:[\"'”’)\]]*)\s+|[。！？](?:[」』”’）]*)\s*|\n\s*)")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
# Joiners that glue the next code point onto the previous one.
_GLUE = {"\u200c", "\u200d"}
# Keep a chunk at least this full before settling for a weaker boundary kind.
_MIN_FILL = 0.5


class Boundary(IntEnum):
    PARAGRAPH = 0
    SENTENCE = 1
    WORD = 2
    CJK = 3


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str

    def key(self, level: int) -> str:
        """Stable name of this chunk's summary: level, offsets and a digest of the text, so a
        stored summary is reused only for exactly this text at this level."""
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]
        return f"{level}:{self.start}-{self.end}:{digest}"


class TokenEstimator:
    def __init__(self, chars_per_token: float) -> None:
        if chars_per_token <= 0:
            raise ValueError("chars_per_token must be positive")
        self._narrow = 1.0 / chars_per_token

    def weight(self, char: str) -> float:
        return 1.0 if ord(char) >= _WIDE else self._narrow

    def estimate(self, text: str) -> int:
        wide = sum(1 for c in text if ord(c) >= _WIDE)
        return math.ceil(wide + (len(text) - wide) * self._narrow)

    def prefix(self, text: str) -> list[float]:
        """prefix[i]: estimated tokens of text[:i]."""
        return [0.0, *itertools.accumulate(self.weight(c) for c in text)]


def split_text(text: str, max_tokens: int, estimator: TokenEstimator) -> list[Chunk]:
    """Contiguous chunks of at most `max_tokens` estimated tokens each (one chunk if it fits)."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not text:
        return []
    cost = estimator.prefix(text)
    boundaries = _boundaries(text)
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        # Farthest end whose estimate still fits (the ceil is what the caller plans with).
        limit = bisect.bisect_right(cost, cost[start] + max_tokens + 1e-9) - 1
        end = len(text) if limit >= len(text) else _best_end(text, boundaries, start, limit)
        chunks.append(Chunk(start, end, text[start:end]))
        start = end
    return chunks


def _boundaries(text: str) -> dict[Boundary, list[int]]:
    found = {
        Boundary.PARAGRAPH: [m.end() for m in _PARAGRAPH.finditer(text)],
        Boundary.SENTENCE: [m.end() for m in _SENTENCE.finditer(text)],
        Boundary.WORD: [m.end() for m in _SPACE.finditer(text)],
        Boundary.CJK: [
            i
            for m in _CJK.finditer(text)
            for i in (m.start(), m.end())
            if 0 < i < len(text) and not _attaches(text[i]) and text[i - 1] not in _GLUE
        ],
    }
    found[Boundary.CJK] = sorted(set(found[Boundary.CJK]))
    return found


def _best_end(text: str, boundaries: dict[Boundary, list[int]], start: int, limit: int) -> int:
    """The end of a chunk that starts at `start` and may reach `limit` (exclusive end)."""
    if limit <= start:  # a single character heavier than the whole budget: take it anyway
        limit = start + 1
    floor = start + max(1, int((limit - start) * _MIN_FILL))
    for kind in Boundary:
        positions = boundaries[kind]
        i = bisect.bisect_right(positions, limit) - 1
        if i >= 0 and positions[i] >= floor:
            return positions[i]
    # No boundary in the second half: take the last boundary of any kind, however early,
    # before cutting into a word.
    weakest = max(
        (
            p[i]
            for p in boundaries.values()
            if (i := bisect.bisect_right(p, limit) - 1) >= 0 and p[i] > start
        ),
        default=None,
    )
    if weakest is not None:
        return weakest
    end = limit
    while end > start + 1 and _glued(text, end):
        end -= 1
    # A single character with its marks heavier than the whole budget is still kept whole.
    while end < len(text) and _glued(text, end):
        end += 1
    return end


def _glued(text: str, i: int) -> bool:
    """True when a cut before text[i] would separate a character from its marks or joiner."""
    return _attaches(text[i]) or text[i - 1] in _GLUE


def _attaches(char: str) -> bool:
    """True for a code point that belongs to the one before it (accents, variation selectors)."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me")
        or ("\ufe00" <= char <= "\ufe0f")
        or char in _GLUE
    )


__all__ = ["Boundary", "Chunk", "TokenEstimator", "split_text"]
