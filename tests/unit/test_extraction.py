"""Each format's extractor and each way a file can be bad, on files made by real writers."""

from __future__ import annotations

import random
import re

import pytest
from docsum.domain.files import FileKind
from docsum.extract.decode import decode_text, tidy
from docsum.extract.dispatch import extract
from docsum.extract.kinds import UnsupportedFileType, detect_kind
from docsum.extract.limits import ExtractionFailed, ExtractionLimits

from tests import files

LIMITS = ExtractionLimits(max_chars=500_000)


def test_pdf_text_of_every_page_title_and_page_count() -> None:
    data = files.pdf(["First page about the Moon.", "Second page about tides."], title="Lunar")
    assert detect_kind(data, filename="x.bin") is FileKind.PDF
    result = extract(data, FileKind.PDF, LIMITS)
    assert "First page about the Moon." in result.text
    assert "Second page about tides." in result.text
    assert result.pages == 2
    assert result.title == "Lunar"


def test_pdf_encrypted_with_an_empty_user_password_is_opened() -> None:
    data = files.pdf(["Readable without a password."], user_password="")
    assert "Readable without a password." in extract(data, FileKind.PDF, LIMITS).text


def test_pdf_with_a_user_password_fails_saying_so() -> None:
    data = files.pdf(["Secret."], user_password="s3cret")
    with pytest.raises(ExtractionFailed, match="password-protected"):
        extract(data, FileKind.PDF, LIMITS)


def test_truncated_pdf_fails_readably() -> None:
    data = files.pdf([files.PARAGRAPH] * 3)
    with pytest.raises(ExtractionFailed, match="PDF"):
        extract(data[: len(data) // 3], FileKind.PDF, LIMITS)


def test_pdf_over_the_page_limit_fails_before_reading_pages() -> None:
    data = files.pdf(["page"] * 12)
    with pytest.raises(ExtractionFailed, match="12 pages; at most 10"):
        extract(data, FileKind.PDF, ExtractionLimits(max_chars=500_000, max_pdf_pages=10))


def test_extraction_deadline_ends_a_slow_file() -> None:
    data = files.pdf(["page"] * 5)
    limits = ExtractionLimits(max_chars=500_000, deadline_seconds=0)
    with pytest.raises(ExtractionFailed, match="longer than its 0 s limit"):
        extract(data, FileKind.PDF, limits)


def test_text_over_max_document_chars_fails_naming_the_limit() -> None:
    data = files.pdf([files.PARAGRAPH] * 4)
    with pytest.raises(ExtractionFailed, match="MAX_DOCUMENT_CHARS is 300"):
        extract(data, FileKind.PDF, ExtractionLimits(max_chars=300))


def test_docx_paragraphs_tables_and_core_title() -> None:
    data = files.docx(["Intro paragraph.", "Second paragraph."], title="Word title")
    assert detect_kind(data) is FileKind.DOCX
    result = extract(data, FileKind.DOCX, LIMITS)
    assert result.text.startswith("Intro paragraph.\n\nSecond paragraph.")
    assert "Diameter | 3,474 km" in result.text
    assert result.title == "Word title"


def test_docx_zip_bomb_is_refused_before_inflating() -> None:
    data = files.zip_bomb_docx(8 * 1024 * 1024)
    assert len(data) < 100_000  # tiny on the wire, 8 MB unpacked
    limits = ExtractionLimits(max_chars=500_000, max_unpacked_bytes=4 * 1024 * 1024)
    with pytest.raises(ExtractionFailed, match=r"unpacks to \d+ bytes; at most 4194304"):
        extract(data, FileKind.DOCX, limits)


def test_truncated_docx_fails_readably() -> None:
    data = files.docx()
    assert detect_kind(data[:200]) is FileKind.DOCX
    with pytest.raises(ExtractionFailed, match="DOCX is damaged"):
        extract(data[:200], FileKind.DOCX, LIMITS)


def test_html_main_text_without_scripts_styles_or_navigation() -> None:
    data = files.HTML_PAGE.encode()
    assert detect_kind(data) is FileKind.HTML
    result = extract(data, FileKind.HTML, LIMITS)
    assert result.title == "The Moon | Encyclopedia"
    assert result.text.startswith("The Moon\n\nThe Moon is Earth's only natural satellite.")
    assert "Diameter 3,474 km" in result.text
    assert "See the tides for more." in result.text
    for clutter in ("tracking", "color", "About us", "banner", "Related", "Footer Corp"):
        assert clutter not in result.text


def test_megabytes_of_html_markup_are_bounded_by_the_text_limit() -> None:
    data = (
        "<html><body>" + "<div><p>word word word</p></div>" * 200_000 + "</body></html>"
    ).encode()
    assert len(data) > 5_000_000
    with pytest.raises(ExtractionFailed, match="MAX_DOCUMENT_CHARS"):
        extract(data, FileKind.HTML, ExtractionLimits(max_chars=100_000))


def test_markdown_becomes_plain_text() -> None:
    data = files.MARKDOWN_PAGE.encode()
    assert detect_kind(data, filename="moon.md") is FileKind.MARKDOWN
    assert detect_kind(data, declared_type="text/markdown; charset=utf-8") is FileKind.MARKDOWN
    text = extract(data, FileKind.MARKDOWN, LIMITS).text
    assert text.startswith("The Moon\n\nThe Moon is Earth's only natural satellite.")
    assert "See the tides for more." in text
    assert 'print("orbit")' in text
    assert "Diameter 3,474 km" in text
    for markup in ("#", "**", "](", "|---", "```", "https://"):
        assert markup not in text


@pytest.mark.parametrize(
    "encoded",
    [
        "Café, naïve façade — déjà vu.".encode(),
        "Café, naïve façade — déjà vu.".encode("utf-16"),
        "Café, naïve façade — déjà vu.".encode("utf-8-sig"),
        "Café, naïve façade, déjà vu. Über große Straßen.".encode("cp1252"),
        "Café, naïve façade, déjà vu. Über große Straßen.".encode("latin-1"),
    ],
)
def test_plain_text_in_common_encodings(encoded: bytes) -> None:
    assert detect_kind(encoded) is FileKind.TEXT
    text = extract(encoded, FileKind.TEXT, LIMITS).text
    assert text.startswith("Café, naïve façade")
    assert "déjà vu." in text


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"", "an empty file"),
        (files.png("GIF"), "image/gif"),  # images OCR reads are PNG, JPEG, TIFF, WebP
        (files.plain_zip(), "a ZIP archive"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "binary"),
    ],
)
def test_unsupported_types_are_named_with_the_supported_ones(data: bytes, named: str) -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        detect_kind(data, declared_type="text/plain", filename="notes.txt")
    message = str(caught.value)
    assert named.lower() in message.lower()
    assert "application/pdf" in message
    assert "text/markdown" in message


def test_the_bytes_decide_not_the_declared_type() -> None:
    assert detect_kind(files.pdf(), declared_type="text/plain", filename="a.txt") is FileKind.PDF


def test_decode_text_refuses_binary() -> None:
    with pytest.raises(ExtractionFailed, match="binary"):
        decode_text(b"abc\x00\x01\x02")


def _tidy_line_by_line(text: str) -> str:
    """What tidy means, written plainly: each line's whitespace collapsed, 3+ breaks to 2."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@pytest.mark.parametrize(
    ("text", "tidied"),
    [
        ("One line.\r\nNext line.\r\n", "One line.\nNext line."),  # PDFium's line breaks
        ("  a \t b\u00a0 c  \n\n\n\n d\u3000", "a b c\n\nd"),
        ("a\u2028b\x0cc", "a b c"),  # line separators and form feeds are spaces within a line
        ("Already tidy.\nTwo lines.", "Already tidy.\nTwo lines."),
        ("para one\n\npara two", "para one\n\npara two"),
        ("a\u200bb \ufffe", "a\u200bb \ufffe"),  # not whitespace: kept
    ],
)
def test_tidy_collapses_whitespace_within_lines_and_blank_lines(text: str, tidied: str) -> None:
    assert tidy(text) == tidied


def test_tidy_shortcut_for_text_already_tidy_agrees_with_the_line_by_line_rule() -> None:
    # Short strings of every kind of whitespace and a few letters: both of tidy's paths (the
    # shortcut returns text it finds tidy as it is) must agree with the plain rule.
    pieces = ["a", "é", " ", "  ", "\t", "\n", "\n\n", "\r", "\r\n", "\x0b", "\x85", "\xa0"]
    pieces += ["\u2028", "\u3000", "\x1c", "\u200b", "-"]
    draw = random.Random(25)
    for _ in range(20_000):
        text = "".join(draw.choice(pieces) for _ in range(draw.randint(0, 12)))
        assert tidy(text) == _tidy_line_by_line(text), repr(text)


def test_html_that_is_not_html_at_all_is_still_read_as_text() -> None:
    result = extract(b"just words, no markup", FileKind.HTML, LIMITS)
    assert result.text == "just words, no markup"


def test_a_docx_missing_its_document_part_fails_readably() -> None:
    import io
    import zipfile

    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(files.docx())) as source, zipfile.ZipFile(broken, "w") as out:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                out.writestr(item, source.read(item))
    with pytest.raises(ExtractionFailed, match="DOCX"):
        extract(broken.getvalue(), FileKind.DOCX, LIMITS)


def test_epub_chapters_in_reading_order_and_its_title() -> None:
    data = files.epub(["The first chapter.", "The second chapter."], title="Moon book")
    assert detect_kind(data, filename="x.zip") is FileKind.EPUB
    result = extract(data, FileKind.EPUB, LIMITS)
    assert result.text == ("Chapter 1\n\nThe first chapter.\n\nChapter 2\n\nThe second chapter.")
    assert result.title == "Moon book"


def test_truncated_epub_fails_readably() -> None:
    data = files.epub()
    with pytest.raises(ExtractionFailed, match="EPUB"):
        extract(data[: len(data) // 2], FileKind.EPUB, LIMITS)
