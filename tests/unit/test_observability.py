"""Metrics are CloudWatch EMF with the agreed names and units; the request's correlation id
reaches the summarize side's log records."""

import json
import logging
from typing import Any

import pytest
from docsum.observability import flush_metrics, logger
from docsum.worker import Delivery

from tests.conftest import Fakes
from tests.fakes import transient


def emitted_metrics(output: str) -> dict[str, tuple[str, list[float]]]:
    """{name: (unit, values)} from the EMF lines in captured stdout."""
    found: dict[str, tuple[str, list[float]]] = {}
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob: dict[str, Any] = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "Docsum"
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                values = values if isinstance(values, list) else [values]
                found[metric["Name"]] = (metric["Unit"], values)
    return found


def test_pipeline_metrics_names_and_units(fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    fakes.service.submit("Some text.", None, "c")
    fakes.service.submit("Some text.", None, "c")
    fakes.llm.script = [transient("timeout"), "A summary."]
    request = fakes.queue.sent[0]
    with pytest.raises(Exception):  # noqa: B017, PT011 - RetryLater: reported, retried
        fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), 60)
    fakes.worker.process(Delivery(request.model_dump_json(), 2, "rh"), 60)
    flush_metrics()

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["DocumentsAccepted"] == ("Count", [1.0])
    assert metrics["DuplicatesDetected"] == ("Count", [1.0])
    assert metrics["SummariesCompleted"] == ("Count", [1.0])
    assert metrics["LLMErrors_timeout"] == ("Count", [1.0])
    assert metrics["ModelTime"] == ("Seconds", [0.5])
    assert metrics["EndToEndLatency"][0] == "Seconds"
    assert metrics["PromptTokens"][0] == metrics["CompletionTokens"][0] == "Count"


def test_correlation_id_reaches_the_worker_logs(
    fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    # Format records as they are emitted, with the Powertools JSON formatter: it holds the
    # correlation id and appended keys only while the worker processes the message.
    caplog.handler.setFormatter(logger.registered_formatter)
    fakes.service.submit("Traceable text.", None, "trace-42")
    request = fakes.queue.sent[0]
    with caplog.at_level(logging.INFO):
        fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), 60)
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    [stored] = [line for line in lines if line["message"] == "summary stored"]
    assert stored["correlation_id"] == "trace-42"
    assert stored["document_id"] == request.document_id
