"""Bytes → str for the text formats, whatever their encoding; and what counts as no text."""

from __future__ import annotations

import codecs
import re
import unicodedata

from docsum.extract.limits import ExtractionFailed

_BLANK_LINES = re.compile(r"\n{3,}")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# Characters that show nothing although they are not whitespace to `str.strip`: format
# characters (zero-width space and joiners, BOM, word joiner, tags), combining marks with no
# base, and the letters and symbols drawn blank (Hangul fillers, braille blank).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Mn", "Me", "Zs", "Zl", "Zp"})
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """Nothing a reader could see: empty, whitespace or invisible characters only."""
    return all(
        ch.isspace() or ch in _BLANK_LOOKING or unicodedata.category(ch) in _INVISIBLE_CATEGORIES
        for ch in text
    )


def decode_text(data: bytes) -> str:
    """Plain text in any common encoding: a BOM decides, else UTF-8, else what
    charset-normalizer detects, else cp1252 (Latin-1's superset); NUL bytes mean binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ExtractionFailed(f"the text is not valid {encoding}: {exc.reason}") from exc
    if b"\x00" in data[:8192]:
        raise ExtractionFailed("the file is binary, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:1_000_000]))
    if matches:
        # Short texts often fit several code pages equally well: among the equally good ones,
        # prefer cp1252, the commonest legacy encoding of the documents people have.
        best = matches[0]
        tied = {
            m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)
        }
        encoding = "cp1252" if tied & {"cp1252", "latin_1"} else best.encoding
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ExtractionFailed("the text's encoding could not be recognised") from exc


def tidy(text: str) -> str:
    """Spaces collapsed within lines, at most one blank line between paragraphs.

    A PDF is tidied page by page (its page map must stay true): C-level string calls only, and
    text already tidy, as PDFium gives most pages, is recognised in three passes and returned as
    it is (the general path cost 60 pages ~2 ms, a tenth of PDFium's own time)."""
    text = text.replace("\r\n", "\n").strip()
    flat = text.replace("\n", " ")
    # Every whitespace character but the space is unprintable: only single spaces and single
    # line breaks, none next to another, is what the general path would leave unchanged.
    if flat.isprintable() and "  " not in flat:
        return text
    lines = "\n".join(map(" ".join, map(str.split, text.split("\n"))))
    if "\n\n\n" in lines:
        lines = _BLANK_LINES.sub("\n\n", lines)
    return lines.strip()
