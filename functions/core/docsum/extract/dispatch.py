"""Files → text: decide the format from the bytes, then extract the text a summary is made of.

Every parser is imported lazily, inside the function for its format, so neither function's cold
start pays for formats it is not handed. Extraction is bounded: the input size, PDF pages, the
unpacked size of a DOCX and a deadline checked between pages/paragraphs, and the text length;
past a bound it stops with `ExtractionFailed` naming the limit, never by timing out the function.
"""

from __future__ import annotations

import codecs
import io
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from docsum.domain.errors import DocsumError


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    EPUB = "epub"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


MEDIA_TYPES: dict[FileKind, str] = {
    FileKind.PDF: "application/pdf",
    FileKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    FileKind.EPUB: "application/epub+zip",
    FileKind.HTML: "text/html",
    FileKind.MARKDOWN: "text/markdown",
    FileKind.TEXT: "text/plain",
}
_KIND_OF_MEDIA_TYPE = {media_type: kind for kind, media_type in MEDIA_TYPES.items()}
_KIND_OF_SUFFIX = {
    ".pdf": FileKind.PDF,
    ".docx": FileKind.DOCX,
    ".epub": FileKind.EPUB,
    ".html": FileKind.HTML,
    ".htm": FileKind.HTML,
    ".xhtml": FileKind.HTML,
    ".md": FileKind.MARKDOWN,
    ".markdown": FileKind.MARKDOWN,
    ".txt": FileKind.TEXT,
    ".text": FileKind.TEXT,
}
_TEXT_KINDS = (FileKind.HTML, FileKind.MARKDOWN, FileKind.TEXT)
SUPPORTED_TYPES_TEXT = ", ".join(MEDIA_TYPES.values())
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class UnsupportedFileType(DocsumError):
    """The bytes are none of the supported formats (the API answers 415)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not supported; supported types: {SUPPORTED_TYPES_TEXT}")
        self.what = what


class ExtractionFailed(DocsumError):
    """The file is of a supported type but yields no usable text: permanent, never retried."""


@dataclass(frozen=True)
class ExtractionLimits:
    max_chars: int
    max_pdf_pages: int = 2000
    max_unpacked_bytes: int = 100 * 1024 * 1024
    deadline_seconds: float = 120.0


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: FileKind
    title: str | None = None
    pages: int | None = None


def kind_of_media_type(media_type: str | None) -> FileKind | None:
    """`text/html; charset=utf-8` → HTML; None for anything unsupported."""
    if not media_type:
        return None
    return _KIND_OF_MEDIA_TYPE.get(media_type.split(";", 1)[0].strip().lower())


def kind_of_filename(filename: str | None) -> FileKind | None:
    if not filename or "." not in filename:
        return None
    return _KIND_OF_SUFFIX.get("." + filename.rsplit(".", 1)[1].lower())


def detect_kind(
    data: bytes, *, filename: str | None = None, declared_type: str | None = None
) -> FileKind:
    """The format, decided from the bytes (magic numbers); the client's type or file name only
    chooses between the text formats (HTML, Markdown, plain text), which have no magic number."""
    if not data:
        raise UnsupportedFileType("an empty file")
    if data.startswith(b"%PDF-"):
        return FileKind.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    binary = _binary_media_type(data)
    if binary is not None:
        raise UnsupportedFileType(binary)
    try:
        decode_text(data)
    except ExtractionFailed as exc:
        raise UnsupportedFileType("a binary file") from exc
    hinted = kind_of_media_type(declared_type) or kind_of_filename(filename)
    if hinted in _TEXT_KINDS:
        return hinted
    return FileKind.HTML if _HTML_START.match(data[:4096]) else FileKind.TEXT


def _zip_kind(data: bytes) -> FileKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        # A truncated DOCX still starts like one: let the extractor say it is damaged.
        return FileKind.DOCX
    if "word/document.xml" in names:
        return FileKind.DOCX
    if "META-INF/container.xml" in names:
        return FileKind.EPUB
    raise UnsupportedFileType("a ZIP archive")


def _binary_media_type(data: bytes) -> str | None:
    """A known binary format (image, executable, archive…), named for the 415 answer."""
    import puremagic  # only needed for files that are not PDF, ZIP or text

    try:
        matches = puremagic.magic_string(data[:8192])
    except puremagic.PureError:
        return None
    for match in matches:
        mime = match.mime_type or ""
        if mime and not mime.startswith("text/") and match.confidence >= 0.5:
            return mime
    return None


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


def extract(data: bytes, kind: FileKind, limits: ExtractionLimits) -> Extracted:
    """The text of a file already known to be `kind`. Raises `ExtractionFailed`."""
    deadline = _Deadline(limits.deadline_seconds)
    extractor = {
        FileKind.PDF: _pdf,
        FileKind.DOCX: _docx,
        FileKind.EPUB: _epub,
        FileKind.HTML: _html,
        FileKind.MARKDOWN: _markdown,
        FileKind.TEXT: _text,
    }[kind]
    try:
        result = extractor(data, limits, deadline)
    except (ExtractionFailed, MemoryError):
        raise
    except Exception as exc:  # a parser tripping over a malformed file: the file's fault
        raise ExtractionFailed(
            f"the {kind.value} file could not be read: {type(exc).__name__}: {_reason(exc)}"
        ) from exc
    tidy = kind in (FileKind.HTML, FileKind.MARKDOWN, FileKind.EPUB)  # html_text's output
    text = result.text if tidy else _tidy(result.text)
    if not text:
        raise ExtractionFailed(f"the {kind.value} file contains no text")
    if len(text) > limits.max_chars:
        raise ExtractionFailed(_too_long(len(text), limits.max_chars))
    title = " ".join(result.title.split())[:300] if result.title else None
    return Extracted(text=text, kind=kind, title=title or None, pages=result.pages)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._ends = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self._ends:
            raise ExtractionFailed(
                f"extraction took longer than its {self._seconds:g} s limit ({doing})"
            )


def _too_long(chars: int, limit: int) -> str:
    return f"the extracted text has {chars} characters or more; MAX_DOCUMENT_CHARS is {limit}"


def _collect(parts: Iterable[str], limits: ExtractionLimits, deadline: _Deadline, what: str) -> str:
    """Join text parts, stopping as soon as the text is over the limit or time is up."""
    kept: list[str] = []
    chars = 0
    for part in parts:
        deadline.check(what)
        kept.append(part)
        chars += len(part)
        if chars > limits.max_chars * 2:  # whitespace is tidied later: leave it headroom
            raise ExtractionFailed(_too_long(chars, limits.max_chars))
    return "\n\n".join(kept)


def _pdf(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionFailed("the PDF is password-protected; remove the password and retry")
        pages = len(reader.pages)
        if pages > limits.max_pdf_pages:
            raise ExtractionFailed(
                f"the PDF has {pages} pages; at most {limits.max_pdf_pages} are accepted"
            )
        title = _pdf_title(reader)

        def texts() -> Iterator[str]:
            for page in reader.pages:
                yield page.extract_text() or ""

        text = _collect(texts(), limits, deadline, f"PDF of {pages} pages")
    except ExtractionFailed:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionFailed("the PDF is password-protected; remove the password") from exc
    except DependencyError as exc:
        raise ExtractionFailed(f"the PDF's encryption is not supported: {exc}") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ExtractionFailed(f"the PDF is damaged or truncated: {_reason(exc)}") from exc
    if not text.strip():
        raise ExtractionFailed(
            "the PDF has no extractable text (scanned pages or images only); OCR is not supported"
        )
    return Extracted(text=text, kind=FileKind.PDF, title=title, pages=pages)


def _pdf_title(reader: Any) -> str | None:
    try:
        metadata = reader.metadata
        return str(metadata.title) if metadata is not None and metadata.title else None
    except Exception:  # a damaged info dictionary must not cost the text
        return None


def _check_unpacked(data: bytes, limits: ExtractionLimits, what: str) -> None:
    """A zip bomb is refused before anything is inflated: the sizes its directory declares."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ExtractionFailed(f"the {what} is damaged or truncated: {_reason(exc)}") from exc
    if unpacked > limits.max_unpacked_bytes:
        raise ExtractionFailed(
            f"the {what} unpacks to {unpacked} bytes; "
            f"at most {limits.max_unpacked_bytes} are accepted"
        )


def _docx(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    _check_unpacked(data, limits, "DOCX")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))

        def texts() -> Iterator[str]:
            for paragraph in document.paragraphs:
                yield paragraph.text
            for table in document.tables:
                for row in table.rows:
                    yield " | ".join(cell.text for cell in row.cells)

        text = _collect(texts(), limits, deadline, "DOCX")
        title = document.core_properties.title or None
    except ExtractionFailed:
        raise
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, SyntaxError) as exc:
        # lxml's XMLSyntaxError is a SyntaxError.
        raise ExtractionFailed(f"the DOCX is damaged: {_reason(exc)}") from exc
    return Extracted(text=text, kind=FileKind.DOCX, title=title)


def _epub(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    _check_unpacked(data, limits, "EPUB")
    from ebooklib import ITEM_DOCUMENT, epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises plain exceptions for a broken container
        raise ExtractionFailed(f"the EPUB is damaged: {_reason(exc)}") from exc

    def chapters() -> Iterator[str]:
        for idref, _ in book.spine:  # reading order
            item = book.get_item_with_id(idref)
            if item is not None and item.get_type() == ITEM_DOCUMENT:
                text = html_text(decode_text(item.get_content()))[0]
                if text:  # the navigation document is all <nav>: nothing left
                    yield text

    text = _collect(chapters(), limits, deadline, "EPUB")
    titles = book.get_metadata("DC", "title")
    return Extracted(text=text, kind=FileKind.EPUB, title=titles[0][0] if titles else None)


# Never content: scripts, styles, navigation and page furniture.
HTML_CLUTTER = (
    "script, style, noscript, template, svg, canvas, iframe, object, nav, header, footer, "
    "aside, form, button, select, [hidden], [aria-hidden=true], [role=navigation]"
)
# Inline elements are unwrapped (their text merges with its neighbours); every text node left
# is then a block of its own, joined with a paragraph mark. All of it runs inside lexbor: edits
# node by node from Python cost ~20x the parse itself.
INLINE_TAGS = [
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
    "del", "ins", "label", "wbr",
]  # fmt: skip
_BLOCK_MARK = "\x00"  # never in decoded text that reaches here (NUL means binary)


def html_text(markup: str) -> tuple[str, str | None]:
    """(main text, <title>) of an HTML page: clutter removed, <main>/<article> preferred,
    one paragraph per block of text, a table row per line."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    # Each query walks the tree: look for the title in <head> only, for rows only if any.
    title_node = (tree.head or tree.root).css_first("title") if tree.root else None
    title = title_node.text(strip=True) if title_node is not None else None
    for node in tree.css(HTML_CLUTTER):
        node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    if root is None:
        return "", title
    root.unwrap_tags(INLINE_TAGS)
    root.merge_text_nodes()
    rows = root.css("tr") if "<tr" in markup or "<TR" in markup else []
    for row in rows:  # cells of a row stay on one line
        row.replace_with(" ".join(row.text(deep=True, separator=" ").split()))
    if rows:
        root.merge_text_nodes()
    text = root.text(deep=True, separator=_BLOCK_MARK)
    # Whitespace collapsed, then the marks made paragraph breaks: all of it C-level string
    # work (a regex substitution per mark was 3x slower than the parse).
    blocks = filter(None, map(str.strip, " ".join(text.split()).split(_BLOCK_MARK)))
    return "\n\n".join(blocks), title or None


def _html(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    text, title = html_text(decode_text(data))
    deadline.check("HTML")
    return Extracted(text=text, kind=FileKind.HTML, title=title)


def _markdown(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    from markdown_it import MarkdownIt

    # Rendered, then read back as text: links keep their words, tables their cells, code its
    # code, and no markup characters are left for the model to read.
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(decode_text(data))
    deadline.check("Markdown")
    text, _ = html_text(rendered)
    return Extracted(text=text, kind=FileKind.MARKDOWN)


def _text(data: bytes, limits: ExtractionLimits, deadline: _Deadline) -> Extracted:
    return Extracted(text=decode_text(data), kind=FileKind.TEXT)


def _tidy(text: str) -> str:
    """Spaces collapsed within lines, at most one blank line between paragraphs."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
