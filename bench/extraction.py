"""Extraction throughput: docsum's extractor next to the library it wraps, called directly on
the same bytes (goal: docsum keeps >= 0.9 of the library's throughput).

The files are written here by the same kinds of writers the tests use (fpdf2 for PDF,
python-docx for DOCX, plain markup for HTML). The direct side is the library's own text
extraction (pypdf page by page, python-docx paragraphs, the selectolax calls of the HTML path):
the ratio prices what docsum adds around it (type detection, decoding, bounds and deadline,
titles, tables, paragraph structure). Each round times both sides on every file, in
alternating order, and each side's fastest round is compared: on a shared machine the
minimum is the estimate least disturbed by other work (a median here swung 0.6-1.0).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
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


def direct_pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


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
    corpus: list[tuple[FileKind, bytes, Callable[[bytes], str], int | None]] = [
        (FileKind.PDF, pdf_file(pages), direct_pdf, pages),
        (FileKind.DOCX, docx_file(pages * 10), direct_docx, None),
        (FileKind.HTML, html_file(pages * 40), direct_html, None),
    ]
    results: dict[str, Any] = {"rounds": rounds, "formats": {}}
    for kind, data, direct, page_count in corpus:
        ours_text = extract(data, kind, limits).text  # warm: imports, caches
        direct(data)
        ours: list[float] = []
        theirs: list[float] = []
        for round_number in range(rounds):
            sides = [
                (ours, lambda d=data, k=kind: extract(d, k, limits)),
                (theirs, lambda d=data, f=direct: f(d)),
            ]
            if round_number % 2:
                sides.reverse()
            for times, action in sides:
                times.append(_timed(action))
        docsum_s, direct_s = min(ours), min(theirs)
        megabytes = len(data) / 1e6
        entry: dict[str, Any] = {
            "bytes": len(data),
            "chars": len(ours_text),
            "docsum_s": round(docsum_s, 4),
            "direct_s": round(direct_s, 4),
            "docsum_mb_per_s": round(megabytes / docsum_s, 2),
            "direct_mb_per_s": round(megabytes / direct_s, 2),
            # Throughput ratio: the library's time over ours (>= 0.9: at most ~10% overhead).
            "ratio": round(ratio(direct_s, docsum_s), 3),
        }
        if page_count:
            entry["docsum_pages_per_s"] = round(page_count / docsum_s, 1)
            entry["direct_pages_per_s"] = round(page_count / direct_s, 1)
        results["formats"][kind.value] = entry
        say(f"extraction {kind.value}: {entry}")
    return results


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
