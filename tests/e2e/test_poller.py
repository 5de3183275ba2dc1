"""``python -m infra.local.poller`` on its own: what a stop does to messages it has received."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from infra.bootstrap import create_resources
from infra.local.environment import aws_client, aws_environment
from infra.local.processes import REPO_ROOT, spawn, wait_until

pytestmark = pytest.mark.e2e


def test_a_stop_releases_what_the_pending_long_poll_returns(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """SIGTERM while both slots wait in their 20 s long polls; a message that arrives then is
    received by one of them, and must be made visible again at once, not after the queue's
    visibility timeout (an hour in template.yaml)."""
    resources = create_resources(
        endpoint_url=aws_endpoint, name_prefix=f"stop{uuid.uuid4().hex[:8]}"
    )
    env = {
        **os.environ,
        **resources.environment(),
        **aws_environment(aws_endpoint),
        "PYTHONPATH": str(REPO_ROOT),
    }
    sqs = aws_client("sqs", aws_endpoint)
    log = tmp_path / "poller.log"
    with spawn("poller", [sys.executable, "-m", "infra.local.poller"], env, log) as poller:
        # Each slot starts its execution environment, then its long poll.
        wait_until("two warm environments", lambda: log.read_text().count("cold start") == 2, 120)
        poller.proc.send_signal(signal.SIGTERM)
        wait_until("the stop", lambda: "finishing in-flight invocations" in log.read_text(), 10)
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody="arrives after the stop")
        assert poller.proc.wait(60) == 0, log.read_text()
    output = log.read_text()
    assert "released 1 received-but-unstarted message(s)" in output
    assert "record(s)" not in output  # no invocation started after the stop
    messages = sqs.receive_message(
        QueueUrl=resources.queue_url, WaitTimeSeconds=0, AttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in messages] == ["arrives after the stop"]
    # Received by the poller (by each slot whose poll was still pending) before ours.
    assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) >= 2
