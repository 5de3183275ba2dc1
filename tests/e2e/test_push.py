"""Completion push on the embedded stack (`make up`): signed webhooks through the webhook
queue and function (its own poller) for documents sent as JSON, as a multipart file and through
a presigned upload; a redirecting receiver refused at submission; and EventBridge events on the
stack's AWS emulator."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import httpx
import pytest

from infra.local.processes import wait_until
from tests.e2e.support import DOC_TIMEOUT, Stack, settled
from tests.webhook_receiver import running_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.llm]


def text() -> str:
    return f"Webhooks tell clients when work is done ({uuid.uuid4().hex}). Polling wastes calls."


def submit(stack: Stack, callback_url: str | None) -> dict[str, Any]:
    body = {"text": text(), **({"callback_url": callback_url} if callback_url else {})}
    with stack.api() as api:
        response = api.post("/documents", json=body)
    assert response.status_code == 202, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_stack_prints_and_records_a_secret_per_client(stack: Stack) -> None:
    secrets = stack.info["webhook_secrets"]
    assert list(secrets) == ["default"]  # a bare generated token is client `default`
    assert secrets["default"].startswith("whsec_")
    assert secrets["default"] in stack.console()
    assert "CALLBACK_ALLOW_LOOPBACK_HTTP=true" in stack.console()
    assert "poller-webhook" in stack.info["processes"]


def test_a_receiver_failing_twice_gets_exactly_one_accepted_delivery(stack: Stack) -> None:
    secret = stack.info["webhook_secrets"]["default"]
    with running_receiver(secret, [500, 503, 200]) as receiver:
        posted = submit(stack, receiver.url)
        done = wait_until("the summary", lambda: settled(stack, posted["id"]), DOC_TIMEOUT)
        assert done["status"] == "done", done
        # Backoff 1 s then 2 s (the stack's --retry-base-seconds 1), plus the pollers' turns.
        assert receiver.wait_for(accepted=1, timeout=90), receiver.attempts
        time.sleep(3)  # a further (unwanted) delivery would arrive now
    assert receiver.rejected == []
    assert receiver.accepted_ids() == [f"msg_{posted['id']}_1_done"]
    assert len(receiver.attempts) == 3
    assert {a["webhook-id"] for a in receiver.attempts} == {f"msg_{posted['id']}_1_done"}
    [(_, payload)] = receiver.accepted
    assert payload["type"] == "document.summarized"
    assert payload["data"] == settled(stack, posted["id"])  # the summary is unaffected


def test_a_hanging_receiver_does_not_delay_summaries(stack: Stack) -> None:
    secret = stack.info["webhook_secrets"]["default"]
    with running_receiver(secret, [("hang", 40)] * 3) as receiver:
        hung = submit(stack, receiver.url)
        done = wait_until("the summary", lambda: settled(stack, hung["id"]), DOC_TIMEOUT)
        assert done["status"] == "done"
        wait_until("a delivery attempt", lambda: receiver.attempts, 60)
        # While the receiver hangs, the pipeline goes on: the next document is summarized.
        started = time.monotonic()
        other = submit(stack, None)
        assert wait_until("the next summary", lambda: settled(stack, other["id"]), DOC_TIMEOUT)
        elapsed = time.monotonic() - started
    assert settled(stack, hung["id"]) == done
    assert receiver.accepted == []
    assert elapsed < DOC_TIMEOUT


def test_a_multipart_file_and_an_upload_each_get_their_signed_delivery(stack: Stack) -> None:
    secret = stack.info["webhook_secrets"]["default"]
    data = text().encode()
    with running_receiver(secret) as receiver, stack.api() as api:
        sent = {"file": ("hooks.txt", data, "text/plain"), "callback_url": (None, receiver.url)}
        direct = api.post("/documents", files=sent)
        assert direct.status_code == 202, direct.text
        request = {
            "filename": "hooks.txt",
            "content_type": "text/plain",
            "size": len(data) + 1,
            "callback_url": receiver.url,
        }
        upload = api.post("/uploads", json=request)
        assert upload.status_code == 201, upload.text
        presigned = upload.json()["upload"]
        posted = httpx.post(
            presigned["url"],
            data=presigned["fields"],
            files={"file": ("hooks.txt", data + b"!", "text/plain")},
            timeout=60,
        )
        assert posted.status_code in (200, 204), posted.text
        assert len(receiver.probes) == 2  # one HEAD per submission, never counted as delivery

        ids = [direct.json()["id"], upload.json()["id"]]
        for doc_id in ids:
            done = wait_until("the summary", lambda d=doc_id: settled(stack, d), DOC_TIMEOUT)
            assert done["status"] == "done", done
        assert receiver.wait_for(accepted=2, timeout=60), receiver.attempts
    assert receiver.rejected == []
    assert sorted(receiver.accepted_ids()) == sorted(f"msg_{i}_1_done" for i in ids)
    for webhook_id, payload in receiver.accepted:
        assert payload["type"] == "document.summarized"
        assert payload["data"] == settled(stack, payload["data"]["id"])
        assert webhook_id == f"msg_{payload['data']['id']}_1_done"


def test_a_receiver_that_redirects_to_the_metadata_service_is_refused(stack: Stack) -> None:
    secret = stack.info["webhook_secrets"]["default"]
    metadata = ("redirect", "http://169.254.169.254/latest/meta-data/")
    with (
        running_receiver(secret, probe_script=[metadata, metadata]) as receiver,
        stack.api() as api,
    ):
        as_json = api.post("/documents", json={"text": text(), "callback_url": receiver.url})
        form = {"text": (None, text()), "callback_url": (None, receiver.url)}
        as_form = api.post("/documents", files=form)
    for response in (as_json, as_form):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "urn:docsum:problem:callback-url-refused"
        assert "redirects to http://169.254.169.254/latest/meta-data/" in problem["detail"]
        assert "not a public address" in problem["detail"]
    assert receiver.attempts == []


def test_completion_events_reach_an_eventbridge_rule(stack: Stack) -> None:
    client: dict[str, Any] = {
        "endpoint_url": stack.info["aws_endpoint_url"],
        "region_name": stack.info["region"],
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    sqs, events = boto3.client("sqs", **client), boto3.client("events", **client)
    url = sqs.create_queue(QueueName=f"completions-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    rule = f"docsum-completions-{uuid.uuid4().hex[:8]}"
    pattern = {"source": ["docsum"], "detail-type": ["Document Summarized", "Document Failed"]}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])

    posted = submit(stack, None)
    done = wait_until("the summary", lambda: settled(stack, posted["id"]), DOC_TIMEOUT)

    def arrived() -> list[dict[str, Any]] | None:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        found = [json.loads(m["Body"]) for m in messages]
        mine = [e for e in found if e["detail"]["id"] == posted["id"]]
        return mine or None

    [event] = wait_until("the completion event", arrived, 30)
    assert (event["source"], event["detail-type"]) == ("docsum", "Document Summarized")
    assert event["detail"] == done
