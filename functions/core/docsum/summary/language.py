"""Which language a text is written in: py3langid, whose model ships inside the package (no
download at run time).

The package pulls in numpy and reads its model on first use (~0.7 s, once per warm sandbox),
so it is imported lazily: neither handler pays for it at import (cold start).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from docsum.domain.ids import normalize_whitespace

# Below this many letters an answer is too short to tell its language reliably.
MIN_LETTERS = 40
_SAMPLE_CHARS = 4000  # enough to be sure; keeps detection of a long document cheap
_identifier: Any = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-1
    confidence: float  # 0..1


def _get_identifier() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier  # lazy: numpy + model

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect(text: str) -> Detection | None:
    """The most likely language, or None when the text has too few letters to tell."""
    sample = normalize_whitespace(text)[:_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    language, confidence = _get_identifier().classify(sample)
    return Detection(str(language), float(confidence))


def known_languages() -> set[str]:
    return {str(label) for label in _get_identifier().labels}
