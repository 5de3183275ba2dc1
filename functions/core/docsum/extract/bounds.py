"""Bounds on a parser's work, checked on the raw markup before the parser builds anything.

A parser's memory and time follow the number of elements it builds (and, for HTML, how deep
they nest), not the size of the file: 172 KB of DOCX inflates to 19 million empty paragraphs
(4.9 GB in python-docx), and lexbor's tree builder walks its stack of open elements for each
new one, so 80,000 nested `<div>` take quadratic time. Counting `<` is C-speed string work on
bytes the parser would read anyway, so a bomb is refused naming the limit it broke, before any
tree exists. The sandbox (docsum.extract.sandbox) is the backstop for what these miss.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

from docsum.extract.archive import ZIP_DATA_ERRORS
from docsum.extract.limits import ExtractionFailed, reason_of

# Members a DOCX or EPUB reader parses into a tree (python-docx loads every XML part, ebooklib
# the container, package document and navigation; the chapters go through `html_text`).
_MARKUP_SUFFIXES = (".xml", ".rels", ".opf", ".ncx", ".xhtml", ".html", ".htm")
_CHUNK = 1 << 20
# Elements that never hold others (void) or whose end tag the parser implies (a new <p> closes
# the open one): neither deepens the tree, so the depth estimate skips them.
_FLAT_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead",
    "tbody", "tfoot", "rt", "rp", "colgroup", "caption",
})  # fmt: skip
_TAG_NAME = re.compile(r"<(/?[A-Za-z][A-Za-z0-9]*)")


def markup_elements(markup: str | bytes) -> int:
    """An upper bound of the elements a parser builds: start tags, empty-element tags,
    comments and instructions all open with `<`, only end tags with `</`."""
    if isinstance(markup, str):
        return markup.count("<") - markup.count("</")
    return markup.count(b"<") - markup.count(b"</")


def check_elements(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise ExtractionFailed(
            f"the {what} has {count} markup elements or more; MAX_MARKUP_ELEMENTS is {limit}"
        )


def check_archive_elements(data: bytes, limit: int, what: str) -> None:
    """The elements of every markup member of a DOCX or EPUB together, counted while
    inflating them 1 MB at a time (memory stays at one chunk whatever the member's size),
    stopped once over `limit`.

    Markup declared smaller than `limit` bytes is not inflated: each element takes a `<`, and
    zipfile, which every reader here goes through, never yields more than a member's declared
    size, however its data inflates."""
    count = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            markup = [
                info
                for info in archive.infolist()
                if info.filename.lower().endswith(_MARKUP_SUFFIXES)
            ]
            if sum(info.file_size for info in markup) <= limit:
                return
            for info in markup:
                for chunk in _inflated(archive, info):
                    count += markup_elements(chunk)  # a `</` split between chunks errs high
                    check_elements(count, limit, what)
    except ZIP_DATA_ERRORS as exc:
        raise ExtractionFailed(f"the {what} is damaged or truncated: {reason_of(exc)}") from exc


def _inflated(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            yield chunk


def nesting_depth(markup: str, stop_at: int) -> int:
    """How deep the elements of `markup` nest, estimated from its tags as the tree builder
    would nest them (void and implied-end elements stay flat); stops counting at `stop_at`."""
    depth = deepest = 0
    for name in _TAG_NAME.findall(markup):
        if name[0] == "/":
            if depth and name[1:].lower() not in _FLAT_TAGS:
                depth -= 1
        elif name.lower() not in _FLAT_TAGS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest >= stop_at:
                    break
    return deepest


def check_html(markup: str, max_elements: int, max_depth: int, what: str) -> None:
    """Refuse markup whose tree would be too large or too deep, before lexbor builds it."""
    check_elements(markup_elements(markup), max_elements, what)
    depth = nesting_depth(markup, max_depth + 1)
    if depth > max_depth:
        raise ExtractionFailed(
            f"the {what} nests elements {depth} deep or more; MAX_HTML_DEPTH is {max_depth}"
        )


def check_markdown(source: str, max_marks: int) -> None:
    """markdown-it keeps a token and a delimiter record per emphasis mark (about 600 bytes
    each: 3.9 MB of `*a_` took 1.5 GB), so the marks are counted before it parses."""
    marks = source.count("*") + source.count("_")
    if marks > max_marks:
        raise ExtractionFailed(
            f"the Markdown has {marks} emphasis marks (* and _); "
            f"MAX_MARKDOWN_EMPHASIS_MARKS is {max_marks}"
        )
