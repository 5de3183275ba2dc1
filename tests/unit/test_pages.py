"""Web pages by URL through the API and the worker (in-memory fakes, pages served by a real
HTTP server on loopback, fetched under the policy `make up` runs): 202 then 200 for the same
URL, refusals at submission, the page's main text and title, a re-summarize fetching the page
again, and each failure's stable reason on the document."""

from __future__ import annotations

from typing import Any

import pytest
from docsum.adapters.http_page import Urllib3PageGetter
from docsum.domain.document import Status
from docsum.extract.fetch import FetchLimits, PageFetcher
from docsum.push.callbacks import CallbackPolicy

from tests import files
from tests.conftest import Fakes
from tests.http_servers import Served
from tests.unit.page_stack import (
    LOCAL,
    PageStack,
    deliver,
    html_page,
    make_stack,
    site,
    summarized,
)
from tests.unit.test_api import assert_problem

__all__ = ["site"]  # a fixture: pytest finds it by name


@pytest.fixture
def stack(fakes: Fakes) -> PageStack:
    policy = CallbackPolicy.from_settings(LOCAL)
    limits = FetchLimits(max_bytes=1_000_000, timeout_seconds=5, max_redirects=3)
    return make_stack(fakes, lambda: PageFetcher(policy, Urllib3PageGetter(), limits))


def test_a_url_is_accepted_at_once_and_the_same_url_is_the_same_document(
    stack: PageStack, fakes: Fakes, site: tuple[str, Served]
) -> None:
    base, pages = site
    pages["/moon"] = html_page("The Moon", files.PARAGRAPH)
    first = stack.client.post("/documents", json={"url": f"{base}/moon"})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["source"]["url"] == f"{base}/moon"
    assert body["status"] == "queued"
    again = stack.client.post("/documents", json={"url": f"{base}/moon"})
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    other = stack.client.post("/documents", json={"url": f"{base}/moon", "length": "short"})
    assert other.status_code == 202
    assert other.json()["id"] != body["id"]
    form = stack.client.post("/documents", files={"url": (None, f"{base}/moon")})
    assert (form.status_code, form.json()["id"]) == (200, body["id"])  # the form field too
    assert len(fakes.queue.sent) == 2


def test_the_worker_summarizes_the_page_main_text_with_its_title(
    stack: PageStack, fakes: Fakes, site: tuple[str, Served]
) -> None:
    base, pages = site
    pages["/moon"] = html_page("The Moon | Encyclopedia", files.PARAGRAPH)
    document = summarized(stack, fakes, f"{base}/moon")
    assert document.status is Status.DONE, document.error
    assert document.title == "The Moon | Encyclopedia"
    assert fakes.store.get_text(document.text_key) == files.PARAGRAPH  # no navigation
    assert document.source is not None
    assert (document.source.kind, document.source.fetched_generation) == ("html", 1)
    assert files.PARAGRAPH in fakes.llm.calls[0].user


def test_a_given_title_wins_and_a_pdf_goes_through_the_pdf_path(
    stack: PageStack, fakes: Fakes, site: tuple[str, Served]
) -> None:
    base, pages = site
    pages["/report"] = (200, "application/pdf", files.pdf(["A report served as PDF."]))
    stack.client.post("/documents", json={"url": f"{base}/report", "title": "Mine"})
    request = fakes.queue.sent[-1]
    deliver(stack, request)
    document = fakes.repository.items[request.document_id]
    assert (document.status, document.title) == (Status.DONE, "Mine")
    assert document.source is not None
    assert document.source.kind == "pdf"
    assert document.source.pages == 1
    assert "A report served as PDF." in fakes.store.get_text(document.text_key)


def test_re_summarize_fetches_the_changed_page_as_a_new_generation(
    stack: PageStack, fakes: Fakes, site: tuple[str, Served]
) -> None:
    base, pages = site
    pages["/news"] = html_page("News", "Yesterday the tide was high.")
    stack.client.post("/documents", json={"url": f"{base}/news"})
    first = fakes.queue.sent[-1]
    deliver(stack, first)
    pages["/news"] = html_page("News", "Today the tide is low.")
    answer = stack.client.post(f"/documents/{first.document_id}/summarize")
    assert answer.status_code == 202
    second = fakes.queue.sent[-1]
    assert second.generation == 2
    deliver(stack, second)
    document = fakes.repository.items[first.document_id]
    assert document.status is Status.DONE
    assert fakes.store.get_text(document.text_key) == "Today the tide is low."
    assert "Today the tide is low." in fakes.llm.calls[-1].user
    assert document.source is not None
    assert document.source.fetched_generation == 2


def test_a_re_fetched_page_brings_its_new_title_and_a_given_title_is_kept(
    stack: PageStack, fakes: Fakes, site: tuple[str, Served]
) -> None:
    base, pages = site
    url = f"{base}/news"
    ids = [
        stack.client.post("/documents", json=body).json()["id"]
        for body in ({"url": url}, {"url": url, "title": "Mine", "length": "short"})
    ]
    days = ("Monday", "Tuesday", "Wednesday")
    for generation, title in enumerate((f"{day}'s news" for day in days), start=1):
        pages["/news"] = html_page(title, files.PARAGRAPH)
        for doc_id in ids:
            if generation > 1:
                assert stack.client.post(f"/documents/{doc_id}/summarize").status_code == 202
            request = [r for r in fakes.queue.sent if r.document_id == doc_id][-1]
            assert request.generation == generation
            deliver(stack, request)
        titles = [stack.client.get(f"/documents/{doc_id}").json()["title"] for doc_id in ids]
        assert titles == [title, "Mine"]
    for doc_id in ids:
        document = fakes.repository.items[doc_id]
        assert (document.status, document.summary_generation) == (Status.DONE, 3)


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (None, "page could not be fetched (HTTP 404)"),
        ((302, "text/html", b"http://169.254.169.254/latest/meta-data/"), "address not allowed"),
        ((200, "text/html", b"x" * 1_200_000), "page too large"),
        ((200, "image/gif", files.png("GIF")), "page type not supported (image/gif)"),
        ((200, "image/png", files.png()), "no readable text on the page"),  # OCR found none
        ((200, "text/html", b"<html><body><script>app()</script></body></html>"),
         "no readable text on the page"),
        ((200, "text/html", b""), "no readable text on the page"),
    ],
)  # fmt: skip
def test_failures_end_the_document_failed_with_a_stable_reason(
    stack: PageStack,
    fakes: Fakes,
    site: tuple[str, Served],
    served: tuple[int, str, bytes] | None,
    reason: str,
) -> None:
    base, pages = site
    if served is not None:
        pages["/page"] = served
    document = summarized(stack, fakes, f"{base}/page")
    assert (document.status, document.error) == (Status.FAILED, reason)
    assert not fakes.llm.calls


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "http://10.0.0.1/"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "https://example.org/", "text": "both"}, "body"),
        ({"title": "neither"}, "body"),
        ({"url": ""}, "url"),
    ],
)
def test_refused_urls_and_bodies_are_a_422_before_anything_is_stored(
    stack: PageStack, fakes: Fakes, body: dict[str, Any], field: str
) -> None:
    answer = stack.client.post("/documents", json=body)
    assert_problem(answer, 422, stack.client)
    assert field in answer.text
    assert not fakes.queue.sent


def test_a_form_with_a_file_and_a_url_is_a_422(stack: PageStack, fakes: Fakes) -> None:
    sent = {"file": ("a.txt", b"text", "text/plain"), "url": (None, "https://example.org/")}
    answer = stack.client.post("/documents", files=sent)
    assert_problem(answer, 422, stack.client)
    assert "url" in answer.text
    assert not fakes.queue.sent


def test_a_metadata_url_is_refused_naming_the_address_rule(stack: PageStack) -> None:
    answer = stack.client.post("/documents", json={"url": "http://169.254.169.254/latest/"})
    assert "address not allowed" in answer.json()["detail"]
