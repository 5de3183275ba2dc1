"""Named clients over HTTP: tokens (clear, hashed, rotated), ownership, list, delete and the
per-client rate limit, on the FastAPI app with in-memory fakes."""

import hashlib
from typing import Any

import pytest
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.settings import Settings
from docsum_api.app import ApiSettings, create_app
from docsum_api.auth import (
    Caller,
    ClientToken,
    TokenSettings,
    TokenSource,
    authenticate,
    parse_tokens,
)
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.testclient import TestClient

from tests.conftest import Fakes
from tests.fakes import InMemoryRateLimiter
from tests.unit.test_api import assert_problem

CAROL_TOKEN = "carol-secret"
TOKENS = ",".join(
    [
        "alice:alice-new",
        "alice:alice-old",  # a rotation: both valid
        "bob:bob-token",
        "legacy-token",  # no name: client `default`
        f"carol:sha256:{hashlib.sha256(CAROL_TOKEN.encode()).hexdigest()}",
    ]
)
ALICE = {"Authorization": "Bearer alice-new"}
ALICE_OLD = {"Authorization": "Bearer alice-old"}
BOB = {"Authorization": "Bearer bob-token"}
CAROL = {"Authorization": f"Bearer {CAROL_TOKEN}"}


def bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def test_token_entries_name_their_client() -> None:
    source = TokenSource(TokenSettings.of(Settings(api_token=TOKENS)))
    assert authenticate(bearer("alice-new"), source) == Caller("alice")
    assert authenticate(bearer("alice-old"), source) == Caller("alice")
    assert authenticate(bearer("bob-token"), source) == Caller("bob")
    assert authenticate(bearer("legacy-token"), source) == Caller("default")
    assert authenticate(bearer(CAROL_TOKEN), source) == Caller("carol")


def test_a_hashed_entry_does_not_accept_its_hash_as_the_token() -> None:
    digest = hashlib.sha256(CAROL_TOKEN.encode()).hexdigest()
    source = TokenSource(TokenSettings.of(Settings(api_token=f"carol:sha256:{digest}")))
    with pytest.raises(Exception, match="invalid bearer token"):
        authenticate(bearer(digest), source)
    with pytest.raises(Exception, match="invalid bearer token"):
        authenticate(bearer(f"sha256:{digest}"), source)


def test_malformed_entries_are_skipped_never_accepted() -> None:
    tokens = parse_tokens(
        " alice:a1 , bad name:x, sha256:nothex, a:b:c, :empty-name, carol:sha256:ABC, ,bare"
    )
    assert tokens == [ClientToken("alice", b"a1"), ClientToken("default", b"bare")]
    upper = hashlib.sha256(b"t").hexdigest().upper()
    assert parse_tokens(f"dave:sha256:{upper}") == [
        ClientToken("dave", upper.lower().encode(), hashed=True)
    ]


def test_a_value_with_no_valid_entry_keeps_auth_on() -> None:
    source = TokenSource(TokenSettings.of(Settings(api_token="bad name:token")))
    assert source.enabled
    with pytest.raises(Exception, match="invalid bearer token"):
        authenticate(bearer("token"), source)


@pytest.fixture
def client(fakes: Fakes) -> TestClient:
    settings = Settings(api_token=TOKENS)
    service = DocumentService(
        fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings), fakes.clock
    )
    return TestClient(create_app(ApiSettings.of(settings), service), raise_server_exceptions=False)


def post(client: TestClient, text: str, headers: dict[str, str]) -> Any:
    return client.post("/documents", json={"text": text}, headers=headers)


def test_two_clients_are_isolated(client: TestClient, fakes: Fakes) -> None:
    mine = post(client, "Alice's words.", ALICE)
    assert mine.status_code == 202
    doc_id = mine.json()["id"]
    # A rotated token of the same client is the same client: a duplicate.
    assert post(client, "Alice's  words.", ALICE_OLD).json()["id"] == doc_id
    assert post(client, "Alice's words.", ALICE_OLD).status_code == 200
    # The same text from Bob is Bob's own document.
    theirs = post(client, "Alice's words.", BOB)
    assert theirs.status_code == 202
    assert theirs.json()["id"] != doc_id

    for method, path in (
        ("GET", f"/documents/{doc_id}"),
        ("GET", f"/documents/{doc_id}/text?start=0&end=5"),
        ("POST", f"/documents/{doc_id}/summarize"),
        ("DELETE", f"/documents/{doc_id}"),
    ):
        foreign = client.request(method, path, headers=BOB)
        unknown = client.request(method, path.replace(doc_id, "0" * 32), headers=BOB)
        body = assert_problem(foreign, 404, client)
        assert body["type"] == assert_problem(unknown, 404, client)["type"]
    assert client.get(f"/documents/{doc_id}", headers=ALICE).json()["generation"] == 1
    listed = client.get("/documents", headers=BOB).json()
    assert [d["id"] for d in listed["items"]] == [theirs.json()["id"]]


def test_list_pages_and_filters(client: TestClient, fakes: Fakes) -> None:
    ids = []
    for i in range(3):
        ids.append(post(client, f"Document {i}.", ALICE).json()["id"])
        fakes.clock.advance(seconds=1)
    first = client.get("/documents", params={"limit": 2}, headers=ALICE)
    assert first.status_code == 200
    body = first.json()
    assert [d["id"] for d in body["items"]] == [ids[2], ids[1]]
    assert body["items"][0]["status"] == "queued"
    rest = client.get(
        "/documents", params={"limit": 2, "cursor": body["next_cursor"]}, headers=ALICE
    ).json()
    assert [d["id"] for d in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    none_done = client.get("/documents", params={"status": "done"}, headers=ALICE).json()
    assert none_done == {"items": [], "next_cursor": None}

    assert_problem(client.get("/documents", params={"limit": 101}, headers=ALICE), 422, client)
    assert_problem(client.get("/documents", params={"limit": 0}, headers=ALICE), 422, client)
    assert_problem(client.get("/documents", params={"status": "lost"}, headers=ALICE), 422, client)
    # A cursor is a position in the caller's own listing: Bob sees none of Alice's documents.
    foreign = client.get("/documents", params={"cursor": body["next_cursor"]}, headers=BOB)
    assert foreign.json() == {"items": [], "next_cursor": None}
    for malformed in ("%%%", body["next_cursor"].upper(), body["next_cursor"] + "0"):
        bad = client.get("/documents", params={"cursor": malformed}, headers=ALICE)
        assert_problem(bad, 422, client)


def test_a_wrong_method_names_every_method_of_the_path(client: TestClient) -> None:
    collection = client.request("PUT", "/documents", headers=ALICE)
    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, POST"
    one = client.request("PATCH", f"/documents/{'0' * 32}", headers=ALICE)
    assert one.headers["allow"] == "DELETE, GET"


def test_delete_answers_204_then_the_document_is_gone(client: TestClient, fakes: Fakes) -> None:
    doc_id = post(client, "To be deleted.", ALICE).json()["id"]
    deleted = client.delete(f"/documents/{doc_id}", headers=ALICE)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not fakes.store.objects
    assert_problem(client.get(f"/documents/{doc_id}", headers=ALICE), 404, client)
    assert_problem(client.delete(f"/documents/{doc_id}", headers=ALICE), 404, client)
    assert_problem(client.delete("/documents/not-an-id", headers=ALICE), 422, client)
    # The same text may be submitted again: a new document (202).
    assert post(client, "To be deleted.", ALICE).status_code == 202


def test_rate_limit_is_per_client_with_retry_after(fakes: Fakes) -> None:
    settings = Settings(api_token=TOKENS)
    service = DocumentService(
        fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings), fakes.clock
    )
    limiter = InMemoryRateLimiter(requests=3, window_seconds=60)
    client = TestClient(
        create_app(ApiSettings.of(settings), service, rate_limiter=limiter),
        raise_server_exceptions=False,
    )

    statuses = [client.get("/documents", headers=ALICE).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.get("/documents", headers=ALICE_OLD)  # same client, other token
    body = assert_problem(limited, 429, client)
    assert body["type"] == "urn:docsum:problem:rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert_problem(post(client, "More.", ALICE), 429, client)
    # Bob has his own window; health checks and bad tokens are not counted against anyone.
    assert client.get("/documents", headers=BOB).status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/documents", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_new_routes_and_429_are_in_the_spec(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"get", "post"} <= set(spec["paths"]["/documents"])
    assert "delete" in spec["paths"]["/documents/{document_id}"]
    assert "204" in spec["paths"]["/documents/{document_id}"]["delete"]["responses"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):  # every route that takes a token is rate limited
                assert "429" in operation["responses"], (method, path)
    assert "429" in spec["paths"]["/ready"]["get"]["responses"]
