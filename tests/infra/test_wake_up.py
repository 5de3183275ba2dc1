"""Scaling up from zero hosts: which signal rises when documents arrive and no model host runs.

The real handlers and worker run against the emulated queue (moto) with the model host
unreachable, delivering messages as Lambda's SQS poller does. The worker hides each message
for a backoff (ChangeMessageVisibility), so the queue's *visible* count, the only signal the
wake-up alarm used to read, stays 0: that alarm never fired. What rises is the worker's own
count of documents it held back for a missing host (EMF ``HeldForModelHost``) and the
in-flight count; the wake-up alarm of template.yaml, evaluated on what was observed, fires.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.settings import Settings, get_settings

from infra.bootstrap import LocalResources
from infra.template import Template
from tests.conftest import Fakes, receive_all
from tests.fakes import transient
from tests.unit.test_handlers import context, load_event, sqs_event_from

HELD = "HeldForModelHost"


def closed_port() -> int:
    """A loopback port nothing listens on: the model host is not there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def no_host(aws_env: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("API_TOKEN", "local-dev-token")
    monkeypatch.delenv("API_TOKEN_PARAMETER", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{closed_port()}")
    get_settings.cache_clear()
    yield importlib.reload(importlib.import_module("docsum_api.handler"))
    get_settings.cache_clear()


def emf_counts(stdout: str, name: str) -> list[tuple[float, str, dict[str, str]]]:
    """(value, namespace, dimensions) of every EMF record of metric `name` in `stdout`."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            names = [m["Name"] for m in directive["Metrics"]]
            if name in names:
                dimensions = {d: record[d] for group in directive["Dimensions"] for d in group}
                value = record[name]
                total = sum(value) if isinstance(value, list) else value
                found.append((float(total), directive["Namespace"], dimensions))
    return found


def queue_counts(queue_url: str) -> tuple[int, int]:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def metric_math(expression: str, values: dict[str, float]) -> float:
    """CloudWatch metric math for one datapoint: the subset the wake-up alarm uses (IF, FILL,
    AND, OR, comparisons, +), each metric id one value (None: no datapoint)."""
    python = re.sub(r"\bAND\b", " and ", re.sub(r"\bOR\b", " or ", expression))
    assert set(re.findall(r"\b[A-Z]+\b", python)) <= {"IF", "FILL"}, expression

    def if_(condition: Any, when_true: float, when_false: float) -> float:
        return when_true if condition else when_false

    def fill(value: float | None, default: float) -> float:
        return default if value is None else value

    namespace = {"IF": if_, "FILL": fill, "__builtins__": {}}
    return float(eval(python, namespace, dict(values)))  # noqa: S307 - our own template


def wake_up_alarm(template: Template) -> dict[str, Any]:
    props: dict[str, Any] = template.raw["Resources"]["ModelHostWakeUpAlarm"]["Properties"]
    return props


def test_with_no_host_documents_are_held_in_flight_and_the_worker_counts_them(
    no_host: ModuleType,
    aws_env: LocalResources,
    template: Template,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ingest = no_host
    for n in range(3):
        event = load_event("post-document.json")
        event["body"] = json.dumps({"text": f"Document {n}: queues decouple slow work."})
        assert ingest.handler(event, context())["statusCode"] == 202
    assert queue_counts(aws_env.queue_url) == (3, 0)  # waiting, until the poller takes them

    summarize = importlib.reload(importlib.import_module("summarize_handler"))
    capsys.readouterr()
    messages = receive_all(aws_env.queue_url)  # the poller, within a second of each send
    result = summarize.handler(sqs_event_from(messages), context())
    # Every one handed back (a batch item failure) and hidden for its backoff ...
    assert len(result["batchItemFailures"]) == 3
    # ... so nothing is visible: the old wake-up signal stays 0 while three documents wait.
    waiting, in_flight = queue_counts(aws_env.queue_url)
    assert (waiting, in_flight) == (0, 3)

    # The worker's own signal: one held document per delivery, on the first delivery already.
    held = emf_counts(capsys.readouterr().out, HELD)
    assert sum(value for value, _, _ in held) == 3
    # A redelivery while the breaker is open (no call to the host at all) counts again.
    summarize.handler(sqs_event_from(messages[:1]), context())
    assert sum(v for v, _, _ in emf_counts(capsys.readouterr().out, HELD)) == 1

    # The alarm reads exactly that metric: the namespace and dimensions the worker emits.
    alarm = wake_up_alarm(template)
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    (_, namespace, dimensions) = held[0]
    assert stats["held"]["MetricName"] == HELD
    assert stats["held"]["Namespace"] == namespace
    assert {d["Name"]: d["Value"] for d in stats["held"]["Dimensions"]} == dimensions
    environment = template.raw["Globals"]["Function"]["Environment"]["Variables"]
    assert namespace == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert dimensions == {"service": environment["POWERTOOLS_SERVICE_NAME"]}
    assert stats["hosts"]["MetricName"] == "DesiredTaskCount"
    assert stats["waiting"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert stats["in_flight"]["MetricName"] == "ApproximateNumberOfMessagesNotVisible"

    # Evaluated on what was observed, with no host wanted: the alarm fires ...
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")]
    observed = {"held": 3.0, "waiting": float(waiting), "in_flight": float(in_flight)}
    assert metric_math(expression, {**observed, "hosts": None}) == 1  # no datapoint yet
    assert metric_math(expression, {**observed, "hosts": 0.0}) == 1
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    # ... on the worker's count alone (the queue's metrics lag a few minutes) ...
    assert metric_math(expression, {"held": 3.0, "waiting": 0, "in_flight": 0, "hosts": 0}) == 1
    # ... while the old alarm's expression, on the same observation, stayed quiet.
    old = "IF(FILL(hosts, 0) < 1 AND waiting > 0, 1, 0)"
    assert metric_math(old, {"hosts": 0.0, "waiting": float(waiting)}) == 0
    # Once a host is wanted, or with nothing to do, it is quiet: one step, not one per minute.
    assert metric_math(expression, {**observed, "hosts": 1.0}) == 0
    assert metric_math(expression, {"held": None, "waiting": 0, "in_flight": 0, "hosts": 0}) == 0
    assert alarm["AlarmActions"] == [{"Ref": "ModelHostWakeUpScaling"}]


def test_scale_to_zero_is_the_default(template: Template) -> None:
    assert template.parameter_default("ModelHostMinCount") == 0
    target = template.raw["Resources"]["ModelHostScalableTarget"]["Properties"]
    assert target["MinCapacity"] == {"Ref": "ModelHostMinCount"}


@pytest.fixture
def settings() -> Settings:
    """The fakes' settings with the template's receive budget (a backstop, not the point)."""
    return Settings(summarize_queue_url="queue", api_token=None, max_receive_count=30)


def test_only_a_missing_or_broken_host_counts_as_held(fakes: Fakes) -> None:
    """A slow host (timeout) is up: waking another one is the backlog scaling's job."""
    fakes.service.submit("Cats sleep. Dogs bark.", Submission("corr-1", title="Pets"))
    request = fakes.queue.sent[-1]
    for receive, (kind, held) in enumerate((("timeout", 0), ("unreachable", 1)), 1):
        fakes.llm.script = [transient(kind)]
        delivery = Delivery(request.model_dump_json(), receive, f"rh-{receive}")
        with pytest.raises(RetryLater):
            fakes.worker.process(delivery, lease_seconds=600)
        assert fakes.metrics.counts.get(HELD, 0) == held, kind
        if not held:
            fakes.clock.advance(seconds=fakes.queue.retries[-1][1])
    # The breaker is open now: a delivery meanwhile never calls the host, and counts too.
    calls = len(fakes.llm.calls)
    with pytest.raises(RetryLater):
        fakes.worker.process(Delivery(request.model_dump_json(), 3, "rh-3"), lease_seconds=600)
    assert len(fakes.llm.calls) == calls
    assert fakes.metrics.counts[HELD] == 2
