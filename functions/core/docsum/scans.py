"""Page-aware reading of PDFs and images: a PDF page's text layer where it has one, OCR for a
page that is only a picture, OCR for every page of an image (PNG, JPEG, WebP, multi-page TIFF).

pypdfium2 reads the text layer: measured here it was 4x (fpdf2 files) to 13x (real manuals)
faster than pypdf, with the same words, and it joins words hyphenated across lines.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from docsum.extraction import ExtractionFailed
from docsum.ocr import (
    NO_TEXT,
    OcrClock,
    OcrLimits,
    Paged,
    PageText,
    check_page_count,
    check_pixels,
    join_pages,
    recognize,
)

if TYPE_CHECKING:
    from PIL import Image

# A page with fewer letters and digits than this in its text layer, and a picture on it, is
# read by OCR (a scan with a stray page number or a scanner's stamp has a few).
MIN_TEXT_LAYER_CHARS = 16
_PDFIUM_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
# PDFium marks a hyphen it added at a line break with U+FFFE: the word continues on the next line.
_SOFT_HYPHEN_BREAK = re.compile("\ufffe\r?\n")


def tidy(text: str) -> str:
    """Spaces collapsed within lines, at most one blank line between paragraphs."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def pdf_pages(
    data: bytes,
    *,
    max_pages: int,
    limits: OcrLimits,
    check_time: Callable[[str], None],
) -> tuple[Paged, str | None]:
    """(the PDF's pages, its title). `check_time` is the extraction deadline's check."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
            raise ExtractionFailed(
                "the PDF is password-protected; remove the password and retry"
            ) from exc
        raise ExtractionFailed(f"the PDF is damaged or truncated: {exc}") from exc
    try:
        count = len(document)
        if count > max_pages:
            raise ExtractionFailed(f"the PDF has {count} pages; at most {max_pages} are accepted")
        title = _title(document)
        pages: list[PageText | None] = []  # None: to OCR
        for number in range(count):
            check_time(f"PDF of {count} pages")
            page = document[number]
            text = page_text(page)
            if _letters(text) < MIN_TEXT_LAYER_CHARS and _has_picture(page, pdfium_c):
                pages.append(None)
            else:
                pages.append(PageText(text))
            page.close()
        to_ocr = [number for number, page in enumerate(pages) if page is None]
        check_page_count(len(to_ocr), limits, "the PDF has")
        clock = OcrClock(limits)
        for number in to_ocr:
            page = document[number]
            pages[number] = recognize(_render(page, number + 1, limits), number + 1, clock)
            page.close()
    finally:
        document.close()
    return _joined([page for page in pages if page is not None]), title


def page_text(page: Any) -> str:
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
    finally:
        textpage.close()
    return tidy(_SOFT_HYPHEN_BREAK.sub("", raw).replace("\ufffe", "-"))


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _has_picture(page: Any, pdfium_c: Any) -> bool:
    return next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])), None) is not None


def _render(page: Any, number: int, limits: OcrLimits) -> Image.Image:
    """The page as a grayscale image at `limits.dpi`, scaled down to fit the pixel limit (the
    renderer is ours: a huge page size costs resolution, not memory)."""
    width, height = page.get_size()  # points: 1/72 inch
    scale = limits.dpi / 72
    if width * height * scale * scale > limits.max_pixels:
        scale = (limits.max_pixels / (width * height)) ** 0.5 * 0.999  # rounding room
    check_pixels(round(width * scale), round(height * scale), number, limits)
    image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
    return image


def _title(document: Any) -> str | None:
    try:
        title = document.get_metadata_dict().get("Title")
        return str(title) if title else None
    except Exception:  # a damaged info dictionary must not cost the text
        return None


IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "webp": "WEBP"}


def image_pages(data: bytes, kind: str, limits: OcrLimits) -> Paged:
    """Every page (frame) of an image, OCR'd."""
    clock = OcrClock(limits)
    pages = [recognize(image, number, clock) for number, image in _frames(data, kind, limits)]
    return _joined(pages)


def _frames(data: bytes, kind: str, limits: OcrLimits) -> Iterator[tuple[int, Image.Image]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow's own guard refuses an image over twice this; the explicit check below refuses
    # anything over it, naming the setting, from the size in the header.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    what = kind.upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[kind]])
    except Image.DecompressionBombError as exc:
        raise ExtractionFailed(
            f"the image has more than {limits.max_pixels} pixels per page (MAX_IMAGE_PIXELS)"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ExtractionFailed(f"the {what} image is damaged or truncated: {exc}") from exc
    # A phone's JPEG may carry a second, preview frame (MPO): only the photo is the document.
    frames = 1 if kind == "jpeg" else getattr(image, "n_frames", 1)
    check_page_count(frames, limits, "the image has")
    for number in range(1, frames + 1):
        try:
            image.seek(number - 1)
            check_pixels(*image.size, number, limits)
            # Phones store a photo sideways plus an orientation tag: turn it upright.
            upright = ImageOps.exif_transpose(image)
            upright.load()
        except ExtractionFailed:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ExtractionFailed(f"the {what} image is damaged or truncated: {exc}") from exc
        yield number, upright


def _joined(pages: list[PageText]) -> Paged:
    paged = join_pages(pages)
    if not paged.text:
        raise ExtractionFailed(NO_TEXT)
    return paged
