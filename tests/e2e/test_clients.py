"""Two (and more) named clients on the embedded stack (`make up`): isolation of read, list,
delete, re-summarize and duplicates; pagination; the per-client rate limit; each client's share
of the queue; a delete while the worker summarizes; retention expiry. The stack runs with the
real offline LLM."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest

from infra.local.processes import free_port, wait_until
from tests.e2e.support import (
    DOC_TIMEOUT,
    FAST_LLM,
    FAST_RETRIES,
    Stack,
    count_llm_calls,
    settled_at,
    start_stack,
    stop_stack,
)

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

HASHED_TOKEN = "carol-token-stored-as-a-hash"
TOKENS = {"alice": "alice-token", "bob": "bob-token", "dave": "dave-token"}
RATE_LIMIT, WINDOW = 100, 20  # requests per client per window (seconds)
SHARE = 6  # documents a client may have uploading, queued or in progress
TEXT = (
    "Object storage keeps documents durable and cheap. A queue decouples the slow summary from "
    "the request, and a key-value table records the status a client polls."
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    entries = [f"{name}:{token}" for name, token in TOKENS.items()]
    entries.append(f"carol:sha256:{hashlib.sha256(HASHED_TOKEN.encode()).hexdigest()}")
    running = start_stack(
        tmp_path_factory.mktemp("clients"),
        {
            **FAST_LLM,
            "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
            "API_TOKEN": ",".join(entries),
            "RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
            "RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
            "MAX_ACTIVE_DOCUMENTS_PER_CLIENT": str(SHARE),
            "RETENTION_DAYS": "1",
        },
        FAST_RETRIES,
    )
    try:
        yield running
    finally:
        stop_stack(running)


def client(stack: Stack, name: str) -> httpx.Client:
    token = HASHED_TOKEN if name == "carol" else TOKENS[name]
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def table(stack: Stack) -> Any:
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=stack.info["aws_endpoint_url"],
        region_name=stack.info["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return dynamodb.Table(stack.info["resources"]["DOCUMENTS_TABLE"])


def s3_keys(stack: Stack) -> set[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.info["aws_endpoint_url"],
        region_name=stack.info["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    listing = s3.list_object_versions(Bucket=stack.info["resources"]["DOCUMENTS_BUCKET"])
    return {v["Key"] for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]}


def settled(api: httpx.Client, doc_id: str) -> dict[str, Any] | None:
    return settled_at(api, f"/documents/{doc_id}")


def wait_settled(api: httpx.Client, doc_id: str, timeout: float = DOC_TIMEOUT) -> dict[str, Any]:
    """Poll once a second: every poll counts against the client's RATE_LIMIT per WINDOW, and
    a test's later reads must still fit (at 10 polls a second a slow summary used it all)."""
    return wait_until(f"{doc_id} settled", lambda: settled(api, doc_id), timeout, interval=1)


def llm_calls(stack: Stack) -> int:
    return count_llm_calls(stack.state_dir / "llm.log")


def test_delete_while_the_worker_summarizes_wins(stack: Stack) -> None:
    long_text = " ".join(f"Paragraph {i}. {TEXT}" for i in range(12))
    with client(stack, "dave") as dave:
        doc_id = dave.post("/documents", json={"text": long_text}).json()["id"]
        wait_until(
            "the worker to claim it",
            lambda: dave.get(f"/documents/{doc_id}").json()["status"] == "processing",
            DOC_TIMEOUT,
            interval=0.1,
        )
        deleted = dave.delete(f"/documents/{doc_id}")
        assert deleted.status_code == 204
        assert dave.get(f"/documents/{doc_id}").status_code == 404

        # The summary in flight is dropped: the record stays a bare tombstone, never revived.
        def tombstone() -> dict[str, Any] | None:
            item: dict[str, Any] | None = table(stack).get_item(Key={"id": doc_id}).get("Item")
            return item

        def work_dropped() -> bool:
            said = worker_messages(stack, doc_id)
            if "summary stored" in said:  # nothing in flight to drop: the test itself is void
                raise AssertionError("the worker finished before the delete")
            return any(message.startswith("document deleted while") for message in said)

        wait_until("the worker to drop its work", work_dropped, 120)
        assert set(tombstone() or {}) == {"id", "deleted_at", "expires_at"}
        assert not any(key.startswith("documents/dave/") for key in s3_keys(stack))

        # A late delivery of its message is consumed without an LLM call and without the DLQ.
        before = llm_calls(stack)
        consumed = stack.metric("docsum_deleted_document_deliveries_total")
        body = {"document_id": doc_id, "generation": 1, "enqueued_at": now_iso()}
        stack.sqs().send_message(QueueUrl=stack.info["queue_url"], MessageBody=json.dumps(body))
        wait_until(
            "the late message to be consumed",
            lambda: stack.metric("docsum_deleted_document_deliveries_total") == consumed + 1,
            60,
        )
        assert llm_calls(stack) == before
        assert dave.get(f"/documents/{doc_id}").status_code == 404
        dlq = stack.sqs().get_queue_attributes(
            QueueUrl=stack.info["dead_letter_queue_url"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )
        assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_two_clients_are_isolated(stack: Stack) -> None:
    with client(stack, "alice") as alice, client(stack, "bob") as bob:
        mine = alice.post("/documents", json={"title": "A", "text": TEXT})
        assert mine.status_code == 202, mine.text
        doc_id = mine.json()["id"]
        theirs = bob.post("/documents", json={"title": "B", "text": TEXT})
        assert theirs.status_code == 202  # the same text is Bob's own document
        assert theirs.json()["id"] != doc_id
        again = alice.post("/documents", json={"text": f"  {TEXT}\n"})
        assert (again.status_code, again.json()["id"]) == (200, doc_id)  # duplicate per client

        done = wait_settled(alice, doc_id)
        assert done["status"] == "done"
        for method, path in (
            ("GET", f"/documents/{doc_id}"),
            ("POST", f"/documents/{doc_id}/summarize"),
            ("DELETE", f"/documents/{doc_id}"),
        ):
            foreign = bob.request(method, path)
            assert foreign.status_code == 404, (method, foreign.text)
            assert foreign.headers["content-type"] == "application/problem+json"
            unknown = bob.request(method, path.replace(doc_id, "0" * 32))
            assert foreign.json()["type"] == unknown.json()["type"]
        # Nothing Bob tried changed Alice's document.
        after = alice.get(f"/documents/{doc_id}").json()
        assert (after["generation"], after["status"], after["summary"]) == (
            1,
            "done",
            done["summary"],
        )
        assert doc_id not in [d["id"] for d in bob.get("/documents").json()["items"]]
        assert doc_id in [d["id"] for d in alice.get("/documents").json()["items"]]
        # Alice re-summarizes her own: a new generation.
        assert alice.post(f"/documents/{doc_id}/summarize").json()["generation"] == 2


def test_listing_pages_through_more_than_one_page(stack: Stack) -> None:
    with client(stack, "bob") as bob:
        posted = [
            bob.post("/documents", json={"text": f"Bob's note number {i}. {TEXT}"}).json()["id"]
            for i in range(5)
        ]
        seen: list[dict[str, Any]] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = bob.get("/documents", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 2
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        ids = [d["id"] for d in seen]
        assert pages >= 3
        assert len(ids) == len(set(ids)) == 6  # five notes and the one of the isolation test
        assert ids[:5] == posted[::-1]  # newest first
        created = [d["created_at"] for d in seen]
        assert created == sorted(created, reverse=True)
        queued = bob.get("/documents", params={"status": "queued", "limit": 100}).json()
        assert all(d["status"] == "queued" for d in queued["items"])
        with client(stack, "alice") as alice:
            # Bob's cursor in Alice's hands pages Alice's own listing, never Bob's documents.
            cursor = bob.get("/documents", params={"limit": 1}).json()["next_cursor"]
            borrowed = alice.get("/documents", params={"limit": 100, "cursor": cursor}).json()
            assert not set(ids) & {d["id"] for d in borrowed["items"]}
            assert alice.get("/documents", params={"cursor": "not-a-cursor"}).status_code == 422


def test_rate_limit_per_client(stack: Stack) -> None:
    with client(stack, "carol") as carol, client(stack, "alice") as alice:
        statuses: list[int] = []
        limited = None
        deadline = time.monotonic() + 2 * WINDOW
        while limited is None and time.monotonic() < deadline:
            response = carol.get("/documents", params={"limit": 1})
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = response
        assert limited is not None, f"no 429 after {len(statuses)} requests"
        assert set(statuses[:-1]) == {200}
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["type"] == "urn:docsum:problem:rate-limited"
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= WINDOW
        # Other clients are not affected.
        assert alice.get("/documents", params={"limit": 1}).status_code == 200
        time.sleep(retry_after)
        assert carol.get("/documents", params={"limit": 1}).status_code == 200


def test_a_flooding_client_cannot_queue_ahead_of_everyone(stack: Stack) -> None:
    """Dave floods; only his share is queued (the rest: 429 and Retry-After). Alice's document,
    sent after the flood, waits behind at most Dave's share: the bound the cap gives."""
    with client(stack, "dave") as dave, client(stack, "alice") as alice:
        answers = [
            dave.post("/documents", json={"text": f"Dave's flood, part {i}. {TEXT}"})
            for i in range(SHARE + 3)
        ]
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code != 202]
        assert len(accepted) == SHARE, [a.status_code for a in answers]
        assert {a.status_code for a in refused} == {429}
        assert refused[0].json()["type"] == "urn:docsum:problem:client-busy"
        assert int(refused[0].headers["retry-after"]) >= 1

        mine = alice.post("/documents", json={"text": f"Alice, after the flood. {TEXT}"})
        assert mine.status_code == 202, mine.text
        alice_id = mine.json()["id"]
        done = wait_settled(alice, alice_id, (SHARE + 1) * DOC_TIMEOUT)
        assert done["status"] == "done"
        ahead = [
            d
            for d in (dave.get(f"/documents/{doc_id}").json() for doc_id in accepted)
            if d.get("summarized_at") and d["summarized_at"] < done["summarized_at"]
        ]
        assert len(ahead) <= SHARE
        # Once Dave's work is done, he may send more.
        wait_until(
            "Dave's share",
            lambda: all(settled(dave, doc_id) for doc_id in accepted),
            SHARE * DOC_TIMEOUT,
            1,
        )
        later = dave.post("/documents", json={"text": f"Dave, later. {TEXT}"})
        assert later.status_code == 202, later.text


def test_retention_expiry_hides_the_document(stack: Stack) -> None:
    with client(stack, "alice") as alice:
        response = alice.post("/documents", json={"text": f"Soon expired. {TEXT}"})
        assert response.status_code == 202
        doc_id = response.json()["id"]
        item = table(stack).get_item(Key={"id": doc_id})["Item"]
        # RETENTION_DAYS=1 on this stack: the record carries its expiry (DynamoDB TTL's field).
        assert abs(int(item["expires_at"]) - (time.time() + 86_400)) < 120
        # A day passes: moto runs no TTL, so the record is still there, past its expiry.
        table(stack).update_item(
            Key={"id": doc_id},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": int(time.time()) - 1},
        )
        assert alice.get(f"/documents/{doc_id}").status_code == 404
        assert doc_id not in [d["id"] for d in alice.get("/documents").json()["items"]]
        assert alice.post(f"/documents/{doc_id}/summarize").status_code == 404
        # The same text again is a new document.
        assert alice.post("/documents", json={"text": f"Soon expired. {TEXT}"}).status_code == 202


def worker_messages(stack: Stack, doc_id: str) -> list[str]:
    """What the worker logged about one document (its JSON log lines carry the id)."""
    messages = []
    for line in (stack.state_dir / "poller.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the poller's own plain lines
        if isinstance(entry, dict) and entry.get("document_id") == doc_id:
            messages.append(str(entry.get("message")))
    return messages


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def test_the_stack_shows_each_client_with_a_clear_token(stack: Stack) -> None:
    assert stack.info["clients"] == TOKENS  # carol's entry is a hash: nothing to show
    assert stack.info["api_token"] == TOKENS["alice"]
    assert "alice: alice-token, bob: bob-token, dave: dave-token" in stack.console()


def test_a_multi_page_pdf_cites_its_text_and_only_its_owner_reads_it(stack: Stack) -> None:
    from tests import files

    pages = [
        "The lighthouse keeper painted the tower red every spring, as the harbour rules said.",
        "The bakery by the quay sold rye bread to the sailors at dawn and closed at noon.",
        "The storm of the century flooded the lower harbour and sank three fishing boats.",
    ]
    data = files.pdf(pages, title="Harbour notes")
    sent = {"file": ("harbour.pdf", data, "application/pdf")}
    with client(stack, "alice") as alice, client(stack, "bob") as bob:
        posted = alice.post("/documents", files=sent)
        assert posted.status_code == 202, posted.text
        doc_id = posted.json()["id"]
        document = wait_settled(alice, doc_id)
        assert document["status"] == "done", document
        assert document["source"]["pages"] == 3
        assert document["method"] in ("abstractive", "extractive")
        sentences = document["sentences"]
        assert sentences
        assert document["grounding"]["supported"] == document["grounding"]["total"]
        end = document["text_chars"]
        whole = alice.get(f"/documents/{doc_id}/text", params={"start": 0, "end": end})
        assert whole.status_code == 200, whole.text
        text = whole.json()["text"]
        assert len(text) == document["text_chars"]
        for sentence in sentences:
            assert sentence["sources"], sentence  # every stored sentence cites the text
            for source in sentence["sources"]:
                assert 0 <= source["start"] < source["end"] <= document["text_chars"]
                span = alice.get(
                    f"/documents/{doc_id}/text",
                    params={"start": source["start"], "end": source["end"]},
                )
                assert span.status_code == 200, span.text
                assert span.json()["text"] == text[source["start"] : source["end"]]
                assert span.json()["text"].strip()
        foreign = bob.get(f"/documents/{doc_id}/text", params={"start": 0, "end": 10})
        assert foreign.status_code == 404
        assert foreign.headers["content-type"] == "application/problem+json"
