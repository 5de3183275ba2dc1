"""RTF → text with striprtf (one small pure-Python module: a tokenizer regex and a group stack).

RTF is 7-bit text: characters beyond ASCII come as `\\'hh` (in the document's code page) or
`\\uN` escapes, so the bytes are read as Latin-1, which never fails, and striprtf decodes the
escapes. Bounded: striprtf's helper regexes (font table, hyperlinks) scan to the end of the line
from each match, quadratic on a single line of megabytes; RTF ignores line ends (only `\\` before
one means a paragraph), so an over-long line is cut before each control word, which keeps the
text the same and the work linear. The deadline is checked around the conversion; the sandbox's
CPU limit bounds the conversion itself."""

from __future__ import annotations

import re

from docsum.domain.files import FileKind
from docsum.extract.limits import Extracted, ExtractionDeadline, ExtractionFailed, ExtractionLimits

_MAX_LINE = 4096
# A backslash that starts a control word or symbol: preceded by an even run of backslashes
# (`\\\\` is an escaped backslash, not a control word).
_CONTROL_START = re.compile(r"(?<!\\)((?:\\\\)*)(?=\\[a-zA-Z'*~{}-])")
_LONG_LINE = re.compile(r"[^\r\n]{" + str(_MAX_LINE + 1) + ",}")
_TITLE = re.compile(r"\{\\title\b ?((?:[^{}\\]|\\[^{}])*)\}")


def is_rtf(data: bytes) -> bool:
    return data[:16].lstrip().startswith(b"{\\rtf")


def read_rtf(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    from striprtf.striprtf import rtf_to_text

    source = _LONG_LINE.sub(_break_line, data.decode("latin-1"))
    deadline.check("RTF")
    if not source.rstrip().endswith("}"):
        raise ExtractionFailed("the RTF is truncated: it does not end with its closing brace")
    text = rtf_to_text(source, errors="replace")
    deadline.check("RTF")
    match = _TITLE.search(source)
    title = rtf_to_text(match.group(1), errors="replace").strip() if match else None
    return Extracted(text=text, kind=FileKind.RTF, title=title or None)


def _break_line(line: re.Match[str]) -> str:
    return _CONTROL_START.sub(lambda m: m.group(1) + "\n", line.group(0))
