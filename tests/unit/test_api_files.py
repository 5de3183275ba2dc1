"""The HTTP contract of files: multipart `POST /documents` and `POST /uploads`."""

from __future__ import annotations

from typing import Any

import pytest
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.settings import Settings
from docsum_api.app import ApiSettings, create_app
from fastapi.testclient import TestClient

from tests import files
from tests.conftest import Fakes
from tests.unit.test_api import AUTH, TOKENS, assert_problem


@pytest.fixture
def settings_files() -> Settings:
    return Settings(api_token=TOKENS, max_direct_upload_bytes=200_000, max_upload_bytes=1_000_000)


@pytest.fixture
def client(fakes: Fakes, settings_files: Settings) -> TestClient:
    service = DocumentService(
        fakes.store,
        fakes.repository,
        fakes.queue,
        IntakeLimits.of(settings_files),
        uploads=fakes.store,
    )
    return TestClient(
        create_app(ApiSettings.of(settings_files), service), raise_server_exceptions=False
    )


def test_multipart_pdf_answers_202_then_200_for_the_same_bytes(
    client: TestClient, fakes: Fakes
) -> None:
    data = files.pdf(title="Meta title")
    sent = {"file": ("moon.pdf", data, "application/pdf")}
    first = client.post("/documents", files=sent, data={"title": "Mine"}, headers=AUTH)
    assert first.status_code == 202
    body = first.json()
    assert first.headers["location"] == f"/documents/{body['id']}"
    assert (body["status"], body["title"]) == ("queued", "Mine")
    assert body["source"] == {
        "kind": "pdf",
        "filename": "moon.pdf",
        "bytes": len(data),
        "pages": None,
        "content_type": "application/pdf",
        "url": None,
        "fetched_generation": None,
    }
    assert body["extraction"] is None  # not read yet
    again = client.post("/documents", files=sent, headers=AUTH)
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    assert len(fakes.queue.sent) == 1


def test_with_a_file_a_text_field_is_ignored(client: TestClient, fakes: Fakes) -> None:
    sent = {"file": ("a.txt", b"Words from the file.", "text/plain"), "text": (None, "Other.")}
    response = client.post("/documents", files=sent, headers=AUTH)
    assert response.status_code == 202
    assert response.json()["source"]["kind"] == "text"
    assert list(fakes.store.files.values()) == [b"Words from the file."]
    sent["text"] = (None, "")
    assert_problem(client.post("/documents", files=sent, headers=AUTH), 422, client)


def test_multipart_text_field_works_like_json(client: TestClient) -> None:
    form = client.post("/documents", data={"text": "Plain words."}, files={}, headers=AUTH)
    # httpx sends a urlencoded body when there are no files: force multipart with a dummy.
    assert form.status_code == 415
    multipart = client.post(
        "/documents", files={"text": (None, "Plain words."), "title": (None, "T")}, headers=AUTH
    )
    assert multipart.status_code == 202
    assert multipart.json()["title"] == "T"
    as_json = client.post("/documents", json={"text": "Plain  words."}, headers=AUTH)
    assert (as_json.status_code, as_json.json()["id"]) == (200, multipart.json()["id"])


@pytest.mark.parametrize("name", ["", "titel", "callback"])
def test_an_unknown_form_field_is_a_422_naming_it(
    client: TestClient, fakes: Fakes, name: str
) -> None:
    sent = {"text": (None, "Plain words."), name: (None, "x")}
    body = assert_problem(client.post("/documents", files=sent, headers=AUTH), 422, client)
    assert f"unknown form field {name!r}" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", name]
    with_file = {"file": ("a.txt", b"Words.", "text/plain"), name: (None, "x")}
    assert_problem(client.post("/documents", files=with_file, headers=AUTH), 422, client)
    assert fakes.queue.sent == []


@pytest.mark.parametrize(
    ("send", "status", "says"),
    [
        ({"files": {"file": ("x.gif", files.png("GIF"), "image/gif")}}, 415, "image/gif"),
        ({"files": {"file": ("x.zip", files.plain_zip(), "application/zip")}}, 415, "ZIP"),
        ({"files": {"file": ("empty.txt", b"", "text/plain")}}, 415, "empty"),
        ({"files": {"title": (None, "no file")}}, 422, "file"),
        (
            {"files": {"file": ("a.txt", b"x" * 150_000 + b"y" * 60_000, "text/plain")}},
            413,
            "/uploads",
        ),
        (
            {"files": {"file": ("a.txt", b"x" * 300_000, "text/plain")}},
            413,
            "/uploads",
        ),
    ],
)
def test_bad_files_get_a_problem_never_a_5xx(
    client: TestClient, send: dict[str, Any], status: int, says: str
) -> None:
    body = assert_problem(client.post("/documents", headers=AUTH, **send), status, client)
    assert says in body["detail"]
    if status == 415:
        assert "application/pdf" in body["detail"]


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff", "webp"])
def test_photos_and_scans_are_accepted_as_files(client: TestClient, kind: str) -> None:
    picture = files.png(kind.upper())
    sent = {"file": (f"page.{kind}", picture, f"image/{kind}")}
    response = client.post("/documents", files=sent, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["source"]["kind"] == kind
    request = {"filename": f"page.{kind}", "content_type": f"image/{kind}", "size": 900_000}
    assert client.post("/uploads", json=request, headers=AUTH).status_code == 201


def test_upload_answers_201_with_a_presigned_post_and_a_location(
    client: TestClient, fakes: Fakes
) -> None:
    request = {"filename": "big.pdf", "content_type": "application/pdf", "size": 900_000}
    response = client.post("/uploads", json=request, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "location", "upload", "expires_at"}
    assert response.headers["location"] == body["location"] == f"/documents/{body['id']}"
    assert body["upload"]["fields"]["key"] == f"uploads/{body['id']}"
    assert fakes.store.presigned[0][1:3] == ("application/pdf", 900_000)
    status = client.get(body["location"], headers=AUTH).json()
    assert (status["status"], status["source"]["kind"]) == ("uploading", "pdf")


@pytest.mark.parametrize(
    ("request_body", "status", "says"),
    [
        ({"filename": "a.gif", "content_type": "image/gif", "size": 10}, 415, "image/gif"),
        ({"filename": "a.pdf", "content_type": "application/pdf", "size": 1_000_001}, 413, ""),
        ({"filename": "a.pdf", "content_type": "application/pdf", "size": 0}, 422, "size"),
        ({"filename": "", "content_type": "application/pdf", "size": 5}, 422, "filename"),
        ({"content_type": "application/pdf", "size": 5}, 422, "filename"),
    ],
)
def test_bad_upload_requests_get_a_problem(
    client: TestClient, request_body: dict[str, Any], status: int, says: str
) -> None:
    body = assert_problem(client.post("/uploads", json=request_body, headers=AUTH), status, client)
    assert says in body["detail"]
    assert "/uploads" not in body["detail"]  # not "use /uploads" when this is /uploads


def test_the_spec_documents_both_bodies_and_the_upload_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/documents"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = spec["components"]["schemas"]["DocumentFileForm"]["properties"]
    assert form["file"]["format"] == "binary"
    assert "201" in spec["paths"]["/uploads"]["post"]["responses"]
    assert "uploading" in spec["components"]["schemas"]["Status"]["enum"]
