"""Webhook delivery: Standard Webhooks signatures (verified with the specification's library),
retries with the same webhook-id, parking, the policy re-checked at delivery, and the real
HTTP sender against a loopback receiver (timeouts, no redirects, body cap)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from docsum.adapters.http_webhook import Urllib3WebhookSender
from docsum.domain.errors import WebhookSendFailed
from docsum.domain.messages import WebhookMessage
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings
from docsum.push.callbacks import CallbackPolicy
from docsum.push.webhooks import (
    WebhookDeliverer,
    WebhookOutcome,
    WebhookRetries,
    new_webhook_secret,
    parse_webhook_secrets,
    signature_headers,
)
from standardwebhooks import Webhook

from infra.local.environment import client_names, generated_webhook_secrets
from tests.fakes import InMemoryWebhookQueue, ScriptedWebhookSender
from tests.webhook_receiver import running_receiver

SECRET = new_webhook_secret()
NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def message(url: str = "https://hooks.example.com/h", owner: str = "default") -> WebhookMessage:
    return WebhookMessage(
        webhook_id="msg_abc_1_done",
        owner=owner,
        url=url,
        type="document.summarized",
        timestamp=NOW,
        data={"id": "abc", "status": "done", "summary": "Short."},
    )


def delivery(msg: WebhookMessage, receive_count: int = 1) -> Delivery:
    return Delivery(msg.model_dump_json(), receive_count, "rh-9")


def dns(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "flip.example.com": ["10.9.9.9"]}[host]


def deliverer(
    sender: object,
    queue: InMemoryWebhookQueue,
    settings: Settings,
    secrets: dict[str, list[str]] | None = None,
    policy: CallbackPolicy | None = None,
) -> WebhookDeliverer:
    table = {"default": [SECRET]} if secrets is None else secrets
    return WebhookDeliverer(
        sender,  # type: ignore[arg-type]
        lambda client: table.get(client, []),
        policy or CallbackPolicy(allow_loopback_http=False, resolver=dns),
        queue,
        WebhookRetries.of(settings),
        clock=lambda: datetime.now(UTC),
    )


def test_secrets_parse_per_client_and_refuse_other_forms() -> None:
    other = new_webhook_secret()
    assert parse_webhook_secrets(f"default:{SECRET}, acme:{SECRET},acme:{other}") == {
        "default": [SECRET],
        "acme": [SECRET, other],
    }
    assert parse_webhook_secrets("") == {}
    for bad in ("acme", "acme:secret", ":" + SECRET, "acme:whsec_!!"):
        with pytest.raises(ValueError, match="client:whsec_"):
            parse_webhook_secrets(bad)
    assert len(base64.b64decode(SECRET.removeprefix("whsec_"))) == 24


def test_a_delivery_is_signed_per_standard_webhooks(settings: Settings) -> None:
    sender, queue = ScriptedWebhookSender([200]), InMemoryWebhookQueue()
    msg = message()
    assert deliverer(sender, queue, settings).deliver(delivery(msg)) is WebhookOutcome.DELIVERED

    [(url, addresses, body, headers)] = sender.requests
    assert (url, addresses) == (msg.url, ("93.184.216.34",))
    assert headers["webhook-id"] == "msg_abc_1_done"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    payload = Webhook(SECRET).verify(body, headers)
    assert payload == {
        "type": "document.summarized",
        "timestamp": "2026-12-02T05:00:00Z",
        "data": msg.data,
    }
    with pytest.raises(Exception, match="signature"):
        Webhook(new_webhook_secret()).verify(body, headers)


def test_during_a_rotation_every_secret_signs(settings: Settings) -> None:
    newer = new_webhook_secret()
    sender = ScriptedWebhookSender([200])
    deliverer(sender, InMemoryWebhookQueue(), settings, {"default": [SECRET, newer]}).deliver(
        delivery(message())
    )
    [(_, _, body, headers)] = sender.requests
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(body, headers)
    Webhook(newer).verify(body, headers)


@pytest.mark.parametrize(
    "answer", [500, 503, 404, 302, WebhookSendFailed("timed out"), WebhookSendFailed("refused")]
)
def test_anything_but_2xx_is_retried_with_backoff_and_the_same_id(
    answer: int | Exception, settings: Settings
) -> None:
    sender, queue = ScriptedWebhookSender([answer, 204]), InMemoryWebhookQueue()
    worker = deliverer(sender, queue, settings)
    with pytest.raises(RetryLater):
        worker.deliver(delivery(message(), receive_count=2))
    assert queue.retries == [("rh-9", settings.retry_base_seconds * 2)]
    assert worker.deliver(delivery(message(), receive_count=3)) is WebhookOutcome.DELIVERED
    first, second = (headers for _, _, _, headers in sender.requests)
    assert first["webhook-id"] == second["webhook-id"]
    assert queue.dead_letters == []


def test_a_name_that_now_resolves_privately_is_not_called(settings: Settings) -> None:
    sender, queue = ScriptedWebhookSender(), InMemoryWebhookQueue()
    with pytest.raises(RetryLater, match=r"10\.9\.9\.9"):
        deliverer(sender, queue, settings).deliver(delivery(message("https://flip.example.com/")))
    assert sender.requests == []


def test_unsendable_messages_are_parked(settings: Settings) -> None:
    sender, queue = ScriptedWebhookSender(), InMemoryWebhookQueue()
    worker = deliverer(sender, queue, settings)
    assert worker.deliver(Delivery("{not json", 1, "rh")) is WebhookOutcome.PARKED
    assert worker.deliver(delivery(message(owner="nobody"))) is WebhookOutcome.PARKED
    assert [reason for _, reason in queue.dead_letters] == [
        queue.dead_letters[0][1],
        "no webhook secret for client 'nobody'",
    ]
    assert queue.dead_letters[0][1].startswith("malformed message")
    assert sender.requests == []


# ------------------------------------------------------------------ the real sender, loopback


def loopback_deliverer(settings: Settings, queue: InMemoryWebhookQueue) -> WebhookDeliverer:
    return deliverer(
        Urllib3WebhookSender(timeout_seconds=1.0, max_response_bytes=1024),
        queue,
        settings,
        policy=CallbackPolicy(allow_loopback_http=True),
    )


def test_a_receiver_that_fails_twice_then_recovers_accepts_one_delivery(
    settings: Settings,
) -> None:
    queue = InMemoryWebhookQueue()
    with running_receiver(SECRET, [500, 503, 200]) as receiver:
        msg = message(receiver.url)
        worker = loopback_deliverer(settings, queue)
        for attempt in (1, 2):
            with pytest.raises(RetryLater, match="receiver answered 5"):
                worker.deliver(delivery(msg, attempt))
        assert worker.deliver(delivery(msg, 3)) is WebhookOutcome.DELIVERED
        assert worker.deliver(delivery(msg, 4)) is WebhookOutcome.DELIVERED  # a repeat
    assert receiver.accepted_ids() == ["msg_abc_1_done"]
    assert {a["webhook-id"] for a in receiver.attempts} == {"msg_abc_1_done"}
    assert len(receiver.attempts) == 4
    assert receiver.rejected == []


def test_a_hanging_receiver_times_out_quickly(settings: Settings) -> None:
    with running_receiver(SECRET, [("hang", 5)]) as receiver:
        started = time.monotonic()
        with pytest.raises(RetryLater, match=r"(?i)timed? ?out"):
            loopback_deliverer(settings, InMemoryWebhookQueue()).deliver(
                delivery(message(receiver.url))
            )
        assert time.monotonic() - started < 3


def test_a_redirect_is_not_followed(settings: Settings) -> None:
    to_metadata = ("redirect", "http://169.254.169.254/latest")
    with running_receiver(SECRET, [to_metadata]) as receiver, pytest.raises(RetryLater) as raised:
        loopback_deliverer(settings, InMemoryWebhookQueue()).deliver(
            delivery(message(receiver.url))
        )
    assert "answered 302" in str(raised.value)
    assert len(receiver.attempts) == 1


def test_only_the_capped_part_of_a_large_answer_is_read() -> None:
    with running_receiver(SECRET, [("big", 5_000_000)]) as receiver:
        sender = Urllib3WebhookSender(timeout_seconds=2.0, max_response_bytes=1024)
        response = sender.post(receiver.url, ("127.0.0.1",), b"{}", {"webhook-id": "x"})
    assert (response.status, len(response.body)) == (200, 1024)


def test_the_sender_connects_to_the_checked_address_not_the_name() -> None:
    """The URL names a host that does not resolve; the checked address is what is used."""
    with running_receiver(SECRET, [204]) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.invalid:{port}/hooks/docsum"
        headers = signature_headers("msg_1", datetime.now(UTC), "{}", [SECRET])
        response = Urllib3WebhookSender(2.0, 1024).post(url, ("127.0.0.1",), b"{}", headers)
    assert response.status == 204
    assert receiver.accepted_ids() == ["msg_1"]
    assert receiver.attempts[0]["host"] == f"hooks.invalid:{port}"


def test_the_local_stack_gives_each_client_of_api_token_a_secret() -> None:
    tokens = "alice:t1, bob:sha256:" + "a" * 64 + ",alice:t2,bare-token,sha256:" + "b" * 64
    assert client_names(tokens) == ["alice", "bob", "default"]
    secrets = parse_webhook_secrets(generated_webhook_secrets(tokens))
    assert sorted(secrets) == ["alice", "bob", "default"]
    assert all(len(s) == 1 and s[0].startswith("whsec_") for s in secrets.values())
    assert list(parse_webhook_secrets(generated_webhook_secrets(""))) == ["default"]
