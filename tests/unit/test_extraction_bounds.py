"""Hostile files: small inputs whose parse would take gigabytes or minutes end `failed` naming
the limit they hit, inside the sandbox, with the child's peak memory checked.

The bombs are made by the real libraries at a size that still proves the point; the limits are
scaled down with them (the production defaults and what they stop are in docs/security.md).
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from docsum.domain.document import Status
from docsum.domain.files import FileKind
from docsum.extract.dispatch import extract
from docsum.extract.kinds import UnsupportedFileType
from docsum.extract.limits import ExtractionFailed, ExtractionLimits
from docsum.extract.sandbox import SandboxFailed, SandboxLimits, Usage, extract_in_sandbox
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.outcomes import Outcome
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker

from tests import files
from tests.conftest import Fakes

MB = 1024 * 1024
LIMITS = ExtractionLimits(
    max_chars=500_000,
    max_markup_elements=20_000,
    max_html_depth=200,
    max_markdown_emphasis_marks=5_000,
)
UNBOUNDED = replace(
    LIMITS, max_markup_elements=10**9, max_html_depth=10**9, max_markdown_emphasis_marks=10**9
)
SANDBOX = SandboxLimits(memory_bytes=256 * MB, cpu_seconds=60, wall_seconds=120)
# What a refused bomb may cost the child beyond its baseline: the file's bytes and a chunk.
REFUSED_COST = 16 * MB


def failure(
    data: bytes,
    kind: FileKind,
    limits: ExtractionLimits = LIMITS,
    sandbox: SandboxLimits = SANDBOX,
    filename: str | None = None,
) -> SandboxFailed:
    with pytest.raises(SandboxFailed) as caught:
        extract_in_sandbox(data, limits, sandbox, expected=kind, filename=filename)
    return caught.value


def cost(usage: Usage | None) -> int:
    assert usage is not None, "the child reported its memory"
    return usage.peak_bytes - usage.baseline_bytes


def docx_of_empty_paragraphs(count: int) -> bytes:
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    section = document.element.body[-1]  # paragraphs go before the section properties
    for _ in range(count):
        section.addprevious(OxmlElement("w:p"))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def epub_with_one_chapter(body: str) -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("urn:docsum:bomb")
    book.set_title("One chapter")
    chapter = epub.EpubHtml(title="Only", file_name="only.xhtml")
    chapter.content = f"<html><body>{body}</body></html>"
    book.add_item(chapter)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = [chapter]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def nested_html(depth: int) -> bytes:
    return ("<html><body>" + "<div>" * depth + "deep").encode()


def test_a_docx_of_empty_paragraphs_fails_naming_the_element_limit() -> None:
    data = docx_of_empty_paragraphs(30_000)
    stopped = failure(data, FileKind.DOCX)
    assert "MAX_MARKUP_ELEMENTS is 20000" in str(stopped)
    assert cost(stopped.usage) < REFUSED_COST


def test_an_epub_with_one_huge_chapter_fails_naming_the_element_limit() -> None:
    data = epub_with_one_chapter("<p></p>" * 30_000)
    stopped = failure(data, FileKind.EPUB)
    assert "MAX_MARKUP_ELEMENTS is 20000" in str(stopped)
    assert cost(stopped.usage) < REFUSED_COST


def test_markdown_emphasis_runs_fail_naming_the_emphasis_limit() -> None:
    data = b"*a_" * 5_000
    stopped = failure(data, FileKind.MARKDOWN, filename="runs.md")
    assert "10000 emphasis marks" in str(stopped)
    assert "MAX_MARKDOWN_EMPHASIS_MARKS is 5000" in str(stopped)
    assert cost(stopped.usage) < REFUSED_COST


def test_deeply_nested_html_fails_naming_the_depth_limit() -> None:
    stopped = failure(nested_html(5_000), FileKind.HTML)
    assert "MAX_HTML_DEPTH is 200" in str(stopped)
    assert cost(stopped.usage) < REFUSED_COST


def test_the_depth_estimate_leaves_flat_pages_with_unclosed_paragraphs_alone() -> None:
    page = "<html><body><ul>" + "<li><p>Item text<br><img src=x.png>" * 3_000 + "</ul>"
    text = extract(page.encode(), FileKind.HTML, LIMITS).text
    assert text.count("Item text") == 3_000


def test_an_html_page_with_too_many_elements_fails_naming_the_limit() -> None:
    page = "<html><body>" + "<span>x</span>" * 25_000
    with pytest.raises(ExtractionFailed, match="MAX_MARKUP_ELEMENTS is 20000"):
        extract(page.encode(), FileKind.HTML, LIMITS)


# The backstop: with the parsers' own bounds lifted, the operating system stops the child.


def test_the_memory_limit_stops_a_parse_the_bounds_let_through() -> None:
    sandbox = replace(SANDBOX, memory_bytes=48 * MB)
    stopped = failure(b"*a_" * 60_000, FileKind.MARKDOWN, UNBOUNDED, sandbox, "runs.md")
    assert str(stopped) == "extraction stopped: memory limit 48 MB"
    assert cost(stopped.usage) < 48 * MB + REFUSED_COST


def test_the_cpu_limit_stops_a_quadratic_parse() -> None:
    sandbox = replace(SANDBOX, cpu_seconds=1)
    stopped = failure(nested_html(60_000), FileKind.HTML, UNBOUNDED, sandbox)
    assert str(stopped) == "extraction stopped: CPU time limit 1 s"


def test_the_wall_clock_limit_kills_a_slow_child() -> None:
    sandbox = replace(SANDBOX, wall_seconds=1.5)
    stopped = failure(nested_html(60_000), FileKind.HTML, UNBOUNDED, sandbox)
    assert str(stopped) == "extraction stopped: time limit 1.5 s"


def test_a_good_file_comes_back_whole_with_its_kind_title_and_memory() -> None:
    data = files.docx(["Intro paragraph.", "Second paragraph."], title="Word title")
    result = extract_in_sandbox(data, LIMITS, SANDBOX, expected=FileKind.DOCX)
    assert result.extracted == extract(data, FileKind.DOCX, LIMITS)
    assert 0 < result.usage.baseline_bytes <= result.usage.peak_bytes


def test_the_child_detects_the_kind_and_refuses_what_is_not_declared() -> None:
    markdown = b"# Title\n\nSome *emphasis* here."
    found = extract_in_sandbox(markdown, LIMITS, SANDBOX, filename="notes.md")
    assert found.extracted.kind is FileKind.MARKDOWN
    assert "is pdf, not the declared docx" in str(
        failure(files.pdf(), FileKind.DOCX, LIMITS, SANDBOX)
    )
    with pytest.raises(UnsupportedFileType, match="image/gif"):  # OCR reads PNG, not GIF
        extract_in_sandbox(files.png("GIF"), LIMITS, SANDBOX)


@pytest.mark.parametrize(
    ("data", "filename", "scaled", "reason"),
    [
        (
            docx_of_empty_paragraphs(30_000),
            "bomb.docx",
            {"max_markup_elements": 20_000},
            "MAX_MARKUP_ELEMENTS is 20000",
        ),
        (  # only the sandbox can stop this one: the parser's own bound is lifted
            b"*a_" * 60_000,
            "runs.md",
            {"max_markdown_emphasis_marks": 10**9, "extraction_memory_mb": 48},
            "extraction stopped: memory limit 48 MB",
        ),
        (  # OCR's bounds reach the child from the settings, each named
            files.image_file(["one", "two"], "tiff"),
            "two.tiff",
            {"max_ocr_pages": 1},
            "the image has 2 pages to OCR; at most 1 are OCR'd (MAX_OCR_PAGES)",
        ),
        (
            files.png(),
            "red.png",
            {"max_image_pixels": 3000},
            "page 1 is 64x64 pixels; at most 3000 pixels per page are OCR'd (MAX_IMAGE_PIXELS)",
        ),
    ],
)
def test_the_worker_extracts_in_the_sandbox_and_fails_a_bomb_naming_its_limit(
    fakes: Fakes,
    settings: Settings,
    data: bytes,
    filename: str,
    scaled: dict[str, int],
    reason: str,
) -> None:
    bounded = settings.model_copy(update=scaled)
    worker = SummarizeWorker(
        fakes.store,
        fakes.repository,
        fakes.queue,
        Summarizer(fakes.llm, ModelBudget.of(bounded)),
        WorkerPolicy.of(bounded),
        fakes.clock,
        fakes.metrics,
    )
    doc = fakes.service.submit_file(data, filename, None, Submission("r")).document
    body = fakes.queue.sent[-1].model_dump_json()
    assert worker.process(Delivery(body, 1, "rh"), lease_seconds=60) is Outcome.FAILED
    failed = fakes.repository.items[doc.id]
    assert failed.status is Status.FAILED
    assert reason in (failed.error or "")
    assert not fakes.queue.retries
    assert not fakes.llm.calls
