"""The whole pipeline on the embedded stack, with the real offline LLM (SmolLM2 135M)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from docsum.domain.ids import content_digest

from infra.local.environment import aws_client
from infra.local.processes import REPO_ROOT, wait_until
from tests.e2e.support import (
    DOC_TIMEOUT,
    Stack,
    count_llm_calls,
    settled_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

TEXT = (
    "Serverless architectures let teams run code without managing servers. Functions scale "
    "with demand, and queues decouple slow work such as summarization from the request path."
)


def llm_calls(stack: Stack) -> int:
    return count_llm_calls(stack.state_dir / "llm.log")


def queue_drained(stack: Stack) -> bool:
    """Nothing waiting, in flight or delayed: every delivery has been settled."""
    attributes = stack.sqs().get_queue_attributes(
        QueueUrl=stack.info["queue_url"],
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(v == "0" for v in attributes.values())


@pytest.fixture(scope="module")
def summarized(stack: Stack) -> tuple[dict[str, Any], int]:
    """One document through the pipeline: (the settled document, LLM calls before it)."""
    before = llm_calls(stack)
    with stack.api() as api:
        response = api.post("/documents", json={"title": "Queues", "text": TEXT})
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        assert response.headers["Location"] == f"/documents/{response.json()['id']}"
        document = wait_until(
            "a summary", lambda: settled_at(api, f"/documents/{response.json()['id']}"), DOC_TIMEOUT
        )
    return document, before


def test_post_then_poll_gives_a_summary(stack: Stack, summarized: Any) -> None:
    document, before = summarized
    assert document["status"] == "done", document
    assert 0 < len(document["summary"]) <= 1500
    assert document["summary_chars"] == len(document["summary"])
    assert document["model"] == stack.info["ollama_model"] == "smollm2:135m"
    assert document["attempts"] == 1
    assert document["llm_calls"] in (1, 2)  # 2: the guard retried a bad first answer
    spent = before + document["llm_calls"]
    assert wait_until("the LLM request log", lambda: llm_calls(stack) == spent, 10)


def test_duplicate_post_costs_no_llm_call(stack: Stack, summarized: Any) -> None:
    document, _ = summarized
    wait_until("the queue to drain", lambda: queue_drained(stack), 30)
    calls = llm_calls(stack)
    accepted = stack.metric("docsum_documents_accepted_total")
    duplicates = stack.metric("docsum_duplicates_detected_total")
    with stack.api() as api:
        response = api.post("/documents", json={"title": "Queues", "text": TEXT})
    assert response.status_code == 200
    assert response.json()["id"] == document["id"]
    assert response.json()["summarized_at"] == document["summarized_at"]
    wait_until(
        "DuplicatesDetected",
        lambda: stack.metric("docsum_duplicates_detected_total") == duplicates + 1,
        10,
    )
    assert queue_drained(stack)  # nothing was enqueued, so nothing can reach the LLM
    assert llm_calls(stack) == calls
    assert stack.metric("docsum_documents_accepted_total") == accepted


def test_duplicate_sqs_delivery_gives_one_summary(stack: Stack) -> None:
    """SQS delivers at least once: the same request arriving again must not summarize again."""
    before = llm_calls(stack)
    request_id = str(uuid.uuid4())
    with stack.api() as api:
        response = api.post(
            "/documents",
            json={"text": TEXT + " Duplicate deliveries are expected."},
            headers={"X-Request-ID": request_id},
        )
        assert response.status_code == 202
        doc_id = response.json()["id"]
        first = wait_until(
            "a summary", lambda: settled_at(api, f"/documents/{doc_id}"), DOC_TIMEOUT
        )
        assert first["status"] == "done"
        redeliveries = stack.metric("docsum_duplicate_deliveries_total")
        # The message the API sent, delivered twice more (the same fields the API writes).
        body = json.dumps(
            {
                "document_id": doc_id,
                "generation": 1,
                "correlation_id": request_id,
                "enqueued_at": datetime.now(UTC).isoformat(),
            }
        )
        for _ in range(2):
            stack.sqs().send_message(QueueUrl=stack.info["queue_url"], MessageBody=body)
        wait_until(
            "both redeliveries to be consumed",
            lambda: stack.metric("docsum_duplicate_deliveries_total") == redeliveries + 2,
            60,
        )
        wait_until("the queue to drain", lambda: queue_drained(stack), 30)
        again = api.get(f"/documents/{doc_id}").json()
    assert llm_calls(stack) == before + first["llm_calls"]
    assert again["summary"] == first["summary"]
    assert again["summarized_at"] == first["summarized_at"]


def test_malformed_message_is_parked_in_the_dead_letter_queue(stack: Stack) -> None:
    sqs = stack.sqs()
    calls = llm_calls(stack)
    poison = f"not a summarize request {uuid.uuid4()}"
    sqs.send_message(QueueUrl=stack.info["queue_url"], MessageBody=poison)

    def parked() -> dict[str, Any] | None:
        messages = sqs.receive_message(
            QueueUrl=stack.info["dead_letter_queue_url"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return next((m for m in messages if m["Body"] == poison), None)

    message = wait_until("the poison message in the DLQ", parked, 60)
    assert message["MessageAttributes"]["reason"]["StringValue"].startswith("malformed message")
    wait_until("the queue to drain", lambda: queue_drained(stack), 30)
    assert llm_calls(stack) == calls


def test_metrics_are_served_from_the_functions_emf_lines(stack: Stack, summarized: Any) -> None:
    response = httpx.get(stack.info["metrics_url"], timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert stack.metric("docsum_documents_accepted_total") >= 1  # from the API
    assert stack.metric("docsum_summaries_completed_total") >= 1  # from the summarize handler
    assert stack.metric("docsum_model_time_seconds_count") >= 1
    assert "# TYPE docsum_documents_accepted_total counter" in response.text
    # Read, not echoed: the raw EMF lines are in the parts' logs but not on the console.
    assert '"_aws"' in (stack.state_dir / "api.log").read_text()
    assert '"_aws"' not in stack.console()


def test_docs_openapi_and_auth(stack: Stack) -> None:
    docs = httpx.get(f"{stack.api_url}/docs", timeout=10)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    assert "/documents" in spec["paths"]
    # API_TOKEN was unset: the stack generated one, printed it and the API enforces it.
    assert stack.info["api_token"]
    assert stack.info["api_token"] in stack.console()
    anonymous = httpx.post(f"{stack.api_url}/documents", json={"text": "x"}, timeout=10)
    assert anonymous.status_code == 401


def test_banner_says_which_model_stands_in(stack: Stack) -> None:
    console = stack.console()
    assert stack.info["llm_started_here"]
    assert stack.info["aws_started_here"]
    assert "smollm2:135m" in console
    assert "NOT gemma3:1b" in console
    assert f"curl -s -X POST {stack.api_url}/documents" in console
    for part in ("moto", "llm", "api", "poller", "sweeper"):
        assert f"\n{part:<7} | " in console


def test_make_up_again_reports_the_running_stack(stack: Stack) -> None:
    again = subprocess.run(
        [sys.executable, "-m", "infra.local", "--state-dir", str(stack.state_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert f"already running (pid {stack.info['pid']})" in again.stdout
    assert stack.api_url in again.stdout


def test_ready_names_the_model_and_where_it_came_from(stack: Stack) -> None:
    with stack.api() as api:
        checks = api.get("/ready").json()["checks"]
    # and how many model calls it sends for the offline host's slots (`make up` derives both)
    assert checks["ollama"] == (
        f"ok: smollm2:135m ({stack.info['llm_origin']}); 1 model call(s) per summarize "
        "invocation, one invocation per host slot (2)"
    )
    assert (
        stack.info["llm_origin"] == "offline host: smollm2:135m as asked: a stand-in, NOT gemma3:1b"
    )
    assert "NOT gemma3:1b" in stack.console()


OPTIONS_TEXT = (
    "Serverless architectures let teams run code without managing servers. Functions scale "
    "with demand and cost nothing while idle. Queues decouple slow work, such as "
    "summarization, from the request path, so an API can answer at once while a worker "
    "catches up. Failed work is retried with a backoff and parked in a dead-letter queue "
    "after a few attempts, where an operator can inspect it and send it back. Conditional "
    "writes to the database make every state change safe against duplicate deliveries."
)


def test_one_text_two_option_sets_two_summaries_one_stored_text(stack: Stack) -> None:
    """The same text as short bullets and as a long paragraph: two documents, two summaries
    that follow their options, one text object in S3."""
    variants = {
        "short-bullets": {"length": "short", "format": "bullets"},
        "long-paragraph": {"length": "long", "format": "paragraph"},
    }
    with stack.api() as api:
        ids = {}
        for name, options in variants.items():
            response = api.post("/documents", json={"text": OPTIONS_TEXT, **options})
            assert response.status_code == 202, response.text
            assert response.json()["options"]["length"] == options["length"]
            ids[name] = response.json()["id"]
        assert ids["short-bullets"] != ids["long-paragraph"]
        done = {
            name: wait_until(
                f"the {name} summary",
                lambda i=doc_id: settled_at(api, f"/documents/{i}"),
                DOC_TIMEOUT,
            )
            for name, doc_id in ids.items()
        }
    for document in done.values():
        # Stored, or refused by the guard with its stable reason: never a broken summary.
        if document["status"] == "failed":
            assert document["error"].startswith("model output"), document
            continue
        assert document["language"] == "en"
        assert document["summary"]
    bullets, paragraph = done["short-bullets"], done["long-paragraph"]
    assert paragraph["status"] == "done", paragraph  # the text itself is its fallback
    assert "\n" not in paragraph["summary"]
    assert len(paragraph["summary"]) <= 1500
    if bullets["status"] == "done":
        lines = bullets["summary"].splitlines()
        assert 3 <= len(lines) <= 8
        assert all(line.startswith("- ") for line in lines)
        assert len(bullets["summary"]) <= 400
    # Both documents name the same stored text, and it exists once.
    resources = stack.info["resources"]
    dynamodb = aws_client("dynamodb", stack.info["aws_endpoint_url"])
    table = resources["DOCUMENTS_TABLE"]
    [key] = {
        dynamodb.get_item(TableName=table, Key={"id": {"S": i}})["Item"]["text_key"]["S"]
        for i in ids.values()
    }
    assert key.endswith(f"/{content_digest(OPTIONS_TEXT)}.txt")
    s3 = aws_client("s3", stack.info["aws_endpoint_url"])
    listed = s3.list_objects_v2(Bucket=resources["DOCUMENTS_BUCKET"], Prefix=key)
    assert [o["Key"] for o in listed["Contents"]] == [key]
