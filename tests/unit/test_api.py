"""The HTTP contract, on the FastAPI app with in-memory fakes behind it."""

import logging
from typing import Any

import jsonschema
import pytest
from docsum.domain.document import Status
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.settings import Settings
from docsum_api.app import ApiSettings, create_app
from docsum_api.dependencies import get_service
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Fakes

TOKENS = "current-token,previous-token"
AUTH = {"Authorization": "Bearer current-token"}


@pytest.fixture
def client(fakes: Fakes) -> TestClient:
    settings = Settings(api_token=TOKENS, max_document_chars=1000)
    service = DocumentService(fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings))
    return TestClient(create_app(ApiSettings.of(settings), service), raise_server_exceptions=False)


def assert_problem(response: Any, status: int, client: TestClient) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    jsonschema.validate(body, schema)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def test_post_answers_202_with_location_and_id(client: TestClient) -> None:
    response = client.post("/documents", json={"text": "Hello there.", "title": "Hi"}, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/documents/{body['id']}"


def test_same_text_again_answers_200_with_the_same_id(client: TestClient) -> None:
    first = client.post("/documents", json={"text": "Same  text"}, headers=AUTH)
    again = client.post("/documents", json={"text": "Same text "}, headers=AUTH)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]


def test_get_returns_every_contract_field(client: TestClient, fakes: Fakes) -> None:
    doc_id = client.post("/documents", json={"text": "Body."}, headers=AUTH).json()["id"]
    stored = fakes.repository.items[doc_id]
    fakes.repository.items[doc_id] = stored.model_copy(
        update={"status": Status.DONE, "summary": "Short.", "model": "fake:1b"}
    )
    body = client.get(f"/documents/{doc_id}", headers=AUTH).json()
    for field in (
        "id",
        "title",
        "status",
        "summary",
        "summary_chars",
        "model",
        "created_at",
        "updated_at",
        "attempts",
        "error",
    ):
        assert field in body
    assert (body["status"], body["summary"], body["summary_chars"]) == ("done", "Short.", 6)
    assert body["created_at"].endswith("Z")


def test_resummarize_answers_202_and_keeps_the_old_summary(
    client: TestClient, fakes: Fakes
) -> None:
    doc_id = client.post("/documents", json={"text": "Body."}, headers=AUTH).json()["id"]
    fakes.repository.items[doc_id] = fakes.repository.items[doc_id].model_copy(
        update={"status": Status.DONE, "summary": "Old.", "summary_generation": 1}
    )
    response = client.post(f"/documents/{doc_id}/summarize", headers=AUTH)
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["summary"]) == ("queued", "Old.")
    assert len(fakes.queue.sent) == 2


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"content": "{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"json": {"text": 42}}, 422),
        ({"json": {"title": "no text"}}, 422),
        ({"json": {"text": ""}}, 422),
        ({"json": {"text": " \n\t "}}, 422),
        ({"json": {"text": "ok", "title": "t" * 301}}, 422),
        ({"json": ["text"]}, 422),
        ({"json": {"text": "x" * 1001}}, 413),
        ({"content": "plain text", "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"\x00\x01", "headers": {"content-type": "application/octet-stream"}}, 415),
    ],
)
def test_bad_input_gets_a_problem_never_a_5xx(
    client: TestClient, request_args: dict[str, Any], status: int
) -> None:
    headers = {**AUTH, **request_args.pop("headers", {})}
    response = client.post("/documents", headers=headers, **request_args)
    assert_problem(response, status, client)


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    assert_problem(client.get("/documents/" + "0" * 32, headers=AUTH), 404, client)
    assert_problem(client.get("/documents/not-an-id", headers=AUTH), 422, client)
    assert_problem(client.post("/documents/" + "0" * 32 + "/summarize", headers=AUTH), 404, client)


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_problem(client.get("/nowhere"), 404, client)
    assert_problem(client.delete("/documents", headers=AUTH), 405, client)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic current-token"},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_wrong_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/documents", json={"text": "x"}, headers=headers)
    assert_problem(response, 401, client)
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_rotated_token_is_accepted(client: TestClient) -> None:
    for token in TOKENS.split(","):
        response = client.get(
            "/documents/" + "0" * 32, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 404


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] not in ("", "bad id with spaces")
    problem = client.get("/documents/" + "0" * 32, headers={**AUTH, "X-Request-ID": "r-9"})
    assert problem.json()["request_id"] == "r-9"


def test_each_call_is_logged_once_without_token_or_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "Confidential paragraph about the merger."
    with caplog.at_level(logging.INFO):
        client.post(
            "/documents", json={"text": secret_text}, headers={**AUTH, "X-Request-ID": "log-1"}
        )
    access = [r for r in caplog.records if r.getMessage() == "request"]
    assert len(access) == 1
    record = access[0].__dict__
    assert (record["method"], record["path"], record["status"]) == ("POST", "/documents", 202)
    assert record["document_id"]
    assert record["latency_ms"] >= 0
    everything = " ".join(str(r.__dict__) for r in caplog.records)
    assert "current-token" not in everything
    assert secret_text not in everything


def test_error_responses_are_documented_as_problem_json(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in spec["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_readiness_reports_each_dependency(fakes: Fakes) -> None:
    settings = Settings()
    service = DocumentService(fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings))

    def down() -> None:
        raise ConnectionError("refused")

    healthy = TestClient(
        create_app(ApiSettings.of(settings), service, {"s3": lambda: None}, {"ollama": down})
    )
    ready = healthy.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"s3": "ok", "ollama": "failed"}

    def served() -> str:
        return "gemma3:1b (your Ollama)"

    described = TestClient(
        create_app(ApiSettings.of(settings), service, {"s3": lambda: None}, {"ollama": served})
    )
    assert described.get("/ready").json()["checks"]["ollama"] == "ok: gemma3:1b (your Ollama)"

    broken = TestClient(
        create_app(ApiSettings.of(settings), service, {"s3": lambda: None, "sqs": down})
    )
    body = assert_problem(broken.get("/ready"), 503, broken)
    assert "sqs" in body["detail"]
    assert body["checks"]["s3"] == "ok"


def test_title_limit_is_the_setting(fakes: Fakes) -> None:
    settings = Settings(max_title_chars=5)
    service = DocumentService(fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings))
    client = TestClient(create_app(ApiSettings.of(settings), service))
    body = assert_problem(
        client.post("/documents", json={"text": "Body.", "title": "Longer"}), 422, client
    )
    assert body["detail"].startswith("title: at most 5 characters")
    assert client.post("/documents", json={"text": "Body.", "title": "Short"}).status_code == 202


def test_redoc_is_off_and_docs_stay_open(client: TestClient) -> None:
    assert_problem(client.get("/redoc"), 404, client)
    assert client.get("/docs").status_code == 200


def test_an_unexpected_error_is_a_500_problem_that_says_retrying_is_safe(
    client: TestClient,
) -> None:
    class Broken:
        def get(self, doc_id: str) -> None:
            raise RuntimeError("disk on fire")

    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_service] = Broken
    body = assert_problem(client.get("/documents/" + "0" * 32, headers=AUTH), 500, client)
    assert body["detail"] == "internal error; retrying is safe"
    assert "disk on fire" not in str(body)


# --- summary options: in the JSON body, shown, part of the identity --------------------------

OPTIONS_TEXT = "The council met on Monday and discussed the transit plan at length."


def test_options_are_accepted_and_shown(client: TestClient) -> None:
    body = {"text": OPTIONS_TEXT, "length": "short", "format": "bullets", "language": "de"}
    response = client.post("/documents", json=body, headers=AUTH)
    assert response.status_code == 202
    shown = response.json()
    assert shown["options"] == {"length": "short", "format": "bullets", "language": "de"}
    assert shown["language"] is None  # detected when it is summarized
    assert shown["summary_verbatim"] is False
    again = client.get(response.headers["location"], headers=AUTH).json()
    assert again["options"] == shown["options"]


def test_defaults_are_long_paragraph_auto(client: TestClient) -> None:
    shown = client.post("/documents", json={"text": OPTIONS_TEXT}, headers=AUTH).json()
    assert shown["options"] == {"length": "long", "format": "paragraph", "language": "auto"}


def test_same_text_other_options_is_another_document_same_options_the_same(
    client: TestClient, fakes: Fakes
) -> None:
    first = client.post("/documents", json={"text": OPTIONS_TEXT}, headers=AUTH)
    short = client.post("/documents", json={"text": OPTIONS_TEXT, "length": "short"}, headers=AUTH)
    again = client.post("/documents", json={"text": OPTIONS_TEXT, "length": "short"}, headers=AUTH)
    assert (first.status_code, short.status_code, again.status_code) == (202, 202, 200)
    assert first.json()["id"] != short.json()["id"] == again.json()["id"]
    assert len(fakes.store.objects) == 1  # the text is stored once
    assert len(fakes.queue.sent) == 2


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("length", "tiny", "'short', 'medium' or 'long'"),
        ("format", "table", "'paragraph' or 'bullets'"),
        ("language", "klingon", "'auto', 'en', 'de', 'fr', 'es', 'it', 'pt' or 'nl'"),
        ("language", "EN", "'auto', 'en', 'de'"),
    ],
)
def test_unknown_values_are_a_422_naming_the_field_and_the_allowed_values(
    client: TestClient, field: str, value: str, allowed: str
) -> None:
    response = client.post("/documents", json={"text": OPTIONS_TEXT, field: value}, headers=AUTH)
    problem = assert_problem(response, 422, client)
    assert problem["detail"].startswith(f"body.{field}: ")
    assert allowed in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", field]


# --- GET /documents/{id}/text: the spans summary sentences cite -----------------------------

SPAN_TEXT = "Cats sleep most of the day. Dogs bark at strangers."


def test_text_returns_the_span_a_citation_points_at(client: TestClient) -> None:
    doc_id = client.post("/documents", json={"text": SPAN_TEXT}, headers=AUTH).json()["id"]
    response = client.get(f"/documents/{doc_id}/text?start=28&end=51", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "id": doc_id,
        "start": 28,
        "end": 51,
        "text": "Dogs bark at strangers.",
    }


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("start=5&end=5", "end (5) must be greater than start (5)"),
        ("start=9&end=3", "end (3) must be greater than start (9)"),
        ("start=0&end=52", "end (52) is past the text's 51 characters"),
        ("start=0&end=10001", "at most 10000 characters at a time"),
        ("start=-1&end=3", "start"),
        ("start=0", "end"),
        ("start=x&end=3", "start"),
    ],
)
def test_text_with_a_bad_range_gets_a_problem(client: TestClient, query: str, detail: str) -> None:
    doc_id = client.post("/documents", json={"text": SPAN_TEXT}, headers=AUTH).json()["id"]
    body = assert_problem(
        client.get(f"/documents/{doc_id}/text?{query}", headers=AUTH), 422, client
    )
    assert detail in body["detail"] or detail in str(body.get("errors"))
    assert body["errors"][0]["loc"][0] == "query"


def test_text_of_an_unknown_or_deleted_document_is_404(client: TestClient, fakes: Fakes) -> None:
    missing = client.get("/documents/" + "0" * 32 + "/text?start=0&end=3", headers=AUTH)
    assert_problem(missing, 404, client)
    doc_id = client.post("/documents", json={"text": SPAN_TEXT}, headers=AUTH).json()["id"]
    fakes.store.objects.clear()  # the text deleted while its record is still read
    gone = client.get(f"/documents/{doc_id}/text?start=0&end=3", headers=AUTH)
    assert_problem(gone, 404, client)
