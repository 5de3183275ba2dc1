"""OpenDocument text (.odt) and presentations (.odp) → text, read from `content.xml` with
defusedxml's streaming parser.

Why not a library: odfpy (the usual reader) has had no release since 2020 and builds a DOM of
the whole document; the text is one XML part, and a ~150-line reader over the standard library's
parser, hardened by defusedxml (no entity expansion, no external references), is smaller and
bounded: paragraphs are read as they end and dropped from the tree, so memory stays at one
paragraph whatever the file, and the deadline is checked as the parser goes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from docsum.domain.files import FileKind
from docsum.extract.archive import ZIP_DATA_ERRORS, open_package
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    collect,
    reason_of,
)

if TYPE_CHECKING:  # the XML parser loads with a document, not with the detection
    from xml.etree.ElementTree import Element

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"

_PARAGRAPHS = frozenset({f"{_TEXT}p", f"{_TEXT}h"})
_SPACE, _TAB, _BREAK = f"{_TEXT}s", f"{_TEXT}tab", f"{_TEXT}line-break"
# Inside a paragraph but not its text: comments and the footnote's number.
_NOT_TEXT = frozenset({f"{_OFFICE}annotation", f"{_TEXT}note-citation"})
_PAGE, _NOTES, _FRAME = f"{_DRAW}page", f"{_PRESENTATION}notes", f"{_DRAW}frame"
_CLASS = f"{_PRESENTATION}class"
_MAX_META_BYTES = 1_000_000
_CHECK_EVERY = 2_000  # parser events between deadline checks


_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": FileKind.ODT,
    "application/vnd.oasis.opendocument.text-template": FileKind.ODT,
    "application/vnd.oasis.opendocument.presentation": FileKind.ODP,
    "application/vnd.oasis.opendocument.presentation-template": FileKind.ODP,
}


def odf_kind(archive: zipfile.ZipFile) -> FileKind | None:
    """The package's declared kind: its first member, `mimetype`, names it (ODF 1.2 §3.3)."""
    try:
        info = archive.getinfo("mimetype")
        if info.file_size > 200:
            return None
        declared = archive.read(info).decode("ascii", "replace").strip()
    except (KeyError, ValueError, *ZIP_DATA_ERRORS):
        return None
    return _MIMETYPES.get(declared)


def read_odt(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    return _read(data, FileKind.ODT, limits, deadline)


def read_odp(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    """`pages` counts slides."""
    return _read(data, FileKind.ODP, limits, deadline)


def _read(
    data: bytes, kind: FileKind, limits: ExtractionLimits, deadline: ExtractionDeadline
) -> Extracted:
    what = kind.value.upper()
    with open_package(data, limits, what) as archive:
        title = _title(archive)
        slides: list[int] = []
        try:
            with archive.open("content.xml") as content:
                blocks = _blocks(content, kind, deadline, what, slides)
                text = collect(blocks, limits, deadline, what)
        except KeyError as exc:
            raise ExtractionFailed(f"the {what} has no content.xml") from exc
        except ZIP_DATA_ERRORS as exc:
            raise ExtractionFailed(f"the {what} is damaged: {reason_of(exc)}") from exc
    if not text.strip():
        raise ExtractionFailed(f"the {what} contains no text")
    pages = len(slides) if kind is FileKind.ODP else None
    return Extracted(text=text, kind=kind, title=title, pages=pages)


def _blocks(
    content: object, kind: FileKind, deadline: ExtractionDeadline, what: str, slides: list[int]
) -> Iterator[str]:
    """Paragraphs (ODT), or one block per slide: `Slide N: title`, its text, its notes (ODP)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    stack: list[Element] = []
    in_paragraph = 0
    in_notes = in_title = False
    title: list[str] = []
    body: list[str] = []
    notes: list[str] = []
    try:
        for events, (event, element) in enumerate(iterparse(content, events=("start", "end"))):
            if events % _CHECK_EVERY == 0:
                deadline.check(what)
            tag = element.tag
            if event == "start":
                stack.append(element)
                if tag in _PARAGRAPHS:
                    in_paragraph += 1
                elif in_paragraph:
                    pass
                elif tag == _PAGE:
                    title, body, notes = [], [], []
                elif tag == _NOTES:
                    in_notes = True
                elif tag == _FRAME and element.get(_CLASS) == "title":
                    in_title = True
                continue
            stack.pop()
            if tag in _PARAGRAPHS:
                in_paragraph -= 1
                if in_paragraph:
                    continue  # a paragraph in a footnote: read with the one holding it
                paragraph = " ".join(_paragraph_text(element).split())
                if not paragraph:
                    pass
                elif kind is FileKind.ODT:
                    yield paragraph
                else:
                    (notes if in_notes else title if in_title else body).append(paragraph)
            elif in_paragraph:
                continue  # kept until its paragraph ends
            elif tag == _NOTES:
                in_notes = False
            elif tag == _FRAME:
                in_title = False
            elif tag == _PAGE:
                slides.append(1)
                heading = f"Slide {len(slides)}" + (f": {' '.join(title)}" if title else "")
                yield "\n".join([heading, *body, *([f"Notes: {' '.join(notes)}"] if notes else [])])
            if stack:  # done with it: only the path to the current element stays in memory
                stack[-1].remove(element)
    except (ParseError, DefusedXmlException) as exc:
        raise ExtractionFailed(f"the {what} is damaged: content.xml: {reason_of(exc)}") from exc


def _paragraph_text(element: Element) -> str:
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == _SPACE:
            count = child.get(f"{_TEXT}c", "1")
            parts.append(" " * min(int(count) if count.isdigit() else 1, 100))
        elif tag == _TAB:
            parts.append("\t")
        elif tag == _BREAK:
            parts.append("\n")
        elif tag in _PARAGRAPHS:  # a footnote's paragraph: a word apart from the text
            parts.append(f" {_paragraph_text(child)} ")
        elif tag not in _NOT_TEXT:
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _title(archive: zipfile.ZipFile) -> str | None:
    """dc:title from meta.xml; a missing or damaged meta.xml costs only the title."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        info = archive.getinfo("meta.xml")
        if info.file_size > _MAX_META_BYTES:
            return None
        node = fromstring(archive.read(info)).find(f"{_OFFICE}meta/{_DC}title")
    except (KeyError, ParseError, DefusedXmlException, *ZIP_DATA_ERRORS):
        return None
    return node.text if node is not None and node.text else None
