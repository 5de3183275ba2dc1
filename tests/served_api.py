"""The ingest app served over HTTP with the in-memory fakes and the real worker use case (a
scripted model) behind it: what the command line and the web page are tested against."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.ports.rate_limit import RateLimiter
from docsum_api.app import ApiSettings, create_app

from tests.cli_runner import docsum
from tests.conftest import Fakes
from tests.http_servers import serving_app

TOKEN = "cli-token"


@dataclass
class ServedApi:
    url: str
    fakes: Fakes
    worker_paused: threading.Event

    def run(
        self, *args: str, token: str | None = TOKEN, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        auth = ["--token", token] if token else []
        return docsum(*args, "--api-url", self.url, *auth, stdin=stdin)


@contextmanager
def serving(
    fakes: Fakes, rate_limiter: RateLimiter | None = None, **settings: Any
) -> Iterator[ServedApi]:
    """The ingest app under uvicorn on a free port, and a thread that delivers every queued
    message to the worker use case, as the queue would."""
    chosen = Settings(
        api_token=TOKEN,
        **{"max_document_chars": 2000, "summarize_queue_url": "queue", **settings},
    )
    service = DocumentService(
        fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(chosen), uploads=fakes.store
    )
    app = create_app(ApiSettings.of(chosen), service, rate_limiter=rate_limiter)
    stop = threading.Event()
    paused = threading.Event()

    def deliver() -> None:
        delivered = 0
        while not stop.is_set():
            while not paused.is_set() and delivered < len(fakes.queue.sent):
                body = fakes.queue.sent[delivered].model_dump_json()
                fakes.worker.process(Delivery(body, 1, f"rh-{delivered}"), lease_seconds=60)
                delivered += 1
            time.sleep(0.05)

    delivering = threading.Thread(target=deliver)
    delivering.start()
    try:
        with serving_app(app) as url:
            yield ServedApi(url, fakes, paused)
    finally:
        stop.set()
        delivering.join(10)
