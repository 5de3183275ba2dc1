"""Extraction throughput: docsum's extractor next to the library it wraps, called directly on
the same bytes (goal: docsum keeps >= 0.9 of the library's throughput).

The files are written here by the same kinds of writers the tests use (fpdf2 for PDF,
python-docx for DOCX, plain markup for HTML; scans are text pages rendered by PDFium). The
direct side is the library's own text extraction (for PDF the fastest of pypdf and pypdfium2,
both measured; python-docx paragraphs; the selectolax calls of the HTML path; for OCR the
Tesseract engine (tesserocr) on the same page images, with the same options): the ratio prices what
docsum adds around it (type detection, decoding, bounds and deadline, titles, tables, paragraph
structure, the page map). Each round times both sides on every file, in alternating order, and
each side's fastest round is compared: on a shared machine the minimum is the estimate least
disturbed by other work (a median here swung 0.6-1.0).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from docsum.domain.files import FileKind
from docsum.extract.dispatch import extract
from docsum.extract.html import HTML_CLUTTER, INLINE_TAGS
from docsum.extract.limits import ExtractionLimits

from bench.stats import ratio

PARAGRAPH = (
    "The committee reviewed the quarterly figures and approved the budget for the coming "
    "year. Spending on infrastructure rises while travel costs fall; the reserve stays level. "
)


def pdf_file(pages: int) -> bytes:
    from fpdf import FPDF

    document = FPDF()
    document.set_font("helvetica", size=10)
    for number in range(pages):
        document.add_page()
        document.multi_cell(w=0, text=f"Page {number + 1}. " + PARAGRAPH * 12)
    return bytes(document.output())


def docx_file(paragraphs: int) -> bytes:
    import docx

    document = docx.Document()
    for number in range(paragraphs):
        document.add_paragraph(f"{number + 1}. " + PARAGRAPH)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_file(sections: int) -> bytes:
    body = "".join(
        f"<section><h2>Part {n}</h2><p>{PARAGRAPH}</p><ul><li>one</li><li>two</li></ul></section>"
        for n in range(sections)
    )
    page = (
        "<!DOCTYPE html><html><head><title>Report</title><script>var x = 1;</script></head>"
        f"<body><nav><a href='/'>Home</a></nav><main>{body}</main><footer>f</footer></body></html>"
    )
    return page.encode()


def direct_pypdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


def direct_pdfium(data: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    texts = []
    for page in document:
        textpage = page.get_textpage()
        texts.append(textpage.get_text_range())
        textpage.close()
        page.close()
    document.close()
    return "\n\n".join(texts)


def scanned_tiff(pages: int) -> bytes:
    """Pages of text as a scanner delivers them: fpdf2 writes each, PDFium renders it at
    200 dpi, Pillow stores the pictures as one multi-page TIFF."""
    import pypdfium2 as pdfium
    from fpdf import FPDF

    images = []
    for number in range(pages):
        document = FPDF()
        document.set_font("helvetica", size=11)
        document.add_page()
        document.multi_cell(w=0, text=f"Page {number + 1}. " + PARAGRAPH * 8)
        page = pdfium.PdfDocument(bytes(document.output()))[0]
        images.append(page.render(scale=200 / 72, grayscale=True).to_pil())
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=images[1:], compression="tiff_lzw")
    return out.getvalue()


def direct_tesseract(data: bytes) -> str:
    """The OCR engine alone on every page: Pillow decodes the frame, Tesseract (tesserocr's API,
    loaded once per document as docsum does) reads it with docsum's options, so the ratio prices
    docsum's own work, not a different engine setting."""
    import tesserocr
    from docsum.extract.ocr import TESSDATA_DIRS
    from PIL import Image, ImageSequence

    texts = []
    languages = ExtractionLimits(1).ocr_languages
    with tesserocr.PyTessBaseAPI(
        path=TESSDATA_DIRS[0] + "/", lang=languages, psm=tesserocr.PSM.AUTO
    ) as api:
        for frame in ImageSequence.Iterator(Image.open(io.BytesIO(data))):
            api.SetImage(frame.convert("L"))
            api.Recognize()
            texts.append(api.GetTSVText(0))
    return "\n\n".join(texts)


def direct_docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    texts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:  # docsum reads tables too
        texts.extend(" | ".join(cell.text for cell in row.cells) for row in table.rows)
    return "\n\n".join(texts)


def direct_html(data: bytes) -> str:
    """The selectolax calls docsum's HTML extraction is made of, with the same clutter and
    inline lists, called directly: the ratio prices what docsum adds around them (decoding,
    choosing the main element, the title, table rows, paragraph marks)."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(data.decode())
    for node in tree.css(HTML_CLUTTER):
        node.decompose()
    main = tree.css_first("main")
    if main is None:
        return ""
    main.unwrap_tags(INLINE_TAGS)
    main.merge_text_nodes()
    return " ".join(main.text(deep=True, separator="\n").split())


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_extraction(rounds: int, say: Callable[[str], None]) -> dict[str, Any]:
    limits = ExtractionLimits(max_chars=5_000_000, deadline_seconds=600)
    pages = 60 if rounds > 3 else 20
    scans = 3 if rounds > 3 else 2
    Direct = Callable[[bytes], str]
    corpus: list[tuple[str, FileKind, bytes, dict[str, Direct], int | None, int]] = [
        ("pdf", FileKind.PDF, pdf_file(pages), _PDF_LIBRARIES, pages, rounds),
        ("docx", FileKind.DOCX, docx_file(pages * 10), {"python-docx": direct_docx}, None, rounds),
        ("html", FileKind.HTML, html_file(pages * 40), {"selectolax": direct_html}, None, rounds),
        # OCR is ~1 s a page: fewer rounds, still both sides in alternating order.
        ("ocr tiff", FileKind.TIFF, scanned_tiff(scans), _OCR, scans, min(rounds, 3)),
    ]
    results: dict[str, Any] = {"rounds": rounds, "formats": {}}
    for name, kind, data, libraries, page_count, runs in corpus:
        ours_text = extract(data, kind, limits).text  # warm: imports, caches
        ours: list[float] = []
        theirs: dict[str, list[float]] = {library: [] for library in libraries}
        for round_number in range(runs):
            sides: list[tuple[list[float], Callable[[], object]]] = [
                (ours, partial(extract, data, kind, limits))
            ]
            sides += [(theirs[lib], partial(f, data)) for lib, f in libraries.items()]
            if round_number % 2:
                sides.reverse()
            for times, action in sides:
                times.append(_timed(action))
        docsum_s = min(ours)
        fastest = min(theirs, key=lambda library: min(theirs[library]))
        direct_s = min(theirs[fastest])
        megabytes = len(data) / 1e6
        entry: dict[str, Any] = {
            "bytes": len(data),
            "chars": len(ours_text),
            "library": fastest,
            "libraries_s": {library: round(min(times), 4) for library, times in theirs.items()},
            "docsum_s": round(docsum_s, 4),
            "direct_s": round(direct_s, 4),
            "docsum_mb_per_s": round(megabytes / docsum_s, 2),
            "direct_mb_per_s": round(megabytes / direct_s, 2),
            # Throughput ratio: the library's time over ours (>= 0.9: at most ~10% overhead).
            "ratio": round(ratio(direct_s, docsum_s), 3),
        }
        if page_count:
            entry["docsum_pages_per_s"] = round(page_count / docsum_s, 2)
            entry["direct_pages_per_s"] = round(page_count / direct_s, 2)
        results["formats"][name] = entry
        say(f"extraction {name}: {entry}")
    return results


_PDF_LIBRARIES: dict[str, Callable[[bytes], str]] = {
    "pypdf": direct_pypdf,
    "pypdfium2": direct_pdfium,
}
_OCR: dict[str, Callable[[bytes], str]] = {"tesseract": direct_tesseract}


def bench_page(rounds: int, say: Callable[[str], None]) -> dict[str, Any]:
    """A web page by URL as the worker reads it — the policy check, the pinned-address GET with
    its caps, type detection and the HTML main-text extraction — next to a plain HTTP GET of
    the same page (urllib3, no checks, no extraction), from a server on loopback: what the
    fetch policy and the extraction add to downloading the page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import urllib3
    from docsum.adapters.http_page import Urllib3PageGetter
    from docsum.extract.fetch import FetchLimits, PageFetcher
    from docsum.extract.kinds import detect_kind
    from docsum.push.callbacks import CallbackPolicy

    page = html_file(400)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report.html"
    fetcher = PageFetcher(
        CallbackPolicy(allow_loopback_http=True),  # as under `make up`
        Urllib3PageGetter(),
        FetchLimits(max_bytes=10_000_000, timeout_seconds=60, max_redirects=5),
    )
    limits = ExtractionLimits(max_chars=5_000_000, deadline_seconds=600)
    plain = urllib3.PoolManager()

    def ours() -> str:
        fetched = fetcher.fetch(url)
        kind = detect_kind(fetched.data, declared_type=fetched.media_type)
        return extract(fetched.data, kind, limits).text

    def get() -> bytes:
        return plain.request("GET", url, retries=False).data

    try:
        chars = len(ours())
        get()
        docsum_times: list[float] = []
        get_times: list[float] = []
        for round_number in range(rounds):
            sides: list[tuple[list[float], Callable[[], object]]] = [
                (docsum_times, ours),
                (get_times, get),
            ]
            if round_number % 2:
                sides.reverse()
            for times, action in sides:
                times.append(_timed(action))
    finally:
        server.shutdown()
        server.server_close()
    entry = {
        "bytes": len(page),
        "chars": chars,
        "docsum_s": round(min(docsum_times), 4),
        "get_s": round(min(get_times), 4),
        # How much of the worker's time is the download itself (the rest: policy + extraction).
        "ratio": round(ratio(min(get_times), min(docsum_times)), 3),
    }
    say(f"page by URL: {entry}")
    return entry
