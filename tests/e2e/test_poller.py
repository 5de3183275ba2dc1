"""``python -m infra.poller`` on its own: what a stop does to messages it has received."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from infra.bootstrap import create_resources
from infra.stack import aws_environment
from tests.e2e.support import REPO_ROOT, wait_for

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
    sqs = boto3.client(
        "sqs",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    log = tmp_path / "poller.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.poller"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Each slot starts its execution environment, then its long poll.
        wait_for("two warm environments", lambda: log.read_text().count("cold start") == 2, 120)
        proc.send_signal(signal.SIGTERM)
        wait_for("the stop", lambda: "finishing in-flight invocations" in log.read_text(), 10)
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody="arrives after the stop")
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "released 1 received-but-unstarted message(s)" in output
    assert "record(s)" not in output  # no invocation started after the stop
    messages = sqs.receive_message(
        QueueUrl=resources.queue_url, WaitTimeSeconds=0, AttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in messages] == ["arrives after the stop"]
    # Received by the poller (by each slot whose poll was still pending) before ours.
    assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) >= 2
