"""Metrics are CloudWatch EMF with the agreed names and units; the request's correlation id
reaches the summarize side's log records."""

import json
import logging
from typing import Any

import pytest
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery, RetryLater
from docsum.platform.observability import EMF_METRICS, flush_metrics, logger

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


def test_pipeline_metrics_names(fakes: Fakes) -> None:
    text = "Some text about cats and dogs, long enough that a short answer summarizes it."
    fakes.service.submit(text, Submission("c"))
    fakes.service.submit(text, Submission("c"))
    fakes.llm.script = [transient("timeout"), "Cats and dogs."]
    request = fakes.queue.sent[0]
    with pytest.raises(RetryLater):  # reported failed, so SQS delivers it again
        fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), 60)
    fakes.worker.process(Delivery(request.model_dump_json(), 2, "rh"), 60)

    counts, durations = fakes.metrics.counts, fakes.metrics.durations
    assert counts["DocumentsAccepted"] == counts["DuplicatesDetected"] == 1
    assert counts["SummariesCompleted"] == counts["LLMErrors_timeout"] == 1
    assert counts["Guard_passed"] == 1
    assert counts["PromptTokens"] > 0
    assert counts["CompletionTokens"] > 0
    assert durations["ModelTime"] == [0.5]
    assert len(durations["EndToEndLatency"]) == 1


def test_emf_lines_carry_names_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    EMF_METRICS.count("DocumentsAccepted")
    EMF_METRICS.count("PromptTokens", 12)
    EMF_METRICS.seconds("ModelTime", 0.5)
    flush_metrics()

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["DocumentsAccepted"] == ("Count", [1.0])
    assert metrics["PromptTokens"] == ("Count", [12.0])
    assert metrics["ModelTime"] == ("Seconds", [0.5])


def test_correlation_id_reaches_the_worker_logs(
    fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    # Format records as they are emitted, with the Powertools JSON formatter: it holds the
    # correlation id and appended keys only while the worker processes the message.
    caplog.handler.setFormatter(logger.registered_formatter)
    fakes.service.submit("Traceable text.", Submission("trace-42"))
    request = fakes.queue.sent[0]
    with caplog.at_level(logging.INFO):
        fakes.worker.process(Delivery(request.model_dump_json(), 1, "rh"), 60)
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    [stored] = [line for line in lines if line["message"] == "summary stored"]
    assert stored["correlation_id"] == "trace-42"
    assert stored["document_id"] == request.document_id
