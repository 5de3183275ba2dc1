"""PowerPoint, OpenDocument, RTF and e-mail: each detected from its bytes and read on files made
by the real writers (python-pptx, odfpy, the `email` package; RTF as Word writes it), and each
way such a file can be bad: truncated, a bomb, too many parts, hostile XML, endless markup."""

from __future__ import annotations

import io
import zipfile

import pytest
from docsum.domain.files import FileKind
from docsum.extract import archive
from docsum.extract.dispatch import extract
from docsum.extract.kinds import UnsupportedFileType, detect_kind
from docsum.extract.limits import ExtractionFailed, ExtractionLimits

from tests import files

LIMITS = ExtractionLimits(max_chars=500_000)
DECK = [
    ("The Moon", "Earth's only natural satellite.", "Start with the tides."),
    ("Orbit", "27.3 days around the Earth.", None),
    ("Craters", "Mostly from impacts.", "End with Apollo."),
]


def test_pptx_titles_text_and_notes_in_slide_order() -> None:
    data = files.pptx(DECK, title="Lunar deck")
    assert detect_kind(data, filename="deck.bin") is FileKind.PPTX
    result = extract(data, FileKind.PPTX, LIMITS)
    assert result.title == "Lunar deck"
    assert result.pages == 3
    slides = result.text.split("\n\n")
    assert slides[0].splitlines() == [
        "Slide 1: The Moon",
        "Earth's only natural satellite.",
        "Grouped",  # a text box inside a group
        "Diameter | 3,474 km",  # a table row per line
        "Notes: Start with the tides.",
    ]
    assert slides[1] == "Slide 2: Orbit\n27.3 days around the Earth."
    assert slides[2] == "Slide 3: Craters\nMostly from impacts.\nNotes: End with Apollo."


def test_pptx_title_falls_back_to_the_first_slide_title() -> None:
    assert extract(files.pptx(DECK), FileKind.PPTX, LIMITS).title == "The Moon"


def test_pptx_of_empty_slides_has_no_text() -> None:
    from pptx import Presentation

    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])  # "Blank"
    out = io.BytesIO()
    deck.save(out)
    with pytest.raises(ExtractionFailed, match="PPTX contains no text"):
        extract(out.getvalue(), FileKind.PPTX, LIMITS)


def test_odt_headings_paragraphs_footnotes_and_meta_title() -> None:
    data = files.odt(["First  paragraph   with spaces.", "Second."], title="ODT", heading="Moon")
    assert detect_kind(data, filename="x.zip") is FileKind.ODT
    result = extract(data, FileKind.ODT, LIMITS)
    assert result.title == "ODT"
    assert result.text.split("\n\n") == [
        "Moon",
        "First paragraph with spaces.",
        "Second.",
        "Tides follow the Moon. Mostly.",  # the footnote's text, its number left out
    ]


def test_odp_slides_with_titles_and_notes_in_order() -> None:
    data = files.odp(DECK, title="Lunar slides")
    assert detect_kind(data) is FileKind.ODP
    result = extract(data, FileKind.ODP, LIMITS)
    assert result.title == "Lunar slides"
    assert result.pages == 3
    assert result.text.split("\n\n") == [
        "Slide 1: The Moon\nEarth's only natural satellite.\nNotes: Start with the tides.",
        "Slide 2: Orbit\n27.3 days around the Earth.",
        "Slide 3: Craters\nMostly from impacts.\nNotes: End with Apollo.",
    ]


def test_rtf_text_escapes_and_info_title() -> None:
    data = files.rtf(["Café {au} lait \\ 20 €.", "Zweite Straße: Ωmega."], title="Notes à moi")
    assert detect_kind(data, filename="notes.txt", declared_type="text/plain") is FileKind.RTF
    result = extract(data, FileKind.RTF, LIMITS)
    assert result.text == "Café {au} lait \\ 20 €.\nZweite Straße: Ωmega."
    assert result.title == "Notes à moi"
    for markup in ("Helvetica", "red255", "docsum", "\\"[:0] + "fs24"):
        assert markup not in result.text  # font table, colours, info group, control words


def test_rtf_on_one_long_line_reads_the_same_as_with_line_breaks() -> None:
    """striprtf's font-table and hyperlink regexes scan to the end of the line from every
    match: the reader cuts long lines before control words, which must not change the text."""
    from striprtf.striprtf import rtf_to_text

    body = "".join(f"\\f0 word{n} \\'e9\\b bold\\b0  " for n in range(2000))
    source = "{\\rtf1\\ansi{\\fonttbl{\\f0\\fcharset0 Arial;}}" + body + "\\par}"
    assert "\n" not in source
    text = extract(source.encode(), FileKind.RTF, LIMITS).text
    assert text == " ".join(rtf_to_text(source).split())
    assert text.startswith("word0 ébold word1 ébold")


def test_rtf_of_hundreds_of_thousands_of_font_switches_on_one_line_is_read() -> None:
    # On striprtf alone this is quadratic (20,000 switches took 20 s, this would take ~30 min).
    data = b"{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}}" + b"\\f0 x " * 300_000 + b"}"
    text = extract(data, FileKind.RTF, ExtractionLimits(max_chars=2_000_000)).text
    assert text.count("x") == 300_000


def test_truncated_rtf_fails_saying_so() -> None:
    data = files.rtf([files.PARAGRAPH] * 3)
    with pytest.raises(ExtractionFailed, match="RTF is truncated"):
        extract(data[: len(data) // 2], detect_kind(data[: len(data) // 2]), LIMITS)


def test_eml_subject_plain_body_and_supported_attachments_appended() -> None:
    data = files.eml(
        subject="Moon notes",
        plain="Plain body about the Moon.",
        html="<p>HTML body</p>",
        attachments=[
            ("report.pdf", "application/pdf", files.pdf(["The attached report."])),
            ("notes.docx", "application/octet-stream", files.docx(["Attached notes."])),
            ("photo.png", "image/png", files.png()),  # unsupported: left out
            ("broken.pdf", "application/pdf", b"%PDF-1.4 broken"),  # unreadable: left out
        ],
    )
    assert detect_kind(data, filename="mail.txt") is FileKind.EML
    result = extract(data, FileKind.EML, LIMITS)
    assert result.title == "Moon notes"
    blocks = result.text.split("\n\n")
    assert blocks[0] == "Plain body about the Moon."  # the plain part, not the HTML one
    assert blocks[1:4] == [
        "Attachment: report.pdf",
        "The attached report.",
        "Attachment: notes.docx",
    ]
    assert "Attached notes." in result.text
    for left_out in ("HTML body", "photo.png", "broken.pdf"):
        assert left_out not in result.text


def test_eml_with_only_an_html_body_reads_its_main_text() -> None:
    html = f"<html><body><nav>Inbox Settings</nav><main><p>{files.PARAGRAPH}</p></main></body>"
    result = extract(files.eml(plain=None, html=html), FileKind.EML, LIMITS)
    assert result.text == files.PARAGRAPH


def test_eml_attached_to_an_eml_is_not_opened() -> None:
    inner = files.eml(subject="Inner", plain="Inner body.")
    outer = files.eml(plain="Outer body.", attachments=[("fwd.eml", "text/plain", inner)])
    assert extract(outer, FileKind.EML, LIMITS).text == "Outer body."


def test_eml_with_a_wrong_charset_is_still_read() -> None:
    data = files.eml(plain="Grüße aus München.").replace(b'charset="utf-8"', b"charset=nonsense")
    assert "Grüße aus München." in extract(data, FileKind.EML, LIMITS).text


def test_eml_of_too_many_mime_parts_fails() -> None:
    parts = [(f"n{n}.txt", "text/plain", b"x") for n in range(600)]
    with pytest.raises(ExtractionFailed, match="MIME parts; at most 500"):
        extract(files.eml(attachments=parts), FileKind.EML, LIMITS)


@pytest.mark.parametrize(
    "text",
    [
        files.PARAGRAPH,
        "From: me\nSubject: a note\n\nnot a full mail header, so plain text",
        "Title: A Markdown front matter\nDate: today\n\n# Heading",
    ],
)
def test_text_that_is_no_email_stays_text(text: str) -> None:
    assert detect_kind(text.encode()) is FileKind.TEXT


@pytest.mark.parametrize(
    ("make", "kind", "what"),
    [
        (files.pptx, FileKind.PPTX, "PPTX"),
        (files.odt, FileKind.ODT, "ODT"),
        (files.odp, FileKind.ODP, "ODP"),
    ],
)
def test_truncated_packages_are_named_and_fail_readably(make, kind, what) -> None:  # type: ignore[no-untyped-def]
    data = make()
    cut = data[: len(data) // 2]
    assert detect_kind(cut) is kind  # named from the local headers left
    with pytest.raises(ExtractionFailed, match=f"the {what} is damaged"):
        extract(cut, kind, LIMITS)


@pytest.mark.parametrize(
    ("make", "kind", "what", "part"),
    [
        (files.docx, FileKind.DOCX, "DOCX", "word/document.xml"),
        (files.pptx, FileKind.PPTX, "PPTX", "ppt/slides/slide1.xml"),
        (files.odt, FileKind.ODT, "ODT", "content.xml"),
    ],
)
def test_a_package_whose_part_does_not_inflate_fails_as_damaged(make, kind, what, part) -> None:  # type: ignore[no-untyped-def]
    # The directory is whole (sizes, names): only the part's deflate stream is broken, which
    # the reader itself meets (small packages are not inflated ahead of it).
    data = bytearray(make())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as package:
        info = package.getinfo(part)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + info.compress_size] = bytes([0xFF]) * info.compress_size
    assert detect_kind(bytes(data)) is kind
    with pytest.raises(ExtractionFailed, match=f"the {what} is damaged"):
        extract(bytes(data), kind, LIMITS)


@pytest.mark.parametrize(
    ("make", "kind", "what"),
    [
        (files.pptx, FileKind.PPTX, "PPTX"),
        (files.odt, FileKind.ODT, "ODT"),
        (files.odp, FileKind.ODP, "ODP"),
    ],
)
def test_zip_bombs_are_refused_before_inflating(make, kind, what) -> None:  # type: ignore[no-untyped-def]
    data = _with_member(make(), "padding.bin", 8 * 1024 * 1024)
    assert len(data) < 100_000  # small on the wire, 8 MB unpacked
    limits = ExtractionLimits(max_chars=500_000, max_unpacked_bytes=4 * 1024 * 1024)
    assert detect_kind(data) is kind
    with pytest.raises(ExtractionFailed, match=f"the {what} unpacks to \\d+ bytes; at most"):
        extract(data, kind, limits)


def test_packages_of_too_many_parts_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_PARTS", 50)
    out = io.BytesIO(files.odt())
    with zipfile.ZipFile(out, "a") as package:
        for n in range(60):
            package.writestr(f"Pictures/{n}.png", b"")
    with pytest.raises(ExtractionFailed, match=r"the ODT has \d+ parts; at most 50"):
        extract(out.getvalue(), FileKind.ODT, LIMITS)
    with pytest.raises(ExtractionFailed, match=r"the DOCX has \d+ parts; at most 50"):
        extract(_with_members(files.docx(), 60), FileKind.DOCX, LIMITS)


def test_odt_with_entity_expansion_is_refused() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        b' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
        b"<text:p>&b;</text:p></office:text></office:body></office:document-content>"
    )
    with pytest.raises(ExtractionFailed, match=r"ODT is damaged: content\.xml"):
        extract(_replace_member(files.odt(), "content.xml", laughs), FileKind.ODT, LIMITS)


def test_odt_of_endless_empty_paragraphs_stops_at_the_deadline() -> None:
    body = b"<text:p/>" * 300_000
    content = (
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        b' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
        + body
        + b"</office:text></office:body></office:document-content>"
    )
    data = _replace_member(files.odt(), "content.xml", content)
    with pytest.raises(ExtractionFailed, match="longer than its 0 s limit"):
        extract(data, FileKind.ODT, ExtractionLimits(max_chars=500_000, deadline_seconds=0))


def test_a_zip_of_none_of_these_is_still_refused() -> None:
    with pytest.raises(UnsupportedFileType, match="a ZIP archive"):
        detect_kind(files.plain_zip())


def _with_member(data: bytes, name: str, unpacked_bytes: int) -> bytes:
    out = io.BytesIO(data)
    block = b"\0" * (1024 * 1024)
    with (
        zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as package,
        package.open(name, "w", force_zip64=True) as entry,
    ):
        for _ in range(unpacked_bytes // len(block)):
            entry.write(block)
    return out.getvalue()


def _with_members(data: bytes, count: int) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as package:
        for n in range(count):
            package.writestr(f"extra/{n}.bin", b"")
    return out.getvalue()


def _replace_member(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, content if info.filename == name else source.read(info))
    return out.getvalue()
