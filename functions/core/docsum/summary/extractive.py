"""An extractive summary: the document's most central sentences, in document order.

What is stored when no model answer can be used (degenerate, refusal, unsupported, wrong
language or format, even after the guard's retry): a summary that cannot invent anything,
with exact citations, instead of a `failed` document.

Centrality is continuous LexRank (Erkan & Radev, 2004): sentences are TF-IDF vectors of their
content stems (`grounding.stems`), similarity is their cosine, and a sentence's score is its
stationary probability in the random walk over that similarity graph. The graph is never
built: with X the row-normalized TF-IDF matrix (sparse, as coordinate arrays), one power
iteration is two sparse products, X (Xᵀ v), so time and memory grow with the document's words,
not with the square of its sentences. Pure numpy, no model, no download.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import SummaryFormat
from docsum.summary.addressing import addresses_reader
from docsum.summary.grounding import GroundedSentence, Grounding, Span, page_of, passages, stems
from docsum.summary.guard import BULLETS_MAX, BULLETS_MIN
from docsum.summary.shaping import BULLET, ends_sentence, fit_to_limit

_DAMPING = 0.15
_ITERATIONS = 50
_TOLERANCE = 1e-8
_MIN_WORDS = 6  # shorter passages (headings, list labels) are no summary sentences
_REDUNDANT = 0.6  # cosine above which a sentence says what a chosen one already says
_MIN_LETTER_SHARE = 0.6  # tables, code and number lists are not prose


@dataclass(frozen=True)
class Extract:
    """An extractive summary (shaped like a model's: a paragraph or `- ` lines) and its
    citations: each unit cites exactly the sentence it is."""

    text: str
    grounding: Grounding


def lexrank(vectors: list[Counter[str]]) -> np.ndarray:
    """Continuous LexRank scores (summing to 1) of sentences given as bags of stems."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0)
    df: Counter[str] = Counter(stem for bag in vectors for stem in bag)
    vocab = {stem: j for j, stem in enumerate(df)}
    rows, cols, vals = [], [], []
    for i, bag in enumerate(vectors):
        for stem, tf in bag.items():
            rows.append(i)
            cols.append(vocab[stem])
            vals.append(tf * math.log(n / df[stem]) + 1e-9)
    r = np.array(rows, dtype=np.intp)
    c = np.array(cols, dtype=np.intp)
    v = np.array(vals, dtype=np.float64)
    norms = np.sqrt(np.bincount(r, weights=v * v, minlength=n))
    v = v / np.where(norms[r] > 0, norms[r], 1.0)

    def similar(x: np.ndarray) -> np.ndarray:
        """(X Xᵀ - I) x: similarity to every other sentence (a sentence is not its own
        neighbour)."""
        back = np.bincount(c, weights=v * x[r], minlength=len(vocab))
        near: np.ndarray = np.bincount(r, weights=v * back[c], minlength=n) - x * (norms > 0)
        return near

    degree = similar(np.ones(n))
    degree = np.where(degree > 1e-12, degree, 0.0)
    p = np.full(n, 1.0 / n)
    for _ in range(_ITERATIONS):
        share = np.divide(p, degree, out=np.zeros(n), where=degree > 0)
        stranded = p[degree == 0].sum()  # sentences sharing no word: their walk restarts
        nxt = _DAMPING / n + (1 - _DAMPING) * (similar(share) + stranded / n)
        done = np.abs(nxt - p).sum() < _TOLERANCE
        p = nxt
        if done:
            break
    return p


def _prose(sentence: str) -> bool:
    words = sentence.split()
    letters = sum(ch.isalpha() for ch in sentence)
    return len(words) >= _MIN_WORDS and letters >= _MIN_LETTER_SHARE * len(
        sentence.replace(" ", "")
    )


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(tf * b[s] for s, tf in a.items() if s in b)
    norm = math.sqrt(sum(x * x for x in a.values()) * sum(x * x for x in b.values()))
    return dot / norm if norm else 0.0


def summarize(
    text: str,
    budget: int,
    form: SummaryFormat = SummaryFormat.PARAGRAPH,
    page_starts: list[int] | None = None,
) -> Extract | None:
    """The most central sentences of `text` that fit `budget` characters in `form`, in
    document order; None when `text` has no sentence at all (none that does not address the
    reader). Bullets: at most 8 (fewer than
    3 only when the document has fewer usable sentences). A single sentence longer than the
    whole budget is cut on a word boundary (its citation is the whole sentence)."""
    spans = passages(text)
    if not spans:
        return None
    sentences = [normalize_whitespace(text[s:e]) for s, e in spans]
    # Complete prose sentences; else any prose (headings, cut lines); else whatever there is.
    # Never a sentence that addresses the reader (an injected instruction, a link, a contact):
    # stored, the summary would pass it on (see docsum.summary.addressing).
    usable = [i for i, s in enumerate(sentences) if addresses_reader(s) is None]
    if not usable:
        return None
    prose = [i for i in usable if _prose(sentences[i])]
    prose = [i for i in prose if ends_sentence(sentences[i])] or prose or usable
    bags = [Counter(stems(sentences[i])) for i in prose]
    scores = lexrank(bags)
    ranked = sorted(range(len(prose)), key=lambda k: -scores[k])
    bullets = form is SummaryFormat.BULLETS
    prefix = len(BULLET) if bullets else 0
    chosen: list[int] = []
    # Bullets: first only sentences short enough for three to fit, so the list has three.
    caps = [(budget - 2) // BULLETS_MIN - prefix, budget] if bullets else [budget]
    for cap in caps:
        chosen, used = [], -1  # -1: no joiner (a space or a line break) before the first
        for k in ranked:
            length = prefix + len(sentences[prose[k]])
            if length - prefix > cap or used + 1 + length > budget:
                continue
            if any(_cosine(bags[k], bags[j]) > _REDUNDANT for j in chosen):
                continue
            chosen.append(k)
            used += 1 + length
            if bullets and len(chosen) == BULLETS_MAX:
                break
        if len(chosen) >= BULLETS_MIN or not bullets:
            break
    units: list[tuple[str, int]]
    if chosen:
        units = [(sentences[prose[k]], prose[k]) for k in sorted(chosen, key=lambda k: prose[k])]
    else:  # even the shortest sentence is longer than the budget: cut the most central
        best = prose[ranked[0]]
        units = [(fit_to_limit(sentences[best], budget - prefix), best)]
    cited = tuple(
        GroundedSentence(
            unit,
            1.0,
            (Span(spans[i][0], spans[i][1], page_of(spans[i][0], page_starts)),),
            True,
        )
        for unit, i in units
    )
    if bullets:
        shaped = "\n".join(BULLET + unit for unit, _ in units)
    else:
        shaped = " ".join(unit for unit, _ in units)
    return Extract(shaped, Grounding(cited))


__all__ = ["Extract", "lexrank", "summarize"]
