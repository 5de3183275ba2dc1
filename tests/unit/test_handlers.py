"""The real Lambda handlers (Mangum included) fed with the events/ files, on moto AWS."""

import base64
import copy
import importlib
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests  # moto's in-process mock answers it: the client's POST to S3
from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.domain.document import Document, Status, utc_now
from docsum.platform.settings import get_settings
from docsum.wiring import AwsClients, summarize_consumer
from fastapi.testclient import TestClient
from urllib3 import encode_multipart_formdata

from infra.bootstrap import LocalResources
from infra.local.lambda_context import LambdaContext
from tests import files
from tests.conftest import receive_all
from tests.fakes import ScriptedLanguageModel

EVENTS = Path(__file__).parents[2] / "events"


def context() -> LambdaContext:
    """A fresh invocation with the whole Timeout (600 s) ahead of it."""
    return LambdaContext.starting_now("docsum-test", 512, 600, "us-east-1")


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@pytest.fixture
def handlers(
    aws_env: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, ModuleType, ScriptedLanguageModel]]:
    monkeypatch.setenv("API_TOKEN", "local-dev-token")
    monkeypatch.delenv("API_TOKEN_PARAMETER", raising=False)
    get_settings.cache_clear()
    ingest = importlib.reload(importlib.import_module("docsum_api.handler"))
    summarize = importlib.reload(importlib.import_module("summarize_handler"))
    llm = ScriptedLanguageModel()
    monkeypatch.setattr(
        summarize, "consumer", summarize_consumer(get_settings(), AwsClients.create(), llm=llm)
    )
    yield ingest, summarize, llm
    get_settings.cache_clear()


def sqs_event_from(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Lambda's SQS event for these received messages, shaped like events/sqs-batch.json."""
    template = load_event("sqs-batch.json")["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            md5OfBody=message["MD5OfBody"],
        )
        record["attributes"]["ApproximateReceiveCount"] = message["Attributes"][
            "ApproximateReceiveCount"
        ]
        records.append(record)
    return {"Records": records}


def test_post_event_through_mangum_accepts_the_document(
    handlers: Any, aws_env: LocalResources
) -> None:
    ingest, _, _ = handlers
    response = ingest.handler(load_event("post-document.json"), context())
    assert response["statusCode"] == 202
    body = json.loads(response["body"])
    assert body["status"] == "queued"
    [message] = receive_all(aws_env.queue_url)
    assert json.loads(message["Body"])["document_id"] == body["id"]


def test_post_url_event_through_mangum_accepts_the_page(
    handlers: Any, aws_env: LocalResources
) -> None:
    ingest, _, _ = handlers
    response = ingest.handler(load_event("post-document-url.json"), context())
    assert response["statusCode"] == 202, response["body"]
    body = json.loads(response["body"])
    assert body["source"]["url"] == "https://93.184.216.34/articles/moon.html"
    assert (body["title"], body["options"]["length"]) == ("The Moon", "medium")
    [message] = receive_all(aws_env.queue_url)
    assert json.loads(message["Body"])["document_id"] == body["id"]


def test_get_event_for_an_unknown_document_is_a_404_problem(handlers: Any) -> None:
    ingest, _, _ = handlers
    response = ingest.handler(load_event("get-document.json"), context())
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/problem+json"
    # Text, not base64: API Gateway (no binary media types) would pass base64 on verbatim.
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"])["status"] == 404


def test_web_page_event_through_mangum_is_html_whose_urls_start_at_the_stage(
    handlers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_ROOT_PATH", "/v1")  # as template.yaml sets it
    get_settings.cache_clear()
    ingest = importlib.reload(importlib.import_module("docsum_api.handler"))
    response = ingest.handler(load_event("get-web-page.json"), context())  # no token
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/html")
    assert response["isBase64Encoded"] is False
    assert '<base href="/v1/">' in response["body"]
    assert "script-src 'self'" in response["headers"]["content-security-policy"]
    icon_event = {**load_event("get-web-page.json"), "path": "/static/icon.svg"}
    icon = ingest.handler(icon_event, context())
    # Text, not base64: API Gateway has no binary media types.
    assert (icon["statusCode"], icon["isBase64Encoded"]) == (200, False)
    assert icon["body"].startswith("<svg")


def test_the_whole_flow_through_both_handlers(handlers: Any, aws_env: LocalResources) -> None:
    ingest, summarize, llm = handlers
    posted = json.loads(ingest.handler(load_event("post-document.json"), context())["body"])
    messages = receive_all(aws_env.queue_url)
    # SQS is at-least-once: deliver the same message twice in one batch.
    result = summarize.handler(sqs_event_from(messages + messages), context())

    assert result == {"batchItemFailures": []}
    assert len(llm.calls) == 1
    get_event = load_event("get-document.json")
    get_event["path"] = f"/documents/{posted['id']}"
    get_event["pathParameters"] = {"proxy": get_event["path"].lstrip("/")}
    got = json.loads(ingest.handler(get_event, context())["body"])
    assert got["status"] == "done"
    assert 0 < got["summary_chars"] <= 1500


def test_sample_sqs_event_for_unknown_documents_parks_them_in_the_dlq(
    handlers: Any, aws_env: LocalResources
) -> None:
    _, summarize, llm = handlers
    result = summarize.handler(load_event("sqs-batch.json"), context())
    assert result == {"batchItemFailures": []}
    assert len(receive_all(aws_env.dead_letter_queue_url)) == 2
    assert not llm.calls


def test_a_transient_failure_is_reported_as_a_batch_item_failure(
    handlers: Any, aws_env: LocalResources
) -> None:
    ingest, summarize, llm = handlers
    ingest.handler(load_event("post-document.json"), context())
    llm.script = [ConnectionError("ollama down")]
    messages = receive_all(aws_env.queue_url)
    result = summarize.handler(sqs_event_from(messages), context())
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}


def test_ready_is_503_naming_each_aws_dependency_when_the_endpoint_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for key, value in {
        "AWS_ENDPOINT_URL": dead,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SUMMARIZE_QUEUE_URL": f"{dead}/123456789012/q",
        "API_TOKEN": "t",
        "OLLAMA_HOST": dead,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("API_TOKEN_PARAMETER", raising=False)
    get_settings.cache_clear()
    try:
        ingest = importlib.reload(importlib.import_module("docsum_api.handler"))
        response = TestClient(ingest.app).get("/ready", headers={"Authorization": "Bearer t"})
    finally:
        get_settings.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "not answering: s3, dynamodb, sqs"
    assert all(body["checks"][name].startswith("failed") for name in ("s3", "dynamodb", "sqs"))
    assert body["checks"]["ollama"].startswith("failed")


@pytest.fixture
def stage_prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    """What the template sets for the ingest function (API_ROOT_PATH); before `handlers`."""
    monkeypatch.setenv("API_ROOT_PATH", "/v1")
    return "/v1"


def test_a_file_through_api_gateway_binary_body_and_stage_prefix(
    stage_prefix: str, handlers: Any, aws_env: LocalResources
) -> None:
    """API Gateway hands a multipart body (a BinaryMediaType) over base64-encoded: a real PDF
    goes through Mangum, the stage prefix stays in the Location, the worker extracts it."""
    ingest, summarize, llm = handlers
    data = files.pdf(["A page about queues.", "A page about functions."], title="Queues")
    body, content_type = encode_multipart_formdata(
        {"file": ("queues.pdf", data, "application/pdf")}
    )
    event = load_event("post-document-file.json")
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    event["body"] = base64.b64encode(body).decode()

    response = ingest.handler(event, context())
    assert response["statusCode"] == 202, response["body"]
    posted = json.loads(response["body"])
    assert response["headers"]["location"] == f"{stage_prefix}/documents/{posted['id']}"
    assert posted["source"]["kind"] == "pdf"

    result = summarize.handler(sqs_event_from(receive_all(aws_env.queue_url)), context())
    assert result == {"batchItemFailures": []}
    assert "A page about functions." in llm.calls[0].user
    get_event = load_event("get-document.json")
    get_event["path"] = f"/documents/{posted['id']}"
    got = json.loads(ingest.handler(get_event, context())["body"])
    assert (got["status"], got["title"], got["source"]["pages"]) == ("done", "Queues", 2)


def test_sample_file_event_is_accepted(handlers: Any) -> None:
    ingest, _, _ = handlers
    response = ingest.handler(load_event("post-document-file.json"), context())
    assert response["statusCode"] == 202, response["body"]
    assert json.loads(response["body"])["source"]["kind"] == "markdown"


def test_presigned_upload_to_s3_then_the_s3_event_through_the_worker(
    stage_prefix: str, handlers: Any, aws_env: LocalResources
) -> None:
    ingest, summarize, llm = handlers
    data = files.pdf(["An uploaded page about queues."] * 3)
    event = load_event("post-upload.json")
    event["body"] = json.dumps(
        {"filename": "up.pdf", "content_type": "application/pdf", "size": len(data)}
    )
    response = ingest.handler(event, context())
    assert response["statusCode"] == 201, response["body"]
    upload = json.loads(response["body"])
    assert upload["location"] == f"{stage_prefix}/documents/{upload['id']}"

    sent = requests.post(
        upload["upload"]["url"],
        data=upload["upload"]["fields"],
        files={"file": ("up.pdf", data, "application/pdf")},
        timeout=10,
    )
    assert sent.status_code in (200, 204)
    result = summarize.handler(sqs_event_from(receive_all(aws_env.queue_url)), context())
    assert result == {"batchItemFailures": []}
    assert len(llm.calls) == 1
    get_event = load_event("get-document.json")
    get_event["path"] = f"/documents/{upload['id']}"
    got = json.loads(ingest.handler(get_event, context())["body"])
    assert (got["status"], got["title"], got["source"]["pages"]) == ("done", "up.pdf", 3)


def test_sample_upload_arrived_event_for_an_expired_upload_is_consumed(handlers: Any) -> None:
    _, summarize, llm = handlers
    result = summarize.handler(load_event("sqs-upload-arrived.json"), context())
    assert result == {"batchItemFailures": []}
    assert not llm.calls


def test_a_missing_text_fails_the_document_once_on_real_s3_semantics(
    handlers: Any, aws_env: LocalResources
) -> None:
    """S3 (moto) answers NoSuchKey for a deleted text: permanent, so the document is failed at
    once, the message consumed (no retry, nothing in the DLQ) and no model call made."""
    ingest, summarize, llm = handlers
    posted = json.loads(ingest.handler(load_event("post-document.json"), context())["body"])
    text_key = summarize.consumer.worker._repository.get(posted["id"]).text_key
    boto3.client("s3").delete_object(Bucket=aws_env.bucket, Key=text_key)
    messages = receive_all(aws_env.queue_url)

    assert summarize.handler(sqs_event_from(messages), context()) == {"batchItemFailures": []}
    document = summarize.consumer.worker._repository.get(posted["id"])
    assert (document.status, document.error, document.attempts) == (
        Status.FAILED,
        "document text is missing",
        1,
    )
    assert not llm.calls
    assert receive_all(aws_env.dead_letter_queue_url) == []


def test_the_sweeper_handler_resends_a_lost_message(
    aws_env: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record written without its message (the API died before the send), found through the
    table's sparse index on moto and sent again by the scheduled handler."""
    get_settings.cache_clear()
    long_ago = utc_now() - timedelta(hours=2)
    repository = DynamoDocumentRepository(boto3.resource("dynamodb").Table(aws_env.table))
    doc_id = "f" * 32
    repository.create(
        Document(
            id=doc_id, text_key=f"documents/{doc_id}.txt", text_chars=3, created_at=long_ago,
            updated_at=long_ago, enqueued_at=long_ago, due_at=long_ago, correlation_id="lost",
        )
    )  # fmt: skip
    sweeper = importlib.reload(importlib.import_module("sweep_handler"))

    assert sweeper.handler(load_event("scheduled-sweep.json"), context()) == {
        "resent": 1,
        "recovered": 0,
        "failed": 0,
    }
    [message] = receive_all(aws_env.queue_url)
    assert json.loads(message["Body"])["document_id"] == doc_id
    # Just re-sent: the next run leaves it alone.
    assert sweeper.handler(load_event("scheduled-sweep.json"), context())["resent"] == 0
    get_settings.cache_clear()
