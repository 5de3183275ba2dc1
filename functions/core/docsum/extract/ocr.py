"""OCR: page images → text with Tesseract 5.5, through tesserocr's wheel (which bundles Tesseract
and Leptonica: the same engine locally, in CI and in the Lambda; only the language data is a
separate install, TESSDATA_PREFIX).

Why Tesseract (docs/files.md#ocr-scans-and-photos has the figures): measured here it read a
rendered page in ~0.6-1.5 s with ~80-120 MB, kept German/French/Spanish accents and found every
word of a noisy, rotated page; rapidocr-onnxruntime 1.4.4 took 13-30 s and ~900 MB per page and
dropped nearly every accent (its recognizer is Chinese + English). Why in-process: the models
load once per document (~0.5-1 s for four languages) instead of once per page, Tesseract's own
timeout bounds each page, and the extraction sandbox's child process already bounds memory and
CPU and keeps a crash out of the worker. Bounds: pages OCR'd, pixels per page, time per page and
in total, each failure naming its setting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docsum.domain.files import FileKind
from docsum.extract.limits import Extracted, ExtractionFailed, ExtractionLimits
from docsum.platform.observability import logger

if TYPE_CHECKING:
    from PIL import Image

NO_TEXT = "no text found in the document"
PAGE_BREAK = "\n\n"  # between pages' texts: a paragraph break, as between paragraphs


class OcrUnavailable(ExtractionFailed):
    """The OCR engine or one of its languages is not installed here. Permanent like any other
    extraction failure: a missing binary does not come back within the retry window, and the
    document's reason says what is missing (the deployment's fault is logged as an error)."""


@dataclass(frozen=True)
class PageText:
    """One page's text and how it was obtained (confidence: mean word confidence, 0-1)."""

    text: str
    ocr: bool = False
    confidence: float | None = None


# Where Tesseract's language data is looked for when TESSDATA_PREFIX is not set: Debian's
# tesseract-ocr-LANG packages (local, CI) and the Lambda layer (template.yaml: OcrDataLayer).
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/opt/tessdata")


class Ocr:
    """One document's OCR: Tesseract is loaded on the first page and released at the end; each
    page gets the smaller of its own limit and what is left of the document's total."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self._ends = time.monotonic() + limits.ocr_timeout_seconds
        self._api: Any = None

    def __enter__(self) -> Ocr:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._api is not None:
            self._api.End()

    def read(self, image: Image.Image, page: int) -> PageText:
        """The text Tesseract reads on one page image ('' when it finds none)."""
        api = self._engine()
        timeout, over = self._page_timeout(page)
        api.SetImage(image.convert("L"))
        if not api.Recognize(timeout=max(1, int(timeout * 1000))):
            raise ExtractionFailed(over)
        return read_tsv(api.GetTSVText(0))

    def _page_timeout(self, page: int) -> tuple[float, str]:
        left = self._ends - time.monotonic()
        total = f"OCR took longer than its {self.limits.ocr_timeout_seconds:g} s limit"
        if left <= 0:
            raise ExtractionFailed(f"{total} (OCR_TIMEOUT_SECONDS), before page {page}")
        if left < self.limits.ocr_page_seconds:
            return left, f"{total} (OCR_TIMEOUT_SECONDS), at page {page}"
        return self.limits.ocr_page_seconds, (
            f"OCR of page {page} took longer than its {self.limits.ocr_page_seconds:g} s limit "
            "(OCR_PAGE_SECONDS)"
        )

    def _engine(self) -> Any:
        if self._api is not None:
            return self._api
        try:
            import tesserocr
        except ImportError as exc:
            logger.error("OCR unavailable: tesserocr is not installed")
            raise OcrUnavailable("OCR is not available here: tesserocr is not installed") from exc
        data = _tessdata_dir()
        try:
            self._api = tesserocr.PyTessBaseAPI(
                path=data, lang=self.limits.ocr_languages, psm=tesserocr.PSM.AUTO
            )
        except RuntimeError as exc:
            logger.error("OCR unavailable", extra={"tessdata": data, "error": str(exc)})
            raise OcrUnavailable(
                "OCR is not available here: Tesseract cannot load the languages "
                f"{self.limits.ocr_languages} (OCR_LANGUAGES) from {data}"
            ) from exc
        return self._api


def _tessdata_dir() -> str:
    configured = os.environ.get("TESSDATA_PREFIX")
    if configured:
        return configured
    found = (path for path in TESSDATA_DIRS if os.path.isdir(path))
    return next(found, TESSDATA_DIRS[0]) + "/"


def check_pixels(width: int, height: int, page: int, limits: ExtractionLimits) -> None:
    """Refuse a decompression bomb from its declared size, before a pixel is decoded."""
    if width * height > limits.max_image_pixels:
        raise ExtractionFailed(
            f"page {page} is {width}x{height} pixels; at most {limits.max_image_pixels} pixels per "
            "page are OCR'd (MAX_IMAGE_PIXELS)"
        )


def check_page_count(pages: int, limits: ExtractionLimits, what: str) -> None:
    if pages > limits.max_ocr_pages:
        raise ExtractionFailed(
            f"{what} {pages} pages to OCR; at most {limits.max_ocr_pages} are OCR'd (MAX_OCR_PAGES)"
        )


def read_tsv(tsv: str) -> PageText:
    """Tesseract's TSV → lines of words, a blank line between its paragraphs. Words with no
    letter or digit (specks read as punctuation) count as no text."""
    paragraphs: dict[tuple[str, str], dict[str, list[str]]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines():  # the command's header line, if any, is no word row
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        block, paragraph, line, word = cells[2], cells[3], cells[4], cells[11].strip()
        paragraphs.setdefault((block, paragraph), {}).setdefault(line, []).append(word)
        if any(ch.isalnum() for ch in word):
            confidences.append(max(float(cells[10]), 0.0))
    if not confidences:
        return PageText("", ocr=True)
    text = "\n\n".join(
        "\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values()
    )
    return PageText(text, ocr=True, confidence=round(sum(confidences) / len(confidences) / 100, 3))


def paged(pages: Sequence[PageText], kind: FileKind, title: str | None = None) -> Extracted:
    """One text, a blank line between pages; page i begins at page_starts[i] (an empty page
    begins where the next text does). Each page's text must already be tidy. No text at all on
    any page is a failure, never an empty summary."""
    texts: list[str] = []  # joined once at the end
    starts: list[int] = []
    end = 0  # where the next page's text begins
    waiting = 0  # empty pages, which begin where the next text does
    for page in pages:
        if not page.text:
            waiting += 1
            continue
        if texts:
            end += len(PAGE_BREAK)
        starts += [end] * (waiting + 1)
        waiting = 0
        texts.append(page.text)
        end += len(page.text)
    starts += [end] * waiting
    if not texts:
        raise ExtractionFailed(NO_TEXT)
    text = PAGE_BREAK.join(texts)
    ocr = [page for page in pages if page.ocr]
    read = [page for page in pages if not page.ocr and page.text]
    scored = [page.confidence for page in ocr if page.confidence is not None]
    return Extracted(
        text=text,
        kind=kind,
        title=title,
        pages=len(pages),
        page_starts=tuple(starts),
        method="mixed" if ocr and read else "ocr" if ocr else "text",
        ocr_pages=len(ocr),
        confidence=round(sum(scored) / len(scored), 3) if scored else None,
    )
