"""OCR: page images → text, with Debian's Tesseract 5 run as a child process, one per page.

Why a child process (not rapidocr, not tesserocr): measured here, Tesseract read a rendered page
in ~0.6-1.5 s with ~80-120 MB, kept German/French/Spanish accents and found every word of a
noisy, rotated page; rapidocr-onnxruntime 1.4.4 took 13-30 s and ~900 MB per page and dropped
nearly every accent (its recognizer is Chinese + English). The process boundary also gives the
per-page time limit for free (the child is killed), and keeps a crash of the engine out of the
worker. Bounds: pages OCR'd, pixels per page, time per page and in total, each failure naming its
setting.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docsum.errors import DocsumError
from docsum.extraction import ExtractionFailed

if TYPE_CHECKING:
    from PIL import Image

NO_TEXT = "no text found in the document"


class OcrUnavailable(DocsumError):
    """The OCR engine or one of its languages is not installed: the deployment's fault, never the
    file's, so the worker retries it (then the DLQ) instead of failing the document."""

    reason = "OCR is not available"


@dataclass(frozen=True)
class OcrLimits:
    max_pages: int = 50
    max_pixels: int = 40_000_000  # an A4 page at 600 dpi is 35 MP; a 12 MP phone photo fits
    page_seconds: float = 60.0
    total_seconds: float = 300.0
    # The first language's model leads: with English first, Tesseract dropped the accents of
    # small letters (esta, aqui, revisö); accented languages first kept them, English unharmed.
    languages: str = "spa+fra+deu+eng"
    dpi: int = 200  # render resolution of a scanned PDF page: 300 dpi read no better here


@dataclass(frozen=True)
class PageText:
    """One page's text and how it was obtained (confidence: mean word confidence, 0-1)."""

    text: str
    ocr: bool = False
    confidence: float | None = None


class OcrClock:
    """The total OCR time of one document; each page gets the smaller of its own limit and what
    is left of the total, so no single page can overrun either."""

    def __init__(self, limits: OcrLimits) -> None:
        self.limits = limits
        self._ends = time.monotonic() + limits.total_seconds

    def page_timeout(self, page: int) -> tuple[float, str]:
        left = self._ends - time.monotonic()
        total = f"OCR took longer than its {self.limits.total_seconds:g} s limit"
        if left <= 0:
            raise ExtractionFailed(f"{total} (OCR_TIMEOUT_SECONDS), before page {page}")
        if left < self.limits.page_seconds:
            return left, f"{total} (OCR_TIMEOUT_SECONDS), at page {page}"
        return self.limits.page_seconds, (
            f"OCR of page {page} took longer than its {self.limits.page_seconds:g} s limit "
            "(OCR_PAGE_SECONDS)"
        )


def check_pixels(width: int, height: int, page: int, limits: OcrLimits) -> None:
    """Refuse a decompression bomb from its declared size, before a pixel is decoded."""
    if width * height > limits.max_pixels:
        raise ExtractionFailed(
            f"page {page} is {width}x{height} pixels; at most {limits.max_pixels} pixels per "
            "page are OCR'd (MAX_IMAGE_PIXELS)"
        )


def check_page_count(pages: int, limits: OcrLimits, what: str) -> None:
    if pages > limits.max_pages:
        raise ExtractionFailed(
            f"{what} {pages} pages to OCR; at most {limits.max_pages} are OCR'd (MAX_OCR_PAGES)"
        )


def recognize(image: Image.Image, page: int, clock: OcrClock) -> PageText:
    """The text Tesseract reads on one page image ('' when it finds none)."""
    command = shutil.which("tesseract")
    if command is None:
        raise OcrUnavailable("the tesseract command is not installed (see the Makefile's tools)")
    pgm = io.BytesIO()
    image.convert("L").save(pgm, "PPM")  # grayscale PGM: no compression work on either side
    timeout, over = clock.page_timeout(page)
    # One thread per page: OpenMP's threads fight the other work on a 2-core machine and in a
    # 1-vCPU Lambda, and made pages slower here, not faster.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    args = [command, "-", "-", "-l", clock.limits.languages, "--psm", "3", "tsv"]
    try:
        done = subprocess.run(
            args, input=pgm.getvalue(), capture_output=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as exc:
        raise ExtractionFailed(over) from exc
    errors = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        if "Failed loading language" in errors or "Could not initialize tesseract" in errors:
            raise OcrUnavailable(f"tesseract cannot load {clock.limits.languages}: {errors[-300:]}")
        raise ExtractionFailed(
            f"OCR of page {page} failed: {errors.strip()[-200:] or done.returncode}"
        )
    return read_tsv(done.stdout.decode(errors="replace"))


def read_tsv(tsv: str) -> PageText:
    """Tesseract's TSV → lines of words, a blank line between its paragraphs. Words with no
    letter or digit (specks read as punctuation) count as no text."""
    paragraphs: dict[tuple[str, str], dict[str, list[str]]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
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


@dataclass(frozen=True)
class Paged:
    """Pages joined into one text, with where each page begins and how the text was obtained."""

    text: str
    page_starts: tuple[int, ...]
    method: str  # "text" | "ocr" | "mixed"
    ocr_pages: int
    confidence: float | None


def join_pages(pages: Sequence[PageText]) -> Paged:
    """One text, a blank line between pages; page i begins at page_starts[i] (an empty page
    begins where the next text would). Each page's text must already be tidy."""
    text = ""
    starts: list[int] = []
    waiting = 0  # empty pages, which begin where the next text does
    for page in pages:
        if not page.text:
            waiting += 1
            continue
        if text:
            text += "\n\n"
        starts += [len(text)] * (waiting + 1)
        waiting = 0
        text += page.text
    starts += [len(text)] * waiting
    ocr = [page for page in pages if page.ocr]
    read = [page for page in pages if not page.ocr and page.text]
    method = "mixed" if ocr and read else "ocr" if ocr else "text"
    scored = [page.confidence for page in ocr if page.confidence is not None]
    confidence = round(sum(scored) / len(scored), 3) if scored else None
    return Paged(text, tuple(starts), method, len(ocr), confidence)
