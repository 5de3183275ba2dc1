"""The API and the summarize worker on the in-memory fakes, getting web pages from a given
`PageSource`, and a real HTTP server on loopback to serve the pages: what the URL tests
(test_pages, test_page_relay) share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from docsum.domain.document import Document
from docsum.domain.messages import SummarizeRequest
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.ports.pages import PageSource
from docsum.push.callbacks import CallbackPolicy
from docsum.summary.budget import ModelBudget
from docsum.summary.summarizer import Summarizer
from docsum.worker.policy import WorkerPolicy
from docsum.worker.summarize import SummarizeWorker
from docsum_api.app import ApiSettings, create_app
from fastapi.testclient import TestClient

from tests.conftest import Fakes
from tests.fakes import longest_jitter
from tests.http_servers import Served, serving_pages


@pytest.fixture
def site() -> Iterator[tuple[str, Served]]:
    served: Served = {}
    with serving_pages(served) as base:
        yield base, served


LOCAL = Settings(api_token=None, callback_allow_loopback_http=True, max_receive_count=3)


@dataclass
class PageStack:
    service: DocumentService
    worker: SummarizeWorker
    client: TestClient


def make_stack(
    fakes: Fakes, pages: Callable[[], PageSource], settings: Settings = LOCAL
) -> PageStack:
    """The API and the worker on `fakes`, the worker getting pages from `pages`."""
    policy = CallbackPolicy.from_settings(settings)
    service = DocumentService(
        fakes.store,
        fakes.repository,
        fakes.queue,
        IntakeLimits.of(settings),
        fakes.clock,
        fakes.metrics,
        callbacks=policy,
    )
    worker = SummarizeWorker(
        fakes.store,
        fakes.repository,
        fakes.queue,
        Summarizer(fakes.llm, ModelBudget.of(settings)),
        WorkerPolicy.of(settings),
        fakes.clock,
        fakes.metrics,
        longest_jitter,
        pages=pages,
    )
    client = TestClient(
        create_app(ApiSettings.of(settings), service), raise_server_exceptions=False
    )
    return PageStack(service, worker, client)


def deliver(stack: PageStack, request: SummarizeRequest) -> None:
    delivery = Delivery(body=request.model_dump_json(), receive_count=1, receipt_handle="rh")
    stack.worker.process(delivery, lease_seconds=60)


def summarized(stack: PageStack, fakes: Fakes, url: str) -> Document:
    """`url` submitted and its message delivered once: the document as that left it."""
    stack.client.post("/documents", json={"url": url})
    request = fakes.queue.sent[-1]
    deliver(stack, request)
    return fakes.repository.items[request.document_id]


def html_page(title: str, text: str) -> tuple[int, str, bytes]:
    html = f"<html><head><title>{title}</title></head><body><nav>Home</nav><p>{text}</p></body>"
    return 200, "text/html; charset=utf-8", html.encode()
