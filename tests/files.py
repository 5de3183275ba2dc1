"""Test files made by real writers (fpdf2 for PDFs, python-docx for DOCX, Pillow for images),
shared by the unit, API and end-to-end tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

PARAGRAPH = (
    "The Moon is Earth's only natural satellite. It formed about 4.5 billion years ago, "
    "probably from the debris of a collision between Earth and a Mars-sized body."
)


def pdf(
    pages: list[str] | None = None,
    *,
    title: str | None = None,
    user_password: str | None = None,
    image_only: bool = False,
) -> bytes:
    from fpdf import FPDF

    document = FPDF()
    if title:
        document.set_title(title)
    if user_password is not None:
        document.set_encryption(owner_password="owner-secret", user_password=user_password)
    document.set_font("helvetica", size=11)
    for text in pages or [PARAGRAPH]:
        document.add_page()
        if image_only:  # a "scanned" page: a picture, no text layer
            document.image(io.BytesIO(png()), x=10, y=10, w=100)
        else:
            document.multi_cell(w=0, text=text)
    return bytes(document.output())


def docx(paragraphs: list[str] | None = None, *, title: str | None = None) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    if title:
        document.core_properties.title = title
    for text in paragraphs or [PARAGRAPH]:
        document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Diameter"
    table.rows[0].cells[1].text = "3,474 km"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def epub(chapters: list[str] | None = None, *, title: str = "Lunar book") -> bytes:
    from ebooklib import epub as ebooklib_epub

    book = ebooklib_epub.EpubBook()
    book.set_identifier("urn:docsum:test")
    book.set_title(title)
    book.set_language("en")
    items = []
    for number, text in enumerate(chapters or [PARAGRAPH], start=1):
        chapter = ebooklib_epub.EpubHtml(
            title=f"Chapter {number}", file_name=f"chapter{number}.xhtml", lang="en"
        )
        chapter.content = f"<h1>Chapter {number}</h1><p>{text}</p>"
        book.add_item(chapter)
        items.append(chapter)
    book.toc = items
    book.add_item(ebooklib_epub.EpubNcx())
    book.add_item(ebooklib_epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    ebooklib_epub.write_epub(out, book)
    return out.getvalue()


def zip_bomb_docx(unpacked_bytes: int) -> bytes:
    """A real DOCX with one extra entry that inflates to `unpacked_bytes` of zeros."""
    out = io.BytesIO(docx())
    block = b"\0" * (1024 * 1024)
    with (
        zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/padding.bin", "w", force_zip64=True) as entry,
    ):
        for _ in range(unpacked_bytes // len(block)):
            entry.write(block)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", PARAGRAPH)
    return out.getvalue()


def png(kind: str = "PNG") -> bytes:
    """A small picture without text (a red square), as a PNG or any format Pillow writes."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, kind)
    return out.getvalue()


HTML_PAGE = f"""<!DOCTYPE html>
<html><head><title>The Moon | Encyclopedia</title>
<style>body {{ color: red }}</style><script>var tracking = "do not read";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<header>Site banner</header>
<main><h1>The Moon</h1><p>{PARAGRAPH}</p>
<table><tr><th>Diameter</th><td>3,474 km</td></tr></table>
<p>See <a href="https://example.org/tides">the tides</a> for more.</p></main>
<aside>Related: Mars</aside>
<footer>Copyright 2026 Footer Corp</footer>
</body></html>
"""

MARKDOWN_PAGE = f"""# The Moon

{PARAGRAPH}

| property | value |
|---|---|
| Diameter | 3,474 km |

See [the tides](https://example.org/tides) for **more**.

```python
print("orbit")
```
"""


def pdf_with_a_photo(text: str, side_pixels: int = 800) -> bytes:
    """A PDF that is large in bytes but short in text: one page of text, one of a noisy
    photo (random pixels do not compress)."""
    import os

    from fpdf import FPDF
    from PIL import Image

    photo = io.BytesIO()
    Image.frombytes("RGB", (side_pixels, side_pixels), os.urandom(side_pixels**2 * 3)).save(
        photo, "PNG"
    )
    document = FPDF()
    document.set_font("helvetica", size=11)
    document.add_page()
    document.multi_cell(w=0, text=text)
    document.add_page()
    document.image(photo, x=10, y=10, w=150)
    return bytes(document.output())


def page_image(text: str, *, dpi: int = 150, size: int = 14) -> Any:
    """A photo of a printed page, made for real: a text PDF (fpdf2) rendered by PDFium, cut to
    the part with text so OCR stays quick."""
    import pypdfium2 as pdfium
    from fpdf import FPDF

    document = FPDF()
    document.set_font("helvetica", size=size)
    document.add_page()
    document.multi_cell(w=0, text=text)
    bottom = document.get_y() + 8  # mm
    page = pdfium.PdfDocument(bytes(document.output()))[0]
    image = page.render(scale=dpi / 72).to_pil()
    return image.crop((0, 0, image.width, round(bottom / 25.4 * dpi)))


def image_file(texts: list[str], kind: str = "png", **page: Any) -> bytes:
    """Each text on a page image, saved as `kind` (a TIFF keeps them all as its pages)."""
    from PIL import Image

    images = [
        page_image(text, **page) if text else Image.new("RGB", (400, 300), "white")
        for text in texts
    ]
    out = io.BytesIO()
    images[0].save(out, kind.upper(), save_all=len(images) > 1, append_images=images[1:])
    return out.getvalue()


def scanned_pdf(pages: list[tuple[str, bool]]) -> bytes:
    """A PDF of pages given as (text, scanned): a scanned page is only a picture of its text."""
    from fpdf import FPDF

    document = FPDF()
    document.set_font("helvetica", size=11)
    for text, scanned in pages:
        document.add_page()
        if scanned:
            picture = io.BytesIO()
            page_image(text, dpi=150).save(picture, "PNG")
            document.image(picture, x=0, y=0, w=210)
        else:
            document.multi_cell(w=0, text=text)
    return bytes(document.output())


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG that declares `width` x `height` pixels (a decompression bomb's
    header: its size is known before a single pixel is inflated)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    pixels = zlib.compress(b"\0" * (width + 1) * 4)  # the first rows only: never inflated
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)


def pptx(slides: list[tuple[str, str, str | None]] | None = None, *, title: str = "") -> bytes:
    """A deck made by python-pptx: per slide (title, body text, speaker notes or None), plus a
    grouped text box and a table on the first slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    if title:
        deck.core_properties.title = title
    layout = deck.slide_layouts[1]  # "Title and Content"
    for number, (heading, body, notes) in enumerate(
        slides or [("The Moon", PARAGRAPH, "Mention the tides.")], start=1
    ):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
        if notes is not None:
            slide.notes_slide.notes_text_frame.text = notes
        if number == 1:
            group = slide.shapes.add_group_shape()
            group.shapes.add_textbox(Inches(1), Inches(5), Inches(3), Inches(1)).text = "Grouped"
            table = slide.shapes.add_table(1, 2, Inches(1), Inches(6), Inches(4), Inches(1)).table
            table.cell(0, 0).text = "Diameter"
            table.cell(0, 1).text = "3,474 km"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def odt(paragraphs: list[str] | None = None, *, title: str = "", heading: str = "") -> bytes:
    """An OpenDocument text made by odfpy: a heading, paragraphs (one with a footnote and
    repeated spaces) and the document title in meta.xml."""
    from odf import dc, teletype, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    if title:
        document.meta.addElement(dc.Title(text=title))
    if heading:
        document.text.addElement(text.H(outlinelevel=1, text=heading))
    for value in paragraphs or [PARAGRAPH]:
        paragraph = text.P()
        teletype.addTextToElement(paragraph, value)
        document.text.addElement(paragraph)
    noted = text.P(text="Tides follow the Moon.")
    note = text.Note(id="n1", noteclass="footnote")
    note.addElement(text.NoteCitation(text="1"))
    body = text.NoteBody()
    body.addElement(text.P(text="Mostly."))
    note.addElement(body)
    noted.addElement(note)
    document.text.addElement(noted)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def odp(slides: list[tuple[str, str, str | None]] | None = None, *, title: str = "") -> bytes:
    """An OpenDocument presentation made by odfpy: per slide a title frame, a text frame and
    speaker notes."""
    from odf import dc, draw, presentation, style, text
    from odf.namespaces import PRESENTATIONNS
    from odf.opendocument import OpenDocumentPresentation

    document = OpenDocumentPresentation()
    if title:
        document.meta.addElement(dc.Title(text=title))
    layout = style.PageLayout(name="Layout")
    document.automaticstyles.addElement(layout)
    master = style.MasterPage(name="Default", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    for number, (heading, body, notes) in enumerate(
        slides or [("The Moon", PARAGRAPH, "Mention the tides.")], start=1
    ):
        page = draw.Page(name=f"page{number}", masterpagename=master)
        document.presentation.addElement(page)
        for klass, value in (("title", heading), ("outline", body)):
            frame = draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm")
            frame.setAttrNS(PRESENTATIONNS, "class", klass)
            box = draw.TextBox()
            box.addElement(text.P(text=value))
            frame.addElement(box)
            page.addElement(frame)
        if notes is not None:
            notes_element = presentation.Notes()
            frame = draw.Frame(width="20cm", height="10cm", x="1cm", y="1cm")
            box = draw.TextBox()
            box.addElement(text.P(text=notes))
            frame.addElement(box)
            notes_element.addElement(frame)
            page.addElement(notes_element)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def rtf(paragraphs: list[str] | None = None, *, title: str = "") -> bytes:
    """RTF written by hand as Word writes it: a font table, an info group, `\\'hh` escapes in
    the ANSI code page and `\\uN` escapes for the rest."""

    def escape(value: str) -> str:
        out = []
        for char in value:
            if char in "\\{}":
                out.append("\\" + char)
            elif ord(char) < 128:
                out.append(char)
            elif char.encode("cp1252", "ignore"):
                out.append(f"\\'{char.encode('cp1252')[0]:02x}")
            else:
                out.append(f"\\u{ord(char)}?")
        return "".join(out)

    info = f"{{\\info{{\\title {escape(title)}}}{{\\author docsum}}}}" if title else ""
    body = "".join(f"\\pard {escape(p)}\\par\n" for p in paragraphs or [PARAGRAPH])
    document = (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0\n{\\fonttbl{\\f0\\fswiss\\fcharset0 Helvetica;}}\n"
        "{\\colortbl;\\red255\\green0\\blue0;}\n" + info + "\n\\f0\\fs24 " + body + "}"
    )
    return document.encode("ascii")


def eml(
    *,
    subject: str = "Moon notes",
    plain: str | None = PARAGRAPH,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """An e-mail made by the standard library's `email` package: a plain and/or HTML body and
    attachments given as (filename, media type, bytes)."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["From"] = "Ada <ada@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = subject
    message["Date"] = formatdate(0)
    message["Message-ID"] = make_msgid(domain="example.org")
    if plain is not None:
        message.set_content(plain)
    if html is not None:
        if plain is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for filename, media_type, data in attachments or []:
        maintype, subtype = media_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)
