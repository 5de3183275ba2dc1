"""Where each sentence of a summary comes from: deterministic alignment to the document.

A document is cut into passages (its sentences, paragraphs and list items, long ones cut at
spaces) with their character offsets into the extracted text. A summary sentence (a bullet in
bullet format) is a query: BM25 over the passages proposes candidates, and the 1-3 passages
that together cover most of the sentence's content words are its sources. Its support in
[0, 1] is the share of its content words (weighted by how rare they are in the document)
those passages contain.

Content words are compared by a prefix stem (the first `_STEM` letters: "licensed" and
"licensing" meet, in every supported language, without a stemmer per language); the words
any text has (a compact stop list of the supported languages) and the words summaries use
about a document ("describes", "outlines") are ignored. A sentence is unsupported when its
support is below `SUPPORT_MIN`, when it has a figure, a name or a quoted term the document
does not have anywhere (those never come from a faithful summary, however well the rest fits),
or when it has no content word at all: nothing in it could be cited.

No model, no download: BM25 is a few numpy operations over posting lists (`rank-bm25` would
score every passage for every query word; measured in `bench`, 500,000 characters index and
align well under a second on one core). Pages come from the source's page map.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from docsum.summary.figures import invented_figures, source_figures

# A sentence whose best passages cover less than this share of its content is unsupported.
SUPPORT_MIN = 0.5
MAX_SOURCES = 3
PASSAGE_MAX_CHARS = 600  # longer sentences (lists, tables, run-on lines) are cut at spaces
_MIN_GAIN = 0.1  # a second or third passage must add this much support to be cited
_CANDIDATES = 12  # passages BM25 proposes per sentence
_STEM = 6
_K1, _B = 1.2, 0.75

# A sentence end, a blank line, or a line break before a list item (a single line break is
# only the wrapping of hard-wrapped text).
_PASSAGE_END = re.compile(
    r"[.!?…。！？][\"'”’)\]]*(?=\s)|\n[^\S\n]*\n|\n(?=[^\S\n]*(?:[-*•]|\d{1,3}[.)])\s)"
)
_WORD = re.compile(r"\w+", re.UNICODE)
_NAME = re.compile(r"(?<![\w.])([A-ZÀ-ÖØ-Þ][\w'-]*[\w])")
_QUOTED = re.compile(r"[\"“„«]([^\"“”„«»\n]{3,80})[\"”“»]")

# Words every text has, in the supported languages (en, de, fr, es, it, pt, nl), and the
# words a summary uses about its document: no evidence either way.
_IGNORED_WORDS = """
    a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those there their they them he she his her we our you your i not
    no nor so than then also such can could may might must shall should will would do does
    did has have had which who whom whose what when where while how all any each both other
    more most some only own same very into about over under between through during before
    after above below up down out off again further once here why because until against
    der die das den dem des ein eine einer eines einem einen und oder aber nicht ist sind war
    waren wird werden wurde mit von zu zum zur auf aus bei nach vor für über unter als auch
    es sie er wir ihr ich du sich dass wie so noch nur im am an in um durch kann können
    le la les un une des du de et ou mais pas est sont était ont avec pour par sur dans au
    aux ce cette ces qui que se sa son ses leur leurs il elle ils elles nous vous ne plus
    el los las unos unas y o pero no es son era fue con para por sobre en al del lo que se
    su sus le les este esta estos estas como más
    il lo gli i una uno e ma non è sono era con per su nel nella della delle dei di da che si
    suo sua suoi sue questo questa
    o os as um uma e ou mas não é são era com para por em no na nos nas do da dos das que se
    seu sua seus suas este esta
    de het een en of maar niet is zijn was waren met voor op aan bij uit als ook dat die dit
    deze er hij zij wij ze te om door naar
    document documents text texts summary summarize summarizes article author authors
    describes describe described discusses discuss explains explain outlines outline covers
    cover mentions mention states highlights highlight focuses focus overview provides provide
    presents present section sections key main points point overall
"""
_IGNORED = frozenset(_IGNORED_WORDS.split())


@dataclass(frozen=True)
class Span:
    """A cited passage: `start`/`end` offsets into the extracted text; `page` (1-based) where
    the source has a page map."""

    start: int
    end: int
    page: int | None = None


@dataclass(frozen=True)
class GroundedSentence:
    text: str
    support: float  # in [0, 1]
    sources: tuple[Span, ...]
    supported: bool
    why: str = ""  # for an unsupported sentence: what is not in the document


@dataclass(frozen=True)
class Grounding:
    sentences: tuple[GroundedSentence, ...]

    @property
    def total(self) -> int:
        return len(self.sentences)

    @property
    def supported(self) -> int:
        return sum(s.supported for s in self.sentences)

    @property
    def min_support(self) -> float:
        return min((s.support for s in self.sentences), default=1.0)

    @property
    def unsupported(self) -> list[GroundedSentence]:
        return [s for s in self.sentences if not s.supported]


def passages(text: str) -> list[tuple[int, int]]:
    """(start, end) of each passage of `text`: its sentences, paragraphs and list items,
    whitespace trimmed, none longer than `PASSAGE_MAX_CHARS` (cut at a space when there is one)."""
    found: list[tuple[int, int]] = []
    start = 0
    for match in _PASSAGE_END.finditer(text):
        _add_passage(text, start, match.end(), found)
        start = match.end()
    _add_passage(text, start, len(text), found)
    return found


def _add_passage(text: str, start: int, end: int, found: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > PASSAGE_MAX_CHARS:
        cut = text.rfind(" ", start + PASSAGE_MAX_CHARS // 2, start + PASSAGE_MAX_CHARS)
        cut = cut if cut > start else start + PASSAGE_MAX_CHARS
        if any(ch.isalnum() for ch in text[start:cut]):
            found.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        found.append((start, end))


def stems(text: str) -> list[str]:
    """The content words of `text`, lower-cased and cut to their stem, in order."""
    return [
        word[:_STEM] if not word.isdigit() else word
        for word in (w.lower() for w in _WORD.findall(text))
        if word not in _IGNORED and (len(word) > 1 or word.isdigit())
    ]


def page_of(offset: int, page_starts: Sequence[int] | None) -> int | None:
    """The 1-based page `offset` falls on, from a page map (page i+1 starts at
    `page_starts[i]`); None without one."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


class DocumentIndex:
    """A document's passages and their BM25 postings (built once per text, see `index`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = passages(text)
        self.bags = [frozenset(stems(text[s:e])) for s, e in self.spans]
        counts = [Counter(stems(text[s:e])) for s, e in self.spans]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        self._norm = _K1 * (
            1 - _B + _B * lengths / max(1.0, float(lengths.mean()) if lengths.size else 1.0)
        )
        rows: dict[str, list[int]] = {}
        tfs: dict[str, list[int]] = {}
        for i, counter in enumerate(counts):
            for stem, tf in counter.items():
                rows.setdefault(stem, []).append(i)
                tfs.setdefault(stem, []).append(tf)
        n = len(self.spans)
        self.postings = {
            stem: (np.array(rows[stem]), np.array(tfs[stem], dtype=np.float64)) for stem in rows
        }
        # BM25's idf, never negative (a word in most passages still counts a little).
        self.idf = {
            stem: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            for stem, (ids, _) in self.postings.items()
        }
        # A word the document does not have counts like an average word of it: abstractive
        # summaries paraphrase with common words ("lets", "anyone"), and what is worse than
        # a paraphrase (a figure, a name, a quote) is judged apart (`absent`).
        self._unseen_idf = float(np.mean(list(self.idf.values()))) if self.idf else 1.0
        self.vocabulary = vocabulary(text)

    def weight(self, stem: str) -> float:
        return self.idf.get(stem, self._unseen_idf)

    def candidates(self, query: Sequence[str], limit: int = _CANDIDATES) -> list[int]:
        """The passages BM25 ranks highest for `query` (best first)."""
        scores = np.zeros(len(self.spans))
        for stem in set(query):
            posting = self.postings.get(stem)
            if posting is None:
                continue
            ids, tf = posting
            scores[ids] += self.idf[stem] * tf * (_K1 + 1) / (tf + self._norm[ids])
        if not scores.size:
            return []
        found = int(np.count_nonzero(scores))
        if found == 0:
            return []
        # More than asked for: repeated passages (page headers, boilerplate) are kept once.
        wide = min(found, limit * 4)
        top = np.argpartition(-scores, wide - 1)[:wide]
        ranked, seen = [], set()
        for i in top[np.argsort(-scores[top], kind="stable")]:
            if self.bags[i] not in seen:
                seen.add(self.bags[i])
                ranked.append(int(i))
        return ranked[:limit]


@dataclass(frozen=True)
class Vocabulary:
    """What a text has that a summary may repeat: its words, its figures in every written
    form, and its lower-cased running text (for quotes)."""

    words: frozenset[str]
    figures: frozenset[str]
    flat: str


@lru_cache(maxsize=8)
def vocabulary(text: str) -> Vocabulary:
    return Vocabulary(
        frozenset(w.lower() for w in _WORD.findall(text)),
        frozenset(source_figures(text)),
        " ".join(text.lower().split()),
    )


@lru_cache(maxsize=4)
def index(text: str) -> DocumentIndex:
    """The index of `text`, built once: the guard judges several answers against the same
    document, and the final grounding reuses it."""
    return DocumentIndex(text)


def absent(sentence: str, known: Vocabulary, names: bool = True) -> list[str]:
    """Figures, names (unless `names` is False) and quoted terms of `sentence` that `known`
    (the document's vocabulary) does not have."""
    missing = sorted(invented_figures(sentence, "", known.figures))
    first = _WORD.search(sentence)
    for match in _NAME.finditer(sentence) if names else ():
        name = match.group(1)
        at_start = first is not None and match.start() == first.start()
        words = [w.lower() for w in _WORD.findall(name)]
        if not at_start and any(w not in known.words and w not in _IGNORED for w in words):
            missing.append(name)
    for match in _QUOTED.finditer(sentence):
        if " ".join(match.group(1).lower().split()) not in known.flat:
            missing.append(f"“{match.group(1)}”")
    return missing


def align(
    sentence: str,
    doc: DocumentIndex,
    page_starts: Sequence[int] | None = None,
    check_words: bool = True,
    names: bool = True,
    known: Vocabulary | None = None,
) -> GroundedSentence:
    """`sentence` with its 1-3 best passages, its support and the verdict. `check_words`:
    False when the summary is in another language than the document (its words cannot be
    found; figures, names and quotes still must be). `names`: False for a summary in German,
    which capitalizes every noun (see `names_checked`). `known`: what counts as the
    document's figures, names and quotes (default: the document's own)."""
    query = stems(sentence)
    weights = {stem: doc.weight(stem) for stem in set(query)}
    total = sum(weights.values())
    chosen: list[int] = []
    covered: set[str] = set()
    support = 0.0
    if total > 0:
        for _ in range(MAX_SOURCES):
            best, gain = -1, 0.0
            for i in doc.candidates(query):
                if i in chosen:
                    continue
                new = sum(weights[s] for s in (doc.bags[i] & weights.keys()) - covered)
                if new > gain:
                    best, gain = i, new
            if best < 0 or (chosen and gain / total < _MIN_GAIN):
                break
            chosen.append(best)
            covered |= doc.bags[best] & weights.keys()
            support += gain / total
    support = round(min(1.0, support), 3)
    missing = absent(sentence, known or doc.vocabulary, names)
    why = ""
    if missing:
        why = "not in the document: " + ", ".join(missing)
    elif not query:  # only words any text has ("(not in the document)"): nothing to cite
        why = "no content words"
    elif check_words and support < SUPPORT_MIN:
        why = f"support {support:.2f} below {SUPPORT_MIN}"
    sources = tuple(
        Span(start, end, page_of(start, page_starts))
        for start, end in sorted(doc.spans[i] for i in chosen)
    )
    return GroundedSentence(sentence, support, sources, not why, why)


def ground(
    units: Sequence[str],
    text: str,
    page_starts: Sequence[int] | None = None,
    check_words: bool = True,
    names: bool = True,
    context: str | None = None,
) -> Grounding:
    """Every unit of a summary (its sentences, or its bullets without the marker) aligned to
    `text`, the whole extracted document (a map-reduce summary is aligned to it as well, so
    it cites the original, never its intermediate summaries). `context`: a text around it
    (the title and the document) whose figures, names and quotes are no invention either."""
    doc = index(text)
    known = vocabulary(context) if context is not None else None
    return Grounding(tuple(align(u, doc, page_starts, check_words, names, known) for u in units))


def names_checked(language: str | None) -> bool:
    """Whether capitalized words mark names in a summary in `language` (not in German)."""
    return language != "de"


__all__ = [
    "SUPPORT_MIN",
    "DocumentIndex",
    "GroundedSentence",
    "Grounding",
    "Span",
    "align",
    "ground",
    "index",
    "names_checked",
    "page_of",
    "passages",
    "stems",
]
