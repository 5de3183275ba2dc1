"""Schemathesis against the running API's own OpenAPI spec, with the bearer token.

Runs the schemathesis 4.x CLI (`schemathesis run`) against uvicorn serving the real
`docsum_api.handler.app` over a moto server: every phase (examples, coverage, fuzzing, stateful),
every check (`--checks all`: no 5xx, status codes, content types, headers and bodies as the spec
says, negative data rejected, positive data accepted, auth not ignored, ...), derandomized.

Why the CLI and not `@schema.parametrize()`: the schema must come from the API started by a
fixture, and `schemathesis.pytest.from_fixture` reads the private `Item._nodeid`, which pytest 9.2
no longer has (AttributeError on every test). The CLI's NDJSON report has every case, every
check and every request/response, so failures are reported here with the request that caused
them.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.conftest import RunningApi

pytestmark = pytest.mark.fuzz

MIN_CASES = 1000
# Per operation and phase: about 2,100 cases over the 10 operations (400 gave 3,500 and took
# 2.5 minutes on 2 cores, a tenth of the whole suite).
MAX_EXAMPLES = 200
RUN_TIMEOUT_SECONDS = 300
# Statuses a schema cannot rule out for file routes (see the file's comments).
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True)
class FailedCheck:
    operation: str
    check: str
    message: str
    request: str
    response: str

    def __str__(self) -> str:
        return (
            f"{self.operation}: {self.check} failed: {self.message}\n"
            f"  request:  {self.request}\n  response: {self.response}"
        )


def _decode(payload: dict[str, Any] | None, limit: int = 600) -> str:
    if not payload:
        return ""
    raw = base64.b64decode(payload.get("$base64", "")) if "$base64" in payload else b""
    return raw.decode("utf-8", errors="replace")[:limit]


def _describe_request(interaction: dict[str, Any] | None) -> str:
    if interaction is None:
        return "(not sent)"
    request = interaction["request"]
    body = _decode(request.get("body"))
    return f"{request['method']} {request['uri']} headers={request.get('headers')} body={body!r}"


def _describe_response(interaction: dict[str, Any] | None) -> str:
    response = (interaction or {}).get("response")
    if response is None:
        return "(none)"
    body = _decode(response.get("content"))
    return f"{response['status_code']} headers={response.get('headers')} body={body!r}"


def last_traceback(log: str, lines: int = 12) -> str:
    """The end of the last Python traceback in a log: where it was raised, and what."""
    start = log.rfind("Traceback (most recent call last)")
    if start < 0:
        return "(none)"
    block: list[str] = []
    for line in log[start:].splitlines()[1:]:
        block.append(line)
        if line and not line[0].isspace():  # the exception line ends the traceback
            break
    return "\n".join(block[-lines:])


@dataclass
class Report:
    cases: Counter[str]
    failures: list[FailedCheck]
    checks_run: set[str]


def read_report(path: Path) -> Report:
    """Cases per operation and every failed check, from schemathesis' NDJSON report."""
    report = Report(Counter(), [], set())
    for line in path.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        for case_id, node in recorder.get("cases", {}).items():
            case = node["value"]
            report.cases[f"{case['method']} {case['path']}"] += 1
            for check in recorder.get("checks", {}).get(case_id, []):
                report.checks_run.add(check["name"])
                if check["status"] != "success":
                    interaction = recorder.get("interactions", {}).get(case_id)
                    info = check.get("failure_info") or {}
                    failure = info.get("failure") or {}
                    report.failures.append(
                        FailedCheck(
                            operation=f"{case['method']} {case['path']}",
                            check=check["name"],
                            message=f"{failure.get('title', '')}: {failure.get('message', '')}"[
                                :800
                            ],
                            request=_describe_request(interaction),
                            response=_describe_response(interaction),
                        )
                    )
    return report


def test_generated_cases_find_no_server_errors_or_spec_violations(
    running_api: RunningApi, tmp_path: Path
) -> None:
    report_dir = tmp_path / "report"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{running_api.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {running_api.token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        "--no-color",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
        cwd=tmp_path,  # no other schemathesis.toml
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    reports = sorted(report_dir.glob("*.ndjson"))
    assert reports, f"no NDJSON report written:\n{output}"
    report = read_report(reports[-1])

    with urllib.request.urlopen(f"{running_api.url}/openapi.json", timeout=10) as response:  # noqa: S310
        spec = json.load(response)
    operations = {f"{m.upper()} {path}" for path, item in spec["paths"].items() for m in item}
    total = sum(report.cases.values())
    documented = {op: n for op, n in report.cases.items() if op in operations}
    print(
        f"\nschemathesis: {total} cases: {documented}, {total - sum(documented.values())} with "
        f"undocumented methods; checks: {', '.join(sorted(report.checks_run))}"
    )
    kinds: dict[tuple[str, str], FailedCheck] = {}
    for failure in report.failures:
        kinds.setdefault((failure.operation, failure.check), failure)
    assert not kinds, (
        f"{len(report.failures)} failed checks; the first of each kind:\n\n"
        + "\n\n".join(str(f) for f in kinds.values())
        + f"\n\nthe API's last traceback:\n{last_traceback(running_api.api.log(200_000))}"
    )
    assert result.returncode == 0, output
    assert total >= MIN_CASES, f"only {total} cases generated: {dict(report.cases)}"
    assert set(report.cases) >= operations, f"untested: {operations - set(report.cases)}"
    for check in ("not_a_server_error", "response_schema_conformance", "content_type_conformance"):
        assert check in report.checks_run
    assert running_api.api.alive(), running_api.api.log()
