"""Webhook-side use case: one SQS delivery of a `WebhookMessage` → one signed POST.

Signed per Standard Webhooks with the specification's own library: `webhook-id` (the same on
every retry), `webhook-timestamp` (this attempt's time, so receivers can refuse replays) and
`webhook-signature` (`v1,<base64 HMAC-SHA256>` over `id.timestamp.body`, one per secret of the
client: during a rotation both old and new sign). A 2xx answer is delivered; anything else — a
timeout, a refused connection, a 3xx (never followed), 4xx or 5xx — is retried with backoff,
and after the queue's maxReceiveCount SQS moves the message to the webhook DLQ. A message that
can never be sent (malformed, or its client has no secret) is parked there at once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from secrets import token_bytes

from pydantic import ValidationError
from standardwebhooks import Webhook

from docsum.domain.document import utc_now
from docsum.domain.errors import CallbackUrlRefused, WebhookSendFailed
from docsum.domain.messages import WebhookMessage
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.observability import EMF_METRICS, logger
from docsum.platform.settings import SettingsSlice
from docsum.ports.metrics import MetricsRecorder
from docsum.ports.push import WebhookSender
from docsum.ports.queues import WebhookQueue
from docsum.push.callbacks import USER_AGENT, CallbackPolicy

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
SecretLookup = Callable[[str], list[str]]
"""A client's webhook secrets (`whsec_…`), newest last; empty when it has none."""


def parse_webhook_secrets(entries: str) -> dict[str, list[str]]:
    """`client:whsec_…` entries, comma-separated; a client listed twice has two secrets (a
    rotation: both sign). Raises ValueError on an entry that is not of that form."""
    secrets: dict[str, list[str]] = {}
    for entry in filter(None, (e.strip() for e in entries.split(","))):
        client, sep, secret = entry.partition(":")
        if not sep or not client.strip() or not _is_webhook_secret(secret.strip()):
            raise ValueError(f"webhook secret entries are client:{SECRET_PREFIX}<base64>")
        secrets.setdefault(client.strip(), []).append(secret.strip())
    return secrets


def _is_webhook_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        return bool(base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True))
    except (binascii.Error, ValueError):
        return False


def new_webhook_secret() -> str:
    """A fresh secret in the specification's `whsec_` form (24 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(24)).decode()


def signature_headers(
    message_id: str, timestamp: datetime, body: str, secrets: list[str]
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(message_id, timestamp, body) for secret in secrets
        ),
    }


class WebhookOutcome(StrEnum):
    DELIVERED = "delivered"
    PARKED = "parked"  # moved to the webhook dead-letter queue at once


@dataclass(frozen=True)
class WebhookRetries(SettingsSlice):
    """The deliverer's settings: its backoff between attempts."""

    retry_base_seconds: int
    retry_max_seconds: int

    def backoff_seconds(self, attempt: int) -> int:
        """Delay before attempt `attempt + 1`: retry_base_seconds × 2^(attempt−1), capped. A
        delivery is retried a bounded number of times; the summarize worker's retries run on
        time instead (`docsum.platform.retry`), to ride out an hour-long model outage."""
        return min(self.retry_max_seconds, self.retry_base_seconds << (max(attempt, 1) - 1))


class WebhookDeliverer:
    def __init__(
        self,
        sender: WebhookSender,
        secrets: SecretLookup,
        policy: CallbackPolicy,
        queue: WebhookQueue,
        settings: WebhookRetries,
        clock: Callable[[], datetime] = utc_now,
        metrics: MetricsRecorder = EMF_METRICS,
    ) -> None:
        self._sender = sender
        self._secrets = secrets
        self._policy = policy
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._metrics = metrics

    def deliver(self, delivery: Delivery) -> WebhookOutcome:
        try:
            message = WebhookMessage.model_validate_json(delivery.body)
        except ValidationError as exc:
            return self._park(delivery, f"malformed message: {exc.errors()[0]['msg']}")
        logger.set_correlation_id(message.correlation_id)
        logger.append_keys(webhook_id=message.webhook_id)
        try:
            return self._deliver(message, delivery)
        finally:
            logger.remove_keys(["webhook_id"])

    def _deliver(self, message: WebhookMessage, delivery: Delivery) -> WebhookOutcome:
        secrets = self._secrets(message.owner)
        if not secrets:
            return self._park(delivery, f"no webhook secret for client {message.owner!r}")
        try:
            # Again at each attempt: the name may resolve elsewhere than at submission.
            target = self._policy.check(message.url)
        except CallbackUrlRefused as exc:
            return self._retry(delivery, f"callback URL refused: {exc}")
        body = message.payload()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signature_headers(message.webhook_id, self._clock(), body, secrets),
        }
        try:
            response = self._sender.post(target.url, target.addresses, body.encode(), headers)
        except WebhookSendFailed as exc:
            return self._retry(delivery, str(exc))
        if not 200 <= response.status < 300:
            return self._retry(delivery, f"receiver answered {response.status}")
        self._metrics.count("WebhooksDelivered")
        logger.info("webhook delivered", extra={"status": response.status})
        return WebhookOutcome.DELIVERED

    def _retry(self, delivery: Delivery, reason: str) -> WebhookOutcome:
        delay = self._settings.backoff_seconds(delivery.receive_count)
        self._queue.retry_later(delivery.receipt_handle, delay)
        self._metrics.count("WebhookAttemptsFailed")
        logger.warning(
            "webhook attempt failed, retrying",
            extra={"attempt": delivery.receive_count, "retry_in_seconds": delay, "reason": reason},
        )
        raise RetryLater(reason)

    def _park(self, delivery: Delivery, reason: str) -> WebhookOutcome:
        self._queue.dead_letter(delivery.body, reason)
        self._metrics.count("WebhooksParked")
        logger.error("webhook parked in the DLQ", extra={"reason": reason})
        return WebhookOutcome.PARKED
