"""`make smoke` (infra/smoke.py) against the embedded stack: known to work before anyone points
it at a deployed API, and known to fail when the API is not what it expects."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.local.processes import REPO_ROOT
from tests.e2e.support import DOC_TIMEOUT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.llm]


def smoke(stack: Stack, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.smoke",
            "--api-url",
            stack.api_url,
            f"--token={token}",  # any token, even one that starts with "-"
            "--timeout",
            str(DOC_TIMEOUT),
            *extra,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=DOC_TIMEOUT + 60,
        check=False,
    )


def test_smoke_passes_against_the_running_stack(stack: Stack) -> None:
    result = smoke(stack, stack.info["api_token"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    checks = [line.split(":")[0] for line in lines if line.startswith("ok  ")]
    assert checks[:3] == ["ok  GET /health", "ok  no token", "ok  blank text"]
    assert len(checks) == 4
    assert checks[3].startswith("ok  summarized in")
    assert "status done" in result.stdout
    assert lines[-1] == "smoke test passed"


def test_smoke_fails_with_a_wrong_token(stack: Stack) -> None:
    result = smoke(stack, "not-the-token")
    assert result.returncode == 1
    assert "FAIL POST /documents with a blank text: expected 422 (HTTP 401" in result.stderr


def test_smoke_fails_when_the_summary_is_too_long_for_its_limit(stack: Stack) -> None:
    result = smoke(stack, stack.info["api_token"], "--max-summary-chars", "1")
    assert result.returncode == 1
    assert "FAIL the summary fits the limit" in result.stderr
