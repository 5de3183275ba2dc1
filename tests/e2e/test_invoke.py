"""The no-Docker twins of ``sam local invoke -e events/...`` (``make invoke-ingest`` etc.)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest

from infra.local.processes import REPO_ROOT

pytestmark = pytest.mark.e2e


def invoke(function: str, event: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "infra.invoke", function, f"events/{event}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response: dict[str, Any] = json.loads(result.stdout)  # stdout holds the response alone
    return response


def body(response: dict[str, Any]) -> Any:
    raw = response["body"]
    return json.loads(base64.b64decode(raw) if response["isBase64Encoded"] else raw)


def test_ingest_post_document() -> None:
    response = invoke("IngestFunction", "post-document.json")
    assert response["statusCode"] == 202
    document = body(response)
    assert document["status"] == "queued"
    # Behind API Gateway the stage prefix is part of public URLs.
    assert response["headers"]["location"] == f"/v1/documents/{document['id']}"


def test_ingest_get_unknown_document() -> None:
    response = invoke("IngestFunction", "get-document.json")
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/problem+json"
    assert body(response)["status"] == 404


def test_summarize_batch_of_unknown_documents() -> None:
    """Messages naming documents that do not exist are parked, not retried."""
    assert invoke("SummarizeFunction", "sqs-batch.json") == {"batchItemFailures": []}


def test_sweeper_scheduled_event() -> None:
    """The schedule's event on a fresh table: nothing overdue, nothing done."""
    assert invoke("SweeperFunction", "scheduled-sweep.json") == {
        "resent": 0,
        "recovered": 0,
        "failed": 0,
    }


def test_webhook_batch_retries_an_unreachable_receiver_and_parks_the_unsigned() -> None:
    """The first notification's receiver does not answer: reported failed (SQS retries it);
    the second names a client without a webhook secret: parked, not retried."""
    records = json.loads((REPO_ROOT / "events" / "webhook-batch.json").read_text())["Records"]
    assert invoke("WebhookFunction", "webhook-batch.json") == {
        "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]
    }


def test_fetch_page_event_refuses_the_metadata_address() -> None:
    """The sample asks for the instance metadata service: refused by the policy, answered
    with the stable reason (no request is made, nothing is written)."""
    assert invoke("FetchFunction", "fetch-page.json") == {"failed": "address not allowed"}
