"""The rules the local stack copies from Lambda and CloudWatch, checked without processes."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from infra.local.metrics import EmfCollector, prometheus_name, split_emf
from infra.local.poller import (
    LONG_POLL_SECONDS,
    EventSourceMapping,
    MappingConfig,
    failed_message_ids,
    lambda_record,
)
from infra.template import load_template

pytestmark = pytest.mark.e2e

BATCH = [{"MessageId": "a"}, {"MessageId": "b"}]


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # Lambda fails the whole batch on a response it cannot trust:
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"wrongKey": "a"}]}, {"a", "b"}),
        ("not an object", {"a", "b"}),
    ],
)
def test_batch_item_failures(response: object, failed: set[str]) -> None:
    assert failed_message_ids(BATCH, response, report_batch_item_failures=True) == failed


def test_response_ignored_without_report_batch_item_failures() -> None:
    response = {"batchItemFailures": [{"itemIdentifier": "a"}]}
    assert failed_message_ids(BATCH, response, report_batch_item_failures=False) == set()


def test_lambda_record_shape() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": '{"x": 1}',
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MD5OfMessageAttributes": "md5a",
        "MessageAttributes": {
            "s": {"StringValue": "v", "DataType": "String"},
            "b": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    record = lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh",
        "body": '{"x": 1}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "s": {
                "stringValue": "v",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "b": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "md5OfMessageAttributes": "md5a",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def test_mapping_config_comes_from_the_template() -> None:
    template = load_template()
    event = template.sqs_event("SummarizeFunction")
    function = template.function("SummarizeFunction")
    config = MappingConfig.from_template(
        "SummarizeFunction", {"SUMMARIZE_QUEUE_URL": "http://q"}, template
    )
    assert config.batch_size == event.batch_size
    assert config.maximum_concurrency == event.maximum_concurrency
    assert config.timeout_seconds == function.timeout
    assert config.handler == function.handler
    assert config.report_batch_item_failures is event.report_batch_item_failures
    assert config.queue_url == "http://q"
    assert config.long_poll_seconds == LONG_POLL_SECONDS == 20  # what Lambda's pollers use


class ReceivesRecorded:
    """What the poller asks of SQS, answered with an empty queue; each long poll recorded."""

    meta = SimpleNamespace(region_name="us-east-1")

    def __init__(self) -> None:
        self.waits: list[int] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.waits.append(request["WaitTimeSeconds"])
        return {}


@pytest.mark.parametrize("seconds", [LONG_POLL_SECONDS, 2])
def test_each_receive_long_polls_as_configured(seconds: int) -> None:
    """The stop of a poller waits out this poll: the e2e stacks shorten it to stop quickly."""
    config = MappingConfig.from_template("SummarizeFunction", {"SUMMARIZE_QUEUE_URL": "http://q"})
    sqs = ReceivesRecorded()
    mapping = EventSourceMapping(dataclasses.replace(config, long_poll_seconds=seconds), sqs)
    assert mapping._receive_batch() == []
    assert sqs.waits == [seconds]


EMF = {
    "_aws": {
        "Timestamp": 1,
        "CloudWatchMetrics": [
            {
                "Namespace": "Docsum",
                "Dimensions": [["service"]],
                "Metrics": [
                    {"Name": "DocumentsAccepted", "Unit": "Count"},
                    {"Name": "ModelTime", "Unit": "Seconds"},
                ],
            }
        ],
    },
    "service": "docsum",
    "DocumentsAccepted": [1.0, 1.0],
    "ModelTime": 2.5,
}


def test_emf_lines_become_prometheus_text() -> None:
    collector = EmfCollector()
    collector.add(EMF)
    collector.add(EMF)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert "# TYPE docsum_documents_accepted_total counter" in text
    assert 'docsum_documents_accepted_total{service="docsum"} 4.0' in text
    assert "# TYPE docsum_model_time_seconds summary" in text
    assert 'docsum_model_time_seconds_sum{service="docsum"} 5.0' in text
    assert 'docsum_model_time_seconds_count{service="docsum"} 2.0' in text


def test_emf_split_from_a_glued_log_line() -> None:
    """Two threads printing at once can leave a metrics object and a log line on one line."""
    log = '{"level": "INFO", "message": "request"}'
    blobs, rest = split_emf(json.dumps(EMF) + log)
    assert blobs == [EMF]
    assert rest == log
    assert split_emf("plain text") == ([], "plain text")


@pytest.mark.parametrize(
    ("name", "unit", "expected"),
    [
        ("LLMErrors_unreachable", "Count", "docsum_llm_errors_unreachable_total"),
        ("EndToEndLatency", "Seconds", "docsum_end_to_end_latency_seconds"),
        ("Size", "None", "docsum_size"),
    ],
)
def test_prometheus_names(name: str, unit: str, expected: str) -> None:
    assert prometheus_name("Docsum", name, unit) == expected
