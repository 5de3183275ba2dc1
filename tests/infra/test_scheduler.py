"""The local EventBridge schedule (infra.local.scheduler): the rate comes from template.yaml and
each run invokes the real sweeper handler, which finds a stranded document on moto."""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta

import boto3
import pytest
from docsum.adapters.dynamodb import DynamoDocumentRepository
from docsum.domain.document import Document, utc_now
from docsum.platform.settings import get_settings

from infra.bootstrap import LocalResources
from infra.local.scheduler import Schedule, scheduled_event
from infra.template import ScheduleSpec, TemplateError, load_template
from tests.conftest import receive_all


def test_the_period_is_the_templates_rate() -> None:
    spec = load_template().schedule_event("SweeperFunction")
    assert spec.expression == "rate(5 minutes)"
    assert Schedule("SweeperFunction").period == spec.rate_seconds == 300
    assert ScheduleSpec("e", "rate(1 hour)").rate_seconds == 3600
    with pytest.raises(TemplateError):
        _ = ScheduleSpec("e", "cron(0 12 * * ? *)").rate_seconds
    with pytest.raises(TemplateError):
        load_template().schedule_event("SummarizeFunction")


def test_the_event_has_the_shape_of_the_sample() -> None:
    with open("events/scheduled-sweep.json", encoding="utf-8") as sample:
        expected = json.load(sample)
    event = scheduled_event("docsum-sweeper-function-SweepSchedule")
    assert set(event) == set(expected)
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")


def test_each_run_invokes_the_sweeper_until_stopped(aws_env: LocalResources) -> None:
    get_settings.cache_clear()
    sys.modules.pop("sweep_handler", None)  # a cold start against this test's moto
    long_ago = utc_now() - timedelta(hours=2)
    doc_id = "e" * 32
    DynamoDocumentRepository(boto3.resource("dynamodb").Table(aws_env.table)).create(
        Document(
            id=doc_id, text_key=f"documents/{doc_id}.txt", text_chars=3, created_at=long_ago,
            updated_at=long_ago, enqueued_at=long_ago, due_at=long_ago,
        )
    )  # fmt: skip
    schedule = Schedule("SweeperFunction", every_seconds=0.05)
    assert schedule.run_once() == {"resent": 1, "recovered": 0, "failed": 0}

    runner = threading.Thread(target=schedule.run)
    runner.start()
    try:
        while schedule.runs < 4:
            schedule.stopping.wait(0.01)
    finally:
        schedule.stopping.set()
        runner.join(10)
    assert not runner.is_alive()
    [message] = receive_all(aws_env.queue_url)  # re-sent once, not once per run
    assert json.loads(message["Body"])["document_id"] == doc_id
    get_settings.cache_clear()
