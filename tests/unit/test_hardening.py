"""The review's smaller findings (issue 29), each on the fakes: a client's share of the queue,
a re-summarize while the file is still on its way, a chunked body past the limit, no model
output in the logs, /ready's answers, and text made only of invisible characters."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from docsum.domain.document import Status, SummaryMethod
from docsum.domain.errors import ClientBusy, UploadPending
from docsum.domain.files import MEDIA_TYPES, FileKind
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.worker.outcomes import Outcome
from docsum_api.app import ApiSettings, create_app
from fastapi.testclient import TestClient

from tests.conftest import Fakes

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164\u2800 \u034f"


def app_client(fakes: Fakes, settings: Settings, **checks: Any) -> TestClient:
    service = DocumentService(
        fakes.store,
        fakes.repository,
        fakes.queue,
        IntakeLimits.of(settings),
        fakes.clock,
        uploads=fakes.store,
    )
    return TestClient(create_app(ApiSettings.of(settings), service, **checks))


def service_of(fakes: Fakes, settings: Settings) -> DocumentService:
    limits = IntakeLimits.of(settings)
    return DocumentService(fakes.store, fakes.repository, fakes.queue, limits, fakes.clock)


def submit(service: DocumentService, text: str, owner: str) -> bool:
    """Whether `text` from `owner` made a new document (not a duplicate)."""
    return service.submit(text, Submission("c", owner=owner)).created


# Item 3: a client's share of the queue.


def test_a_client_over_its_share_gets_429_and_others_do_not(
    fakes: Fakes, settings: Settings
) -> None:
    capped = settings.model_copy(update={"max_active_documents_per_client": 2})
    service = service_of(fakes, capped)
    for n in range(2):
        assert submit(service, f"Flood document number {n}.", "alice")
    with pytest.raises(ClientBusy, match="MAX_ACTIVE_DOCUMENTS_PER_CLIENT is 2") as busy:
        submit(service, "One more from the flood.", "alice")
    assert busy.value.retry_after == capped.busy_retry_after_seconds
    # Another client is not held back, and the same text again is only a duplicate.
    assert submit(service, "Bob's only document.", "bob")
    assert not submit(service, "Flood document number 0.", "alice")
    # Once one of alice's is done, she may send another.
    first = fakes.queue.sent[0]
    assert fakes.worker.process(Delivery(first.model_dump_json(), 1, "rh"), 60) is Outcome.DONE
    assert submit(service, "One more from the flood.", "alice")


def test_the_character_share_counts_queued_text(fakes: Fakes, settings: Settings) -> None:
    capped = settings.model_copy(update={"max_active_chars_per_client": 100})
    service = service_of(fakes, capped)
    assert submit(service, "x" * 60, "alice")
    with pytest.raises(ClientBusy, match=r"60 characters .* adds 50; MAX_ACTIVE_CHARS"):
        submit(service, "y" * 50, "alice")
    assert submit(service, "y" * 40, "alice")


def test_with_no_share_set_a_client_is_never_busy_and_its_work_is_not_counted(
    fakes: Fakes, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlimited = settings.model_copy(
        update={"max_active_documents_per_client": 0, "max_active_chars_per_client": 0}
    )
    service = service_of(fakes, unlimited)

    def counted(*_: object) -> tuple[int, int]:
        raise AssertionError("no share is set: the client's work need not be counted")

    monkeypatch.setattr(fakes.repository, "active_work", counted)
    for n in range(settings.max_active_documents_per_client + 5):
        assert submit(service, f"Document number {n} of a client without a share.", "alice")


def test_the_api_answers_429_with_retry_after(fakes: Fakes, settings: Settings) -> None:
    capped = settings.model_copy(
        update={"max_active_documents_per_client": 1, "busy_retry_after_seconds": 30}
    )
    client = app_client(fakes, capped)
    assert client.post("/documents", json={"text": "The first document."}).status_code == 202
    busy = client.post("/documents", json={"text": "The second document."})
    assert busy.status_code == 429
    assert busy.headers["Retry-After"] == "30"
    assert busy.headers["content-type"] == "application/problem+json"
    assert "MAX_ACTIVE_DOCUMENTS_PER_CLIENT is 1" in busy.json()["detail"]


# Item 6: re-summarize while the file is on its way.


def test_resummarize_while_uploading_is_409_and_the_upload_still_counts(
    fakes: Fakes, settings: Settings
) -> None:
    client = app_client(fakes, settings)
    upload = client.post(
        "/uploads",
        json={"filename": "a.pdf", "content_type": MEDIA_TYPES[FileKind.PDF], "size": 5000},
    ).json()
    doc_id = upload["id"]
    answer = client.post(f"/documents/{doc_id}/summarize")
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("upload-pending")
    assert fakes.repository.items[doc_id].status is Status.UPLOADING
    with pytest.raises(UploadPending):
        service_of(fakes, settings).resummarize(doc_id, "c")


# Item 7: a chunked body stops being read at the limit.


def test_a_body_without_content_length_is_read_only_up_to_the_limit(
    fakes: Fakes, settings: Settings
) -> None:
    app = app_client(fakes, settings).app
    chunk, chunks = b"a" * 65_536, 500  # 32 MB offered, far past the JSON body limit
    read = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        if read == 1:
            return {"type": "http.request", "body": b'{"text": "', "more_body": True}
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/documents",
        "raw_path": b"/documents",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert messages[0]["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in messages[1:]))
    assert body["type"].endswith("too-large")
    limit = settings.max_document_chars * 4 + 65_536  # the JSON body limit the app sets
    assert read * len(chunk) <= limit + 2 * len(chunk)  # stopped at the limit, not the end


# Item 9: logs, /ready, invisible text.


def test_no_model_output_reaches_the_logs(
    fakes: Fakes, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "Zebulon quartz marmalade"
    fakes.llm.default_reply = f"{secret} {secret} {secret} {secret}. {secret} {secret}."
    fakes.service.submit("A calm text about tides and harbours. " * 60, Submission("c"))
    request = fakes.queue.sent[-1]
    caplog.set_level(logging.DEBUG)
    outcome = fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), 60)
    # The looping answer never passed the guard: the extractive summary is stored instead.
    assert outcome is Outcome.DONE
    stored = fakes.repository.items[request.document_id]
    assert stored.method is SummaryMethod.EXTRACTIVE
    assert "zebulon" not in (stored.summary or "").lower()
    logged = [json.dumps(vars(r), default=str) for r in caplog.records]  # extras included
    assert any("answer failed the guard" in line for line in logged)
    assert not any("zebulon" in line.lower() for line in logged)
    assert "zebulon" not in capsys.readouterr().out.lower()


def test_ready_answers_ok_or_failed_and_keeps_details_in_the_log(
    fakes: Fakes, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def refused() -> None:
        raise ConnectionError("refused by 10.0.0.7:443 (internal-db.corp)")

    def boto_answer() -> dict[str, Any]:
        return {"ResponseMetadata": {"RequestId": "ABC123", "HTTPStatusCode": 200}}

    client = app_client(
        fakes,
        settings,
        readiness_checks={"s3": boto_answer},
        informational_checks={"ollama": refused},
    )
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"s3": "ok", "ollama": "failed"}
    assert "internal-db.corp" not in ready.text
    assert "ABC123" not in ready.text
    # The operator still finds out why.
    assert any("internal-db.corp" in str(vars(r).get("error")) for r in caplog.records)

    broken = app_client(fakes, settings, readiness_checks={"s3": boto_answer, "sqs": refused})
    answer = broken.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"s3": "ok", "sqs": "failed"}
    assert "internal-db.corp" not in answer.text


def test_text_of_invisible_characters_only_is_refused(fakes: Fakes, settings: Settings) -> None:
    client = app_client(fakes, settings)
    answer = client.post("/documents", json={"text": INVISIBLE})
    assert answer.status_code == 422
    assert "visible characters" in answer.text
    assert client.post("/documents", json={"text": INVISIBLE + "Tides."}).status_code == 202
    # A file of them is accepted (it is text) and fails like an empty one.
    doc = fakes.service.submit_file(INVISIBLE.encode(), "blank.txt", None, Submission("r")).document
    body = fakes.queue.sent[-1].model_dump_json()
    assert fakes.worker.process(Delivery(body, 1, "rh"), 60) is Outcome.FAILED
    assert fakes.repository.items[doc.id].error == "the text file contains no text"
