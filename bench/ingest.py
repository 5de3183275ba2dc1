"""Item 1: `POST /documents` through the API, next to the raw boto3 sequence of the same
storage calls against the same moto server.

What one POST of a new text does in storage (`DocumentService.submit`): DynamoDB GetItem
(consistent; is it a duplicate?), S3 PutObject (the text), DynamoDB PutItem conditional on
`attribute_not_exists(id)` (the record), SQS SendMessage (the summarize request). The baseline
makes exactly these calls, with the same boto3 interfaces and client configuration as the
app, and no HTTP, FastAPI, pydantic or logging around them.

Both sides run in rounds at each concurrency, alternating which goes first (ABBA), so drift
on a noisy machine hits both; throughput is the median over rounds, latencies are pooled.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
from docsum.wiring import boto_config  # the very config the app uses

from bench.corpus import INGEST_SIZES, Document, documents
from bench.stats import latency_summary, median, ratio
from infra.bootstrap import LocalResources
from infra.local.environment import DUMMY_AWS_ENV, REGION

Operation = Callable[[], None]


@dataclass
class Side:
    """One side (API or boto3) at one concurrency: every latency, throughput per round."""

    latencies: list[float] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            **({"first_error": self.first_error} if self.first_error else {}),
            "throughput_per_s": round(median(self.throughputs), 1),
            "throughput_rounds": [round(t, 1) for t in self.throughputs],
            **latency_summary(self.latencies),
        }


class ApiClient:
    """`POST /documents` with new texts of several sizes, over pooled keep-alive connections."""

    def __init__(self, url: str, token: str, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            limits=limits,
            timeout=60,
        )
        self._docs = documents(INGEST_SIZES)
        self._run = uuid.uuid4().hex[:8]
        self._serials = itertools.count()  # next() on it is atomic: threads share it

    def post(self) -> None:
        serial = next(self._serials)
        doc = self._docs[serial % len(self._docs)]
        response = self._http.post(
            "/documents", json={"text": doc.unique(f"api-{self._run}-{serial}"), "title": doc.title}
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /documents answered {response.status_code}: {response.text}")

    def close(self) -> None:
        self._http.close()


class Boto3Sequence:
    """The four storage calls of a new document, straight from boto3."""

    def __init__(self, endpoint: str, resources: LocalResources) -> None:
        credentials = {
            "region_name": REGION,
            "endpoint_url": endpoint,
            "aws_access_key_id": DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "config": boto_config(),
        }
        self._s3 = boto3.client("s3", **credentials)
        self._sqs = boto3.client("sqs", **credentials)
        self._table = boto3.resource("dynamodb", **credentials).Table(resources.table)
        self._bucket = resources.bucket
        self._queue_url = resources.queue_url
        self._docs = documents(INGEST_SIZES)
        self._run = uuid.uuid4().hex[:8]
        self._serials = itertools.count()

    def post(self) -> None:
        serial = next(self._serials)
        doc: Document = self._docs[serial % len(self._docs)]
        text = doc.unique(f"boto3-{self._run}-{serial}")
        doc_id = hashlib.sha256(text.encode()).hexdigest()[:32]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._table.get_item(Key={"id": doc_id}, ConsistentRead=True)
        key = f"documents/{doc_id}.txt"
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=text.encode(),
            ContentType="text/plain; charset=utf-8",
        )
        self._table.put_item(
            Item={
                "id": doc_id,
                "title": doc.title,
                "status": "queued",
                "text_key": key,
                "text_chars": len(text),
                "created_at": now,
                "updated_at": now,
                "enqueued_at": now,
                "generation": 1,
                "attempts": 0,
                "summary_generation": 0,
                "correlation_id": str(uuid.uuid4()),
            },
            ConditionExpression="attribute_not_exists(id)",
        )
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(
                {"document_id": doc_id, "generation": 1, "enqueued_at": now},
                separators=(",", ":"),
            ),
            MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": "-"}},
        )

    def empty_queue(self) -> None:
        """moto's SendMessage slows down as its queue grows (7 ms per send when empty, 15 ms at
        800 messages, here), which real SQS does not: emptied after every batch, so the
        queue never holds more than one batch and both sides see the same moto."""
        self._sqs.purge_queue(QueueUrl=self._queue_url)


def run_batch(operation: Operation, requests: int, concurrency: int, side: Side) -> None:
    """`requests` calls of `operation` from `concurrency` threads; records into `side`."""
    tickets = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        while next(tickets) < requests:
            started = time.perf_counter()
            try:
                operation()
            except Exception as exc:
                with lock:
                    side.errors += 1
                    side.first_error = side.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            elapsed = time.perf_counter() - started
            with lock:
                side.latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    side.throughputs.append(requests / (time.perf_counter() - started))


@dataclass(frozen=True)
class IngestPlan:
    concurrencies: tuple[int, ...]
    requests: dict[int, int]  # per round, per concurrency
    rounds: int
    warmup: int


FULL = IngestPlan((1, 8, 32), {1: 100, 8: 200, 32: 320}, rounds=4, warmup=30)
QUICK = IngestPlan((1, 8, 32), {1: 40, 8: 96, 32: 128}, rounds=2, warmup=10)


def bench_ingest(
    api_url: str,
    token: str,
    endpoint: str,
    resources: LocalResources,
    plan: IngestPlan,
    say: Callable[[str], None],
) -> dict[str, Any]:
    baseline = Boto3Sequence(endpoint, resources)
    results: dict[str, Any] = {"calls_per_post": 4, "rounds": plan.rounds, "by_concurrency": {}}
    for concurrency in plan.concurrencies:
        client = ApiClient(api_url, token, concurrency)
        warm = Side()
        run_batch(client.post, plan.warmup, concurrency, warm)
        run_batch(baseline.post, plan.warmup, concurrency, warm)
        baseline.empty_queue()
        api, raw = Side(), Side()
        for round_ in range(plan.rounds):
            order = [(client.post, api), (baseline.post, raw)]
            if round_ % 2:
                order.reverse()
            for operation, side in order:
                run_batch(operation, plan.requests[concurrency], concurrency, side)
                baseline.empty_queue()
        client.close()
        row: dict[str, Any] = {
            "api": api.summary(),
            "boto3": raw.summary(),
            # Each round's two batches ran back to back: the median of their ratios.
            "ratio": round(
                median(
                    [ratio(a, b) for a, b in zip(api.throughputs, raw.throughputs, strict=True)]
                ),
                3,
            ),
        }
        results["by_concurrency"][str(concurrency)] = row
        say(
            f"ingest c={concurrency}: API {row['api']['throughput_per_s']}/s "
            f"p50 {row['api']['p50_ms']} ms p99 {row['api']['p99_ms']} ms | boto3 "
            f"{row['boto3']['throughput_per_s']}/s p50 {row['boto3']['p50_ms']} ms "
            f"p99 {row['boto3']['p99_ms']} ms | ratio {row['ratio']}"
        )
    return results
