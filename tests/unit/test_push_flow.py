"""Completion push through the real handlers on moto: POST with a callback URL → summarize →
an EventBridge event (observed through a rule routing to a queue, with the pattern the template
outputs) and a webhook message → the webhook handler → a loopback receiver that verifies the
signature with the Standard Webhooks library. The same for a presigned upload: its record
carries the URL through S3's event and the worker."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from docsum.domain.errors import LLMError
from docsum.platform.settings import get_settings
from docsum.push.webhooks import new_webhook_secret
from docsum.wiring import AwsClients, summarize_consumer

from infra.bootstrap import LocalResources
from infra.template import load_template
from tests import files
from tests.conftest import receive_all
from tests.fakes import ScriptedLanguageModel
from tests.unit.test_handlers import context, load_event, sqs_event_from
from tests.webhook_receiver import running_receiver

SECRET = new_webhook_secret()


@pytest.fixture
def handlers(
    aws_env: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, ModuleType, ModuleType, ScriptedLanguageModel]]:
    monkeypatch.setenv("API_TOKEN", "local-dev-token")
    monkeypatch.delenv("API_TOKEN_PARAMETER", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRETS", f"default:{SECRET}")
    monkeypatch.delenv("WEBHOOK_SECRETS_PARAMETER", raising=False)
    monkeypatch.setenv("CALLBACK_ALLOW_LOOPBACK_HTTP", "true")
    monkeypatch.setenv("RETRY_BASE_SECONDS", "0")  # retries visible at once
    get_settings.cache_clear()
    ingest = importlib.reload(importlib.import_module("docsum_api.handler"))
    summarize = importlib.reload(importlib.import_module("summarize_handler"))
    webhook = importlib.reload(importlib.import_module("webhook_handler"))
    llm = ScriptedLanguageModel()
    monkeypatch.setattr(
        summarize, "consumer", summarize_consumer(get_settings(), AwsClients.create(), llm=llm)
    )
    yield ingest, summarize, webhook, llm
    get_settings.cache_clear()


@pytest.fixture
def completion_events(aws_env: LocalResources) -> str:
    """A rule on the default bus with the template's CompletionEventPattern → a queue."""
    pattern = load_template().outputs["CompletionEventPattern"]["Value"]
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="completion-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="docsum-completions", EventPattern=pattern, EventBusName="default")
    events.put_targets(Rule="docsum-completions", Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}])
    return str(url)


def post(ingest: ModuleType, body: dict[str, Any]) -> dict[str, Any]:
    event = load_event("post-document.json")
    event["body"] = json.dumps(body)
    response = ingest.handler(event, context())
    assert response["statusCode"] == 202, response
    document: dict[str, Any] = json.loads(response["body"])
    return document


def get(ingest: ModuleType, document_id: str) -> dict[str, Any]:
    event = load_event("get-document.json")
    event["path"] = f"/documents/{document_id}"
    event["pathParameters"] = {"proxy": event["path"].lstrip("/")}
    document: dict[str, Any] = json.loads(ingest.handler(event, context())["body"])
    return document


def test_a_summary_is_pushed_as_event_and_signed_webhook_despite_two_failures(
    handlers: Any, aws_env: LocalResources, completion_events: str
) -> None:
    ingest, summarize, webhook, llm = handlers
    webhook_queue = aws_env.environment()["WEBHOOK_QUEUE_URL"]
    with running_receiver(SECRET, [500, 503, 200]) as receiver:
        posted = post(ingest, {"text": "Cats sleep. Dogs bark.", "callback_url": receiver.url})
        assert posted["callback_url"] == receiver.url

        result = summarize.handler(sqs_event_from(receive_all(aws_env.queue_url)), context())
        assert result == {"batchItemFailures": []}
        done = get(ingest, posted["id"])
        assert done["status"] == "done"

        outcomes = []
        for _ in range(3):
            [message] = receive_all(webhook_queue)
            outcomes.append(webhook.handler(sqs_event_from([message]), context()))
        assert [bool(o["batchItemFailures"]) for o in outcomes] == [True, True, False]
        assert receive_all(webhook_queue) == []

    assert receiver.rejected == []
    assert receiver.accepted_ids() == [f"msg_{posted['id']}_1_done"]
    assert len({a["webhook-id"] for a in receiver.attempts}) == 1
    [(_, payload)] = receiver.accepted
    assert payload["type"] == "document.summarized"
    assert payload["data"] == done
    assert get(ingest, posted["id"]) == done  # the receiver's failures changed nothing
    assert len(llm.calls) == 1

    [event] = [json.loads(m["Body"]) for m in receive_all(completion_events)]
    assert (event["source"], event["detail-type"]) == ("docsum", "Document Summarized")
    assert event["detail"] == done


def test_a_failed_document_is_pushed_as_document_failed(
    handlers: Any, aws_env: LocalResources, completion_events: str
) -> None:
    ingest, summarize, _, llm = handlers
    llm.script = [LLMError("model_missing", "model gemma3:1b not found", transient=False)]
    posted = post(ingest, {"text": "A doomed text.", "callback_url": "http://127.0.0.1:9/h"})
    summarize.handler(sqs_event_from(receive_all(aws_env.queue_url)), context())
    [event] = [json.loads(m["Body"]) for m in receive_all(completion_events)]
    assert event["detail-type"] == "Document Failed"
    assert event["detail"]["id"] == posted["id"]
    assert event["detail"]["error"] == "model not available on the model host"
    [message] = receive_all(aws_env.environment()["WEBHOOK_QUEUE_URL"])
    assert json.loads(message["Body"])["type"] == "document.failed"


def test_an_upload_with_a_callback_is_pushed_when_its_file_is_summarized(
    handlers: Any, aws_env: LocalResources
) -> None:
    ingest, summarize, webhook, llm = handlers
    data = files.pdf(["An uploaded page about cats."] * 2)
    with running_receiver(SECRET) as receiver:
        event = load_event("post-upload.json")
        event["body"] = json.dumps(
            {
                "filename": "cats.pdf",
                "content_type": "application/pdf",
                "size": len(data),
                "callback_url": receiver.url,
            }
        )
        response = ingest.handler(event, context())
        assert response["statusCode"] == 201, response["body"]
        upload = json.loads(response["body"])
        assert len(receiver.probes) == 1  # the submission's HEAD; not a delivery
        assert get(ingest, upload["id"])["callback_url"] == receiver.url

        sent = requests.post(
            upload["upload"]["url"],
            data=upload["upload"]["fields"],
            files={"file": ("cats.pdf", data, "application/pdf")},
            timeout=10,
        )
        assert sent.status_code in (200, 204)
        result = summarize.handler(sqs_event_from(receive_all(aws_env.queue_url)), context())
        assert result == {"batchItemFailures": []}
        done = get(ingest, upload["id"])
        assert done["status"] == "done"

        messages = receive_all(aws_env.environment()["WEBHOOK_QUEUE_URL"])
        assert webhook.handler(sqs_event_from(messages), context()) == {"batchItemFailures": []}

    assert receiver.rejected == []
    assert receiver.accepted_ids() == [f"msg_{upload['id']}_1_done"]
    [(_, payload)] = receiver.accepted
    assert (payload["type"], payload["data"]) == ("document.summarized", done)
    assert len(llm.calls) == 1
