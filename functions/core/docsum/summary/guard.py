"""The guard: what a model wrote is checked before anything can store it.

Small models degenerate: they loop, echo the text back, refuse, ignore the requested format or
language, and invent figures. A document can also carry instructions that a model obeys
(prompt injection): a summary describes its document and never acts on it, so an answer that
addresses the reader with instructions, or carries links and contact details (no summary
request asks for them), fails as well (`docsum.summary.addressing`). `check` finds those
problems in a shaped answer (pure functions, no I/O; the language detector is passed in).
`salvage` drops the sentences that carry a repeat, an invented figure or words to the reader,
and says whether what is left still passes. The summarizer decides what to do with the verdict
(retry once, salvage, or fail the document with `Problem.reason`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import SummaryFormat
from docsum.summary.addressing import addresses_reader
from docsum.summary.figures import invented_figures, source_figures, words_of
from docsum.summary.language import MIN_LETTERS, Detection
from docsum.summary.shaping import BULLET, ends_sentence, split_sentences

Detector = Callable[[str], Detection | None]


class Check(StrEnum):
    REFUSAL = "refusal"
    REPETITION = "repetition"
    NOT_A_SUMMARY = "not_a_summary"
    FORMAT = "format"
    LANGUAGE = "language"
    INVENTED_FIGURES = "invented_figures"
    ADDRESSES_READER = "addresses_reader"


# Stable, user-facing reasons (a failed document's `error` starts with one of them).
REASONS = {
    Check.REFUSAL: "model refused or answered about itself",
    Check.REPETITION: "degenerate model output",
    Check.NOT_A_SUMMARY: "model output is not a summary",
    Check.FORMAT: "model output does not follow the requested format",
    Check.LANGUAGE: "model output is not in the requested language",
    Check.INVENTED_FIGURES: "model output has figures that are not in the document",
    Check.ADDRESSES_READER: "model output addresses the reader instead of describing the text",
}

# An answer at least this share of its source's length is not a summary of it.
NOT_SHORTER_RATIO = 0.8
BULLETS_MIN, BULLETS_MAX = 3, 8
# A detector this sure of another language than the requested one means the wrong language.
LANGUAGE_CONFIDENCE = 0.9
_REPEATED_NGRAM = 8  # any 8 words twice: a loop, not a turn of phrase
_LOOP_NGRAM, _LOOP_COUNT = 4, 4  # any 4 words four times: a loop inside a sentence
_REFUSAL_WINDOW = 300  # refusals and meta answers come first
_ECHO_NGRAM = 5

# Refusals and answers about the model or the missing input, per supported language.
_REFUSALS = re.compile(
    "|".join(
        [
            # en
            r"\bI(?:'m| am)? (?:cannot|can't|can not|am unable|unable|won't)\b",
            r"\bI'm sorry\b|\bI am sorry\b|\bsorry, but\b",
            r"\bas an? (?:AI|language model|assistant)\b",
            r"\bplease (?:provide|share|send|paste|give)\b",
            r"\b(?:no|the) (?:document|text) (?:was|is|has been) (?:not )?"
            r"(?:provided|empty|missing)\b",
            r"\byou (?:did not|didn't|have not|haven't) (?:provide|include|share)",
            # de
            r"\bich kann (?:nicht|keine|leider)\b|\bes tut mir leid\b",
            r"\bals (?:KI|künstliche Intelligenz|Sprachmodell)\b",
            r"\bbitte (?:geben|stellen|senden|fügen) Sie\b",
            # fr
            r"\bje ne (?:peux|suis) pas\b|\bdésolée?\b",
            r"\ben tant qu'(?:IA|intelligence artificielle|assistant|modèle)\b",
            r"\bveuillez (?:me )?(?:fournir|envoyer|partager|coller)\b",
            # es
            r"\bno puedo\b|\blo siento\b",
            r"\bcomo (?:una )?(?:IA|inteligencia artificial|modelo de lenguaje)\b",
            r"\bpor favor,? (?:proporciona|proporcione|envía|envíe|comparte)\b",
            # it
            r"\bnon posso\b|\bmi dispiace\b",
            r"\bcome (?:un'?)?(?:IA|intelligenza artificiale|modello linguistico)\b",
            r"\bper favore,? (?:fornisci|fornisca|invia)\b",
            # pt
            r"\bnão posso\b|\bdesculpe\b",
            r"\bcomo (?:uma )?(?:IA|inteligência artificial|modelo de linguagem)\b",
            r"\bpor favor,? (?:forneça|envie|compartilhe)\b",
            # nl
            r"\bik kan (?:niet|geen)\b|\bhet spijt me\b",
            r"\bals (?:AI|taalmodel)\b",
            r"\bgeef (?:me )?(?:de|het) (?:tekst|document)\b",
        ]
    ),
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Problem:
    check: Check
    detail: str

    @property
    def reason(self) -> str:
        return f"{REASONS[self.check]} ({self.detail})"


@dataclass(frozen=True)
class Expectation:
    """What one answer must be. `source`: the text it summarizes (figures, refusals quoted
    from it); `source_chars`: its length for the not-a-summary check (None: skip it, e.g. when
    combining partial summaries); `language`: the ISO code the answer must be in (None: not
    checked, e.g. the document's language could not be told)."""

    source: str
    budget: int
    format: SummaryFormat = SummaryFormat.PARAGRAPH
    language: str | None = None
    source_chars: int | None = None
    instructions: str = ""  # the system prompt: an answer must not repeat it


def units(summary: str, form: SummaryFormat) -> list[str]:
    """What the guard judges one by one: bullet lines, or a paragraph's sentences."""
    if form is SummaryFormat.BULLETS:
        return [line for line in summary.splitlines() if line.strip()]
    return split_sentences(summary)


def join_units(parts: Iterable[str], form: SummaryFormat) -> str:
    return ("\n" if form is SummaryFormat.BULLETS else " ").join(parts)


def check(
    summary: str, expect: Expectation, detect: Detector, answer_chars: int | None = None
) -> list[Problem]:
    """Every problem of `summary` (already shaped: cleaned and fitted to the budget), most
    telling first. `answer_chars`: the cleaned answer's length before it was fitted (a model
    that wrote more than the source is not summarizing, even if the cut fits)."""
    if not summary.strip():
        return [Problem(Check.NOT_A_SUMMARY, "empty answer")]
    found = [
        problem
        for problem in (
            refusal(summary, expect.source),
            prompt_echo(summary, expect.instructions, expect.source),
            repetition(summary, expect.format),
            not_a_summary(summary, expect, answer_chars),
            format_problem(summary, expect.format),
            language_problem(summary, expect.language, detect, expect.format),
            reader_problem(summary),
        )
        if problem is not None
    ]
    invented = invented_figures(summary, expect.source)
    if invented:
        found.append(Problem(Check.INVENTED_FIGURES, ", ".join(sorted(invented))))
    return found


def reader_problem(summary: str) -> Problem | None:
    found = addresses_reader(summary)
    return None if found is None else Problem(Check.ADDRESSES_READER, repr(found[:40]))


def refusal(summary: str, source: str) -> Problem | None:
    """A refusal or meta answer at the start, unless the document itself says it."""
    match = _REFUSALS.search(summary[:_REFUSAL_WINDOW])
    if match is None or match.group(0).lower() in source.lower():
        return None
    return Problem(Check.REFUSAL, f"starts with {match.group(0)!r}")


def prompt_echo(summary: str, instructions: str, source: str) -> Problem | None:
    """The answer repeats its instructions (any 5 words of them, not also in the source)."""
    if not instructions:
        return None
    n = _ECHO_NGRAM
    told = _grams(words_of(instructions), n) - _grams(words_of(source), n)
    echoed = told & _grams(words_of(summary), n)
    if not echoed:
        return None
    return Problem(Check.REFUSAL, f"repeats its instructions: {' '.join(min(echoed))!r}")


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _key(sentence: str) -> str:
    return " ".join(words_of(sentence))


def repetition(summary: str, form: SummaryFormat = SummaryFormat.PARAGRAPH) -> Problem | None:
    """The same sentence twice, any 8 words twice, or any 4 words four times."""
    keys = [_key(u.removeprefix(BULLET)) for u in units(summary, form)]
    repeated = [k for k, n in Counter(k for k in keys if len(k.split()) >= 3).items() if n > 1]
    if repeated:
        return Problem(Check.REPETITION, f"sentence repeated: {repeated[0][:60]!r}")
    words = words_of(summary)
    for n, limit in ((_REPEATED_NGRAM, 2), (_LOOP_NGRAM, _LOOP_COUNT)):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        gram, times = grams.most_common(1)[0] if grams else ((), 0)
        if times >= limit:
            return Problem(Check.REPETITION, f"{' '.join(gram)!r} {times} times")
    return None


def not_a_summary(
    summary: str, expect: Expectation, answer_chars: int | None = None
) -> Problem | None:
    if len(summary) > expect.budget:
        return Problem(Check.NOT_A_SUMMARY, f"{len(summary)} chars over a {expect.budget} budget")
    if expect.source_chars is None:
        return None
    written = max(len(summary), answer_chars or 0)
    if written >= NOT_SHORTER_RATIO * expect.source_chars:
        return Problem(
            Check.NOT_A_SUMMARY, f"{written} chars for a {expect.source_chars}-char text"
        )
    return None


def format_problem(summary: str, form: SummaryFormat) -> Problem | None:
    lines = [line for line in summary.splitlines() if line.strip()]
    if form is SummaryFormat.PARAGRAPH:
        if len(lines) > 1 or summary.lstrip().startswith(BULLET):
            return Problem(Check.FORMAT, "paragraph expected, got lines or a list")
        return None
    if not all(line.startswith(BULLET) for line in lines):
        return Problem(Check.FORMAT, "a line that is not a bullet")
    if not BULLETS_MIN <= len(lines) <= BULLETS_MAX:
        return Problem(Check.FORMAT, f"{len(lines)} bullets, expected {BULLETS_MIN}-{BULLETS_MAX}")
    if not all(ends_sentence(line) for line in lines):
        return Problem(Check.FORMAT, "a bullet that is not a complete sentence")
    return None


def language_problem(
    summary: str,
    language: str | None,
    detect: Detector,
    form: SummaryFormat = SummaryFormat.PARAGRAPH,
) -> Problem | None:
    """Only a confident detection of another language fails (short answers are not judged)."""
    if language is None:
        return None
    prose = " ".join(u.removeprefix(BULLET) for u in units(summary, form))
    if sum(ch.isalpha() for ch in prose) < MIN_LETTERS:
        return None
    found = detect(prose)
    if found is None or found.language == language or found.confidence < LANGUAGE_CONFIDENCE:
        return None
    return Problem(Check.LANGUAGE, f"written in {found.language}, asked for {language}")


def salvage(summary: str, expect: Expectation, detect: Detector) -> str | None:
    """`summary` without its repeated sentences and the sentences carrying an invented
    figure or addressing the reader, if what is left passes every check (and something was
    dropped); else None."""
    known = source_figures(expect.source)
    kept, seen = [], set()
    for unit in units(summary, expect.format):
        key = _key(unit.removeprefix(BULLET))
        if key in seen or invented_figures(unit, expect.source, known) or addresses_reader(unit):
            continue
        seen.add(key)
        kept.append(unit)
    rest = normalize_whitespace(join_units(kept, expect.format)) if kept else ""
    if expect.format is SummaryFormat.BULLETS:
        rest = join_units(kept, expect.format)
    # A few words left over are no summary of a text that has more.
    letters = sum(ch.isalpha() for ch in rest)
    enough = letters >= min(MIN_LETTERS, sum(ch.isalpha() for ch in expect.source) // 2)
    if not rest or rest == summary or not enough or check(rest, expect, detect):
        return None
    return rest
