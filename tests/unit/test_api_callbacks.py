"""`callback_url` over HTTP, in every way a document can be submitted (JSON, a multipart form
with a file or a text field, `POST /uploads`): refused URLs — the policy's, or a receiver the
submission's probe finds redirecting — are the same 422 problem naming the field and the
reason, before anything is stored; an accepted one is stored and shown with the document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from docsum.domain.errors import CallbackUrlRefused, WebhookSendFailed
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.settings import Settings
from docsum.ports.push import WebhookResponse
from docsum.push.callbacks import CallbackPolicy
from docsum_api.app import ApiSettings, create_app
from fastapi.testclient import TestClient

from tests.conftest import Fakes
from tests.fakes import ScriptedCallbackProbe
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


def client_for(
    fakes: Fakes, *, local: bool, probe: ScriptedCallbackProbe | None = None
) -> TestClient:
    settings = Settings(api_token=None, callback_allow_loopback_http=local)
    policy = CallbackPolicy(allow_loopback_http=local, resolver=dns)
    service = DocumentService(
        fakes.store,
        fakes.repository,
        fakes.queue,
        IntakeLimits.of(settings),
        uploads=fakes.store,
        callbacks=policy,
        callback_probe=probe,
    )
    return TestClient(create_app(ApiSettings.of(settings), service), raise_server_exceptions=False)


WAYS = ["json", "multipart-file", "multipart-text", "upload"]


def submit(client: TestClient, way: str, url: str) -> httpx.Response:
    """The same document request, `callback_url` included, sent one of the `WAYS`."""
    if way == "json":
        return client.post("/documents", json={"text": TEXT, "callback_url": url})
    if way == "multipart-file":
        sent: dict[str, Any] = {"file": ("fox.txt", TEXT.encode(), "text/plain")}
        return client.post("/documents", files={**sent, "callback_url": (None, url)})
    if way == "multipart-text":
        sent = {"text": (None, TEXT), "callback_url": (None, url)}
        return client.post("/documents", files=sent)
    upload = {"filename": "fox.txt", "content_type": "text/plain", "size": 44, "callback_url": url}
    return client.post("/uploads", json=upload)


def assert_nothing_stored(fakes: Fakes) -> None:
    assert fakes.repository.items == {}
    assert fakes.store.objects == {}
    assert fakes.store.files == {}
    assert fakes.store.presigned == []
    assert fakes.queue.sent == []


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


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/iam/", "not a public address"),
        ("https://redirect-to-vpc.example.com/hook", "10.0.3.7"),
        ("http://hooks.example.com/hook", "scheme must be https"),
    ],
)
def test_every_way_of_submitting_refuses_with_the_same_problem(
    fakes: Fakes, way: str, url: str, reason: str
) -> None:
    client = client_for(fakes, local=False)
    body = assert_problem(submit(client, way, url), 422, client)
    assert body["type"] == "urn:docsum:problem:callback-url-refused"
    assert body["detail"].startswith("callback_url: ")
    assert reason in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "callback_url"]
    assert_nothing_stored(fakes)


@pytest.mark.parametrize("way", WAYS)
def test_every_way_of_submitting_stores_and_shows_the_callback(fakes: Fakes, way: str) -> None:
    client = client_for(fakes, local=False)
    url = "https://hooks.example.com/docsum"
    response = submit(client, way, url)
    assert response.status_code in (201, 202), response.text
    [stored] = fakes.repository.items.values()
    assert stored.callback_url == url  # the worker notifies from the record
    assert client.get(response.headers["Location"]).json()["callback_url"] == url


@pytest.mark.parametrize("way", ["multipart-file", "multipart-text"])
def test_an_empty_form_callback_url_is_a_validation_problem(fakes: Fakes, way: str) -> None:
    client = client_for(fakes, local=False)
    body = assert_problem(submit(client, way, ""), 422, client)
    assert body["errors"][0]["loc"] == ["body", "callback_url"]
    assert_nothing_stored(fakes)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("location", "reason"),
    [
        (
            "https://169.254.169.254/",
            "redirects to https://169.254.169.254/, which is refused: '169.254.169.254' "
            "resolves to 169.254.169.254, not a public address",
        ),
        (
            "https://hooks.example.com/v2",
            "redirects (HTTP 302) to https://hooks.example.com/v2; webhooks are never "
            "redirected: give the final URL",
        ),
    ],
)
def test_a_receiver_that_redirects_at_submission_is_refused(
    fakes: Fakes, way: str, location: str, reason: str
) -> None:
    probe = ScriptedCallbackProbe([WebhookResponse(302, location=location)])
    client = client_for(fakes, local=False, probe=probe)
    body = assert_problem(submit(client, way, "https://hooks.example.com/docsum"), 422, client)
    assert body["detail"] == f"callback_url: {reason}"
    assert body["type"] == "urn:docsum:problem:callback-url-refused"
    assert probe.probes == [("https://hooks.example.com/docsum", ("93.184.216.34",))]
    assert_nothing_stored(fakes)


@pytest.mark.parametrize("way", WAYS)
def test_a_receiver_that_is_down_at_submission_is_accepted(fakes: Fakes, way: str) -> None:
    probe = ScriptedCallbackProbe([WebhookSendFailed("93.184.216.34: timed out")])
    client = client_for(fakes, local=False, probe=probe)
    response = submit(client, way, "https://hooks.example.com/docsum")
    assert response.status_code in (201, 202), response.text
    assert len(probe.probes) == 1
