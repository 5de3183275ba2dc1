"""Web pages through the fetch function (the summarize function in a VPC without a NAT
gateway): the worker's `LambdaPageSource` invokes the real fetch handler — through the
in-process twin of Lambda's synchronous invoke — which fetches the page from a loopback server
under the policy and leaves its bytes in (moto) S3; the document's text comes through, every
page failure keeps its stable reason, and a failed invoke is retried, never `failed`."""

from __future__ import annotations

import importlib
import io
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from docsum.adapters.lambda_page import LambdaPageSource
from docsum.adapters.s3 import S3TextStore
from docsum.domain.document import Status
from docsum.domain.errors import PageFetchUnavailable
from docsum.extract.fetch import PAGE_TOO_LARGE, PageFetcher, PageFetchFailed
from docsum.extract.page_relay import PageRelay
from docsum.platform.delivery import RetryLater
from docsum.platform.settings import Settings, get_settings
from docsum.ports.pages import Page
from docsum.wiring import AwsClients, page_source
from pydantic import ValidationError

from infra.bootstrap import LocalResources
from infra.local.lambda_invoke import InProcessLambda
from infra.template import load_template
from tests import files
from tests.conftest import Fakes
from tests.fakes import InMemoryTextStore
from tests.http_servers import Served
from tests.unit.page_stack import PageStack, deliver, html_page, make_stack, site, summarized

FUNCTION = "docsum-fetch"


__all__ = ["site"]  # a fixture: pytest finds it by name


@pytest.fixture
def fetch_handler(aws_env: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The fetch function's real handler, imported as a cold start would, in the environment
    `make up` gives functions (loopback pages allowed)."""
    monkeypatch.setenv("CALLBACK_ALLOW_LOOPBACK_HTTP", "true")
    get_settings.cache_clear()
    yield importlib.reload(importlib.import_module("fetch_handler"))
    get_settings.cache_clear()


@pytest.fixture
def lambda_twin(fetch_handler: ModuleType) -> InProcessLambda:
    spec = load_template().function("FetchFunction")
    return InProcessLambda({FUNCTION: fetch_handler.handler}, spec)


def _page_objects(bucket: str) -> list[dict[str, Any]]:
    listed = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix="pages/")
    return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]


@pytest.fixture
def remote(fakes: Fakes, lambda_twin: InProcessLambda, aws_env: LocalResources) -> PageStack:
    """The API and the worker on fakes; the worker's pages come through the fetch function."""
    store = S3TextStore(boto3.client("s3"), aws_env.bucket)
    return make_stack(fakes, lambda: LambdaPageSource(lambda_twin, FUNCTION, store, 1_000_000))


def test_the_page_comes_through_the_fetch_function_and_is_summarized(
    remote: PageStack,
    fakes: Fakes,
    site: tuple[str, Served],
    lambda_twin: InProcessLambda,
    aws_env: LocalResources,
) -> None:
    base, pages = site
    pages["/moon"] = html_page("The Moon | Encyclopedia", files.PARAGRAPH)
    pages["/old"] = (301, "text/html", b"/moon")
    document = summarized(remote, fakes, f"{base}/old")
    assert document.status is Status.DONE, document.error
    assert document.title == "The Moon | Encyclopedia"
    assert fakes.store.get_text(document.text_key) == files.PARAGRAPH
    assert document.source is not None
    assert (document.source.content_type, document.source.bytes) == (
        "text/html",
        len(pages["/moon"][2]),
    )
    # The function was asked for the URL as given; the page crossed through S3 and is gone.
    [asked] = lambda_twin.invocations
    assert asked["url"] == f"{base}/old"
    assert asked["key"].startswith("pages/")
    assert _page_objects(aws_env.bucket) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "page could not be fetched (HTTP 404)"),
        ("/inside", "address not allowed"),  # a redirect to a private address
        ("/gif", "page type not supported (image/gif)"),
        ("/empty", "no readable text on the page"),
    ],
)
def test_page_failures_keep_their_stable_reasons(
    remote: PageStack,
    fakes: Fakes,
    site: tuple[str, Served],
    path: str,
    reason: str,
) -> None:
    base, pages = site
    pages["/inside"] = (302, "text/html", b"http://10.0.0.1/admin")
    pages["/gif"] = (200, "image/gif", b"GIF89a" + bytes(64))
    pages["/empty"] = (200, "text/html", b"")
    document = summarized(remote, fakes, f"{base}{path}")
    assert (document.status, document.error) == (Status.FAILED, reason)
    assert not fakes.llm.calls


class _Throttled:
    def invoke(self, **_: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}
        raise ClientError(error, "Invoke")


def _crashing(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise MemoryError("the function ran out of memory")


@pytest.mark.parametrize("failing", ["throttled", "crashed"])
def test_a_failed_invoke_is_retried_never_failed(
    fakes: Fakes, site: tuple[str, Served], failing: str, caplog: pytest.LogCaptureFixture
) -> None:
    base, pages = site
    pages["/moon"] = html_page("The Moon", files.PARAGRAPH)
    spec = load_template().function("FetchFunction")
    client = (
        _Throttled() if failing == "throttled" else InProcessLambda({FUNCTION: _crashing}, spec)
    )
    stack = make_stack(fakes, lambda: LambdaPageSource(client, FUNCTION, fakes.store, 1_000_000))
    stack.client.post("/documents", json={"url": f"{base}/moon"})
    request = fakes.queue.sent[-1]
    with pytest.raises(RetryLater), caplog.at_level(logging.INFO):
        deliver(stack, request)
    # A known outage, retried like one (a warning), not logged as an unexpected error.
    assert [r.message for r in caplog.records if r.levelno >= logging.WARNING] == [
        "transient failure, retrying"
    ]
    document = fakes.repository.items[request.document_id]
    assert (document.status, document.error) == (Status.QUEUED, "page fetch function unavailable")
    assert [delay for _, delay in fakes.queue.retries] == [10]  # back after the backoff
    assert not fakes.queue.dead_letters


# ---------------------------------------------------------------- the two sides on their own


class _Answering:
    """A Lambda client whose function answers `payload` (and leaves `data` at the key)."""

    def __init__(self, store: InMemoryTextStore, payload: Any, data: bytes | None = None):
        self._store, self._payload, self._data = store, payload, data

    def invoke(self, **request: Any) -> dict[str, Any]:
        key = json.loads(request["Payload"])["key"]
        if self._data is not None:
            self._store.put_bytes(key, self._data, "text/html")
        payload = self._payload
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return {"StatusCode": 200, "Payload": io.BytesIO(body)}


def test_the_page_is_read_back_and_deleted() -> None:
    store = InMemoryTextStore()
    answer = {"url": "https://example.org/b", "media_type": "text/html", "size": 4}
    source = LambdaPageSource(_Answering(store, answer, b"<p>"), FUNCTION, store, 100)
    assert source.fetch("https://example.org/a") == Page(
        "https://example.org/b", b"<p>", "text/html"
    )
    assert store.files == {}


@pytest.mark.parametrize(
    ("payload", "data", "raised"),
    [
        ({"failed": "page timed out"}, None, PageFetchFailed("page timed out")),
        ({"url": "https://example.org/"}, None, PageFetchUnavailable()),  # no page at the key
        ({"url": "https://example.org/"}, b"x" * 101, PageFetchFailed(PAGE_TOO_LARGE)),
        ({"size": 3}, b"abc", PageFetchUnavailable()),  # neither a page nor a reason
        (b"<html>502</html>", None, PageFetchUnavailable()),
        ({"url": "https://example.org/", "surprise": 1}, b"abc", PageFetchUnavailable()),
    ],
)
def test_each_answer_becomes_the_page_a_reason_or_an_outage(
    payload: Any, data: bytes | None, raised: Exception
) -> None:
    store = InMemoryTextStore()
    source = LambdaPageSource(_Answering(store, payload, data), FUNCTION, store, 100)
    with pytest.raises(type(raised)) as caught:
        source.fetch("https://example.org/")
    if isinstance(raised, PageFetchFailed):
        assert str(caught.value) == str(raised)
    assert store.files == {}  # whatever was left is deleted


@pytest.mark.parametrize(
    "event",
    [
        {"url": "https://example.org/", "key": "documents/alice/secret.txt"},  # not pages/
        {"url": "https://example.org/", "key": "pages/../documents/x"},
        {"url": "https://example.org/"},
        {"url": "", "key": "pages/abc"},
    ],
)
def test_the_relay_writes_only_under_the_page_prefix(event: dict[str, Any]) -> None:
    store = InMemoryTextStore()

    class _Never:
        def fetch(self, url: str) -> Page:
            raise AssertionError("nothing is fetched for a malformed request")

    with pytest.raises(ValidationError):
        PageRelay(_Never(), store).handle(event)
    assert store.files == {}


def test_wiring_fetches_in_process_unless_a_fetch_function_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients = AwsClients.create()
    assert isinstance(page_source(Settings(), clients), PageFetcher)
    source = page_source(Settings(page_fetch_function=FUNCTION), clients)
    assert isinstance(source, LambdaPageSource)
    # The invoke waits past the function's Timeout: a slow page ends as the function's own
    # `page timed out`, never as the worker's client giving up first.
    waits = source._lambda.meta.config.read_timeout
    assert waits > load_template().function("FetchFunction").timeout


def test_the_invoke_is_a_valid_lambda_call_and_a_function_error_an_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against botocore's own Lambda model (its Stubber checks the request and the answer's
    shapes): a synchronous invoke of the named function with the JSON request, and Lambda's
    answer to a crashed function read as an outage."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("lambda", aws_access_key_id="x", aws_secret_access_key="x")
    store = InMemoryTextStore()
    crashed = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": StreamingBody(io.BytesIO(crashed), len(crashed)),
            },
            {"FunctionName": FUNCTION, "InvocationType": "RequestResponse", "Payload": ANY},
        )
        with pytest.raises(PageFetchUnavailable, match=r"Unhandled: .*boom"):
            LambdaPageSource(client, FUNCTION, store, 100).fetch("https://example.org/")
        stub.assert_no_pending_responses()
