"""The stack on AWS and an Ollama it did not start (``AWS_ENDPOINT_URL``, ``OLLAMA_HOST``), with
the LLM host stopped and started by the tests: retries, the queue's redrive to the DLQ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from offline_ollama import OfflineOllama, start_in_subprocess

from infra.bootstrap import logical_ids
from infra.local.processes import LOOPBACK, free_port, wait_until
from infra.template import load_template
from tests.e2e.support import (
    DOC_TIMEOUT,
    FAST_LLM,
    FAST_RETRIES,
    Stack,
    count_llm_calls,
    document,
    post,
    settled,
    start_stack,
    stop_stack,
)

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

MODEL = "smollm2:135m"
VISIBILITY_TIMEOUT = 300  # an override of the template's 3600, checked below
RETRY_WINDOW = 20


class LlmHost:
    """The test's own offline Ollama host, on a fixed port so it can come back where it was."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._directory = directory
        self._logs: list[Path] = []
        self._running: OfflineOllama | None = None

    def start(self) -> None:
        log = self._directory / f"llm-{len(self._logs)}.log"
        self._logs.append(log)
        self._running = start_in_subprocess(
            port=self.port, model=MODEL, slots=2, extra_args=["--keep-alive", "-1"], log_path=log
        )

    def stop(self) -> None:
        if self._running is not None:
            assert self._running.stop() == 0, self._running.log()
            self._running = None

    def calls(self) -> int:
        return count_llm_calls(*self._logs)


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmHost]:
    host = LlmHost(tmp_path_factory.mktemp("llm"))
    host.start()
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def external(
    tmp_path_factory: pytest.TempPathFactory, llm: LlmHost, aws_endpoint: str
) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("external-stack"),
        {
            **FAST_LLM,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "OLLAMA_HOST": llm.url,
            "OLLAMA_MODEL": MODEL,
            "API_TOKEN": "e2e-token",
            # An outage is ridden out for RETRY_WINDOW seconds (the template's hour, scaled).
            "RETRY_WINDOW_SECONDS": str(RETRY_WINDOW),
            "RETRY_MAX_SECONDS": "4",
        },
        [*FAST_RETRIES, "--visibility-timeout", str(VISIBILITY_TIMEOUT)],
    )
    try:
        yield running
    finally:
        stop_stack(running)


def retrying(stack: Stack, doc_id: str) -> dict[str, Any] | None:
    """The document once an attempt has failed and another is scheduled: `queued`, with the
    reason of the failure."""
    found = document(stack, doc_id)
    return found if found["status"] == "queued" and found["error"] else None


def test_uses_the_running_aws_and_ollama(external: Stack, llm: LlmHost) -> None:
    assert external.info["aws_started_here"] is False
    assert external.info["llm_started_here"] is False
    assert set(external.info["processes"]) == {"api", "poller", "poller-webhook", "sweeper"}
    assert external.info["ollama_host"] == llm.url
    assert external.info["api_token"] == "e2e-token"
    assert "e2e-token  (from API_TOKEN)" in external.console()


def test_resources_follow_the_template(external: Stack) -> None:
    template = load_template()
    ids = logical_ids(template)
    sqs = external.sqs()
    attributes = sqs.get_queue_attributes(
        QueueUrl=external.info["queue_url"], AttributeNames=["All"]
    )["Attributes"]
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=external.info["dead_letter_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert attributes["VisibilityTimeout"] == str(VISIBILITY_TIMEOUT)
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": template.queue(ids.queue).max_receive_count,
    }


def test_message_that_keeps_failing_ends_in_the_dlq_with_the_document_failed(
    external: Stack, llm: LlmHost
) -> None:
    """LLM host down for longer than the retry window: the document is `failed` with the
    reason and the worker has parked its message in the dead-letter queue (to be redriven)."""
    llm.stop()
    try:
        doc_id = post(external, "An outage that outlasts every retry ends in the DLQ.")
        failed = wait_until(
            "the document to settle", lambda: settled(external, doc_id), DOC_TIMEOUT
        )
        assert failed["status"] == "failed", failed
        assert failed["error"] == (
            f"gave up after {RETRY_WINDOW} s of retries: model host unreachable"
        )
        sqs = external.sqs()

        def in_dlq() -> bool:
            messages = sqs.receive_message(
                QueueUrl=external.info["dead_letter_queue_url"],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            return any(json.loads(m["Body"]).get("document_id") == doc_id for m in messages)

        assert wait_until("the message in the DLQ", in_dlq, 60)
    finally:
        llm.start()


def test_llm_down_then_back_the_document_still_completes(external: Stack, llm: LlmHost) -> None:
    calls = llm.calls()
    llm.stop()
    try:
        doc_id = post(external, "A short LLM outage must not lose the document.")
        waiting = wait_until("a failed attempt", lambda: retrying(external, doc_id), 60)
        assert waiting["status"] == "queued"
        assert "unreachable" in waiting["error"]
    finally:
        llm.start()
    done = wait_until("the summary", lambda: settled(external, doc_id), DOC_TIMEOUT)
    assert done["status"] == "done", done
    # Two attempts when its own call found the host down; one when the worker's circuit
    # breaker (open since an earlier failure) put it back without calling the host.
    assert done["attempts"] in (1, 2)
    assert 0 < len(done["summary"]) <= 1500
    # The attempt during the outage reached no model; the host served only what the stored
    # summary cost (one call, or two when the output guard asked again).
    assert done["llm_calls"] in (1, 2)
    assert llm.calls() == calls + done["llm_calls"]
