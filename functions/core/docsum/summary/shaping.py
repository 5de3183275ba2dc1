"""The shape of a stored summary: the model's answer cleaned (no preamble, headings or
markup), laid out as a paragraph or bullets and fitted to the budget on a sentence boundary."""

from __future__ import annotations

import re

from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import SummaryFormat

_SENTENCE_END = re.compile(r"[.!?…。！？](?:[\"'”’)\]]*)(?=\s|$)")
_ENDS_SENTENCE = re.compile(r"[.!?…。！？][\"'”’)\]]*\s*$")
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|okay|ok)[,!.]?\s*)?"
    r"(?:here(?:'s| is| are)|below is|the following is)[^\n:]{0,80}:\s*",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?:summary|résumé|resumen|zusammenfassung)(?:\*\*|__)?\s*:\s*", re.IGNORECASE
)
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.MULTILINE)
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
# Small models echo the prompt's delimiter lines (docsum.summary.prompts.delimit): never content.
_MARKER = re.compile(r"<<<[^<>\n]{0,80}>{1,3}[”\"']?")
BULLET = "- "


def clean_summary(raw: str) -> str:
    """Plain prose: no "Here is a summary:" preamble, no headings, lists or emphasis marks."""
    text = _HEADING_LINE.sub("", _MARKER.sub("", raw))
    text = _PREAMBLE.sub("", text.strip())
    text = _LABEL.sub("", text)
    text = _LIST_MARKER.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    return normalize_whitespace(text)


def fit_to_limit(text: str, limit: int) -> str:
    """At most `limit` characters, never cut inside a word, ending on a sentence boundary when
    one exists within the limit; otherwise on a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    window = text[: limit + 1]  # one extra char: a sentence may end exactly at the limit
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit]
    if ends:
        return text[: ends[-1]].rstrip()
    budget = limit - 1  # room for the ellipsis
    spaces = [m.start() for m in re.finditer(r"\s", text[: budget + 1])]
    # Scripts written without spaces (e.g. Chinese) have no word boundary to respect.
    cut = text[: spaces[-1]] if spaces else text[:budget]
    return cut.rstrip(" ,;:-–—") + "…"


def split_sentences(text: str) -> list[str]:
    """The sentences of a paragraph, in order; a trailing fragment counts as one."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def ends_sentence(text: str) -> bool:
    return bool(_ENDS_SENTENCE.search(text))


def clean_bullets(raw: str) -> str:
    """One `- ` line per list item (whatever marker the model used), no preamble, headings or
    emphasis; a wrapped item's continuation lines joined to it. A lead-in line ending in a
    colon is dropped; other text outside the items stays a line of its own (the guard's format
    check then rejects it). An answer with no list
    at all becomes one item per sentence: the model's words, laid out as asked."""
    text = _HEADING_LINE.sub("", _MARKER.sub("", raw))
    text = _PREAMBLE.sub("", text.strip())
    text = _LABEL.sub("", text)
    if not _LIST_MARKER.search(text):
        plain = normalize_whitespace(_EMPHASIS.sub(r"\2", text))
        return "\n".join(BULLET + sentence for sentence in split_sentences(plain))
    lines: list[str] = []
    in_item = False
    for line in text.splitlines():
        if not line.strip():
            in_item = False
            continue
        marker = _LIST_MARKER.match(line)
        item = line[marker.end() :] if marker else line
        content = normalize_whitespace(_EMPHASIS.sub(r"\2", item))
        if marker:
            lines.append(BULLET + content)
            in_item = True
        elif in_item:
            lines[-1] += " " + content
        elif not content.endswith(":"):  # a lead-in ("The key points:") is no content
            lines.append(content)
    return "\n".join(lines)


def fit_bullets(text: str, limit: int) -> str:
    """At most `limit` characters by dropping whole items from the end; a first item longer
    than the limit is cut like a paragraph."""
    lines = text.splitlines()
    while len(lines) > 1 and len("\n".join(lines)) > limit:
        lines.pop()
    joined = "\n".join(lines)
    return joined if len(joined) <= limit else fit_to_limit(joined, limit)


def shape_summary(raw: str, limit: int, form: SummaryFormat = SummaryFormat.PARAGRAPH) -> str:
    if form is SummaryFormat.BULLETS:
        return fit_bullets(clean_bullets(raw), limit)
    return fit_to_limit(clean_summary(raw), limit)
