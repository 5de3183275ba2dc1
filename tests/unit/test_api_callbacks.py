"""`callback_url` over HTTP: refused URLs are a 422 problem naming the field and the reason,
before anything is stored; an accepted one is shown with the document."""

from __future__ import annotations

import pytest
from docsum.callbacks import CallbackPolicy
from docsum.documents import DocumentService
from docsum.errors import CallbackUrlRefused
from docsum.settings import Settings
from fastapi.testclient import TestClient
from ingest_api import create_app

from tests.conftest import Fakes
from tests.unit.test_api import assert_problem

TEXT = "The quick brown fox jumps over the lazy dog."


def dns(host: str, port: int) -> list[str]:
    """Stand-in DNS: a public receiver, and names that lead somewhere private."""
    answers = {
        "hooks.example.com": ["93.184.216.34"],
        # A name whose answer points at the metadata service or the VPC (DNS rebinding).
        "redirect-to-metadata.example.com": ["169.254.169.254"],
        "redirect-to-vpc.example.com": ["93.184.216.34", "10.0.3.7"],
    }
    if host not in answers:
        raise CallbackUrlRefused(f"host {host!r} does not resolve")
    return answers[host]


def client_for(fakes: Fakes, *, local: bool) -> TestClient:
    settings = Settings(api_token=None, callback_allow_loopback_http=local)
    policy = CallbackPolicy(allow_loopback_http=local, resolver=dns)
    service = DocumentService(
        fakes.store, fakes.repository, fakes.queue, settings, callbacks=policy
    )
    return TestClient(create_app(settings, service), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.8/hook", "not a public address"),
        ("https://192.168.1.20/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/iam/", "not a public address"),
        ("https://[fd00:ec2::254]/", "not a public address"),
        ("https://[::ffff:10.0.0.1]/", "not a public address"),
        ("https://127.0.0.1:8443/hook", "not a public address"),
        ("https://redirect-to-metadata.example.com/hook", "169.254.169.254"),
        ("https://redirect-to-vpc.example.com/hook", "10.0.3.7"),
        ("http://hooks.example.com/hook", "scheme must be https"),
        ("http://127.0.0.1:9000/hook", "scheme must be https"),
        ("https://hooks.example.com@10.0.0.1/", "user-info"),
        ("https://nowhere.invalid/", "does not resolve"),
    ],
)
def test_cloud_mode_refuses_with_422_and_stores_nothing(
    fakes: Fakes, url: str, reason: str
) -> None:
    client = client_for(fakes, local=False)
    response = client.post("/documents", json={"text": TEXT, "callback_url": url})
    body = assert_problem(response, 422, client)
    assert body["detail"].startswith("callback_url: ")
    assert reason in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "callback_url"]
    assert body["type"] == "urn:docsum:problem:callback-url-refused"
    assert fakes.repository.items == {}
    assert fakes.store.objects == {}
    assert fakes.queue.sent == []


@pytest.mark.parametrize("url", ["", 42, "x" * 2049])
def test_malformed_callback_values_are_validation_problems(fakes: Fakes, url: object) -> None:
    client = client_for(fakes, local=False)
    response = client.post("/documents", json={"text": TEXT, "callback_url": url})
    assert assert_problem(response, 422, client)["errors"][0]["loc"] == ["body", "callback_url"]


def test_an_accepted_callback_is_shown_with_the_document(fakes: Fakes) -> None:
    client = client_for(fakes, local=False)
    url = "https://hooks.example.com/docsum"
    posted = client.post("/documents", json={"text": TEXT, "callback_url": url})
    assert posted.status_code == 202
    assert posted.json()["callback_url"] == url
    got = client.get(posted.headers["Location"]).json()
    assert got["callback_url"] == url
    assert client.post("/documents", json={"text": "No hook."}).json()["callback_url"] is None


def test_local_mode_accepts_loopback_http(fakes: Fakes) -> None:
    client = client_for(fakes, local=True)
    response = client.post(
        "/documents", json={"text": TEXT, "callback_url": "http://127.0.0.1:9000/hook"}
    )
    assert response.status_code == 202
    refused = client.post("/documents", json={"text": "Other.", "callback_url": "http://10.0.0.1/"})
    assert_problem(refused, 422, client)
