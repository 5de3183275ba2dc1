"""Fixtures for the infrastructure tests: the parsed template, its SAM transform, IaC tools."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from infra.template import REPO_ROOT, Template, load_template

IAC_BIN = REPO_ROOT / ".tools" / "iac" / "bin"


def _iac_tool(name: str) -> Path:
    """A tool from the IaC venv (`make iac-tools` builds it); a missing tool fails the test."""
    path = IAC_BIN / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: run `make tools` (pip install -r "
            "infra/requirements-iac.txt into .tools/iac)"
        )
    return path


def _run_tool(
    args: Sequence[str | Path], *, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


OFFLINE_AWS_ENV = {
    # Region + dummy credentials + no telemetry/update checks: the tools must not need a network.
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "SAM_CLI_TELEMETRY": "0",
    "SAM_CLI_DISABLE_UPDATE_CHECK": "1",
}


@pytest.fixture(scope="session")
def iac_tool() -> Callable[[str], Path]:
    return _iac_tool


@pytest.fixture(scope="session")
def run_tool() -> Callable[..., subprocess.CompletedProcess[str]]:
    return _run_tool


@pytest.fixture(scope="session")
def offline_aws_env() -> dict[str, str]:
    return dict(OFFLINE_AWS_ENV)


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


class _NoManagedPolicies:
    """The translator's managed-policy loader, for templates that name no managed policies
    in `Policies` (ours use inline statements; SAM adds its own policies by ARN)."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="session")
def transformed(template: Template) -> dict[str, Any]:
    """template.yaml after the AWS::Serverless transform, as CloudFormation would receive it."""
    return sam_transform(template)


def sam_transform(
    template: Template, parameter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The AWS::Serverless transform of ``template`` (with these parameter values, if any)."""
    from samtranslator.translator.transform import transform

    raw: dict[str, Any] = json.loads(json.dumps(template.raw))
    for logical_id, resource in raw["Resources"].items():
        props = resource.get("Properties", {})
        # The translator wants what `sam package` leaves: S3 URIs instead of local folders.
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-artifacts/{logical_id}.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        result: dict[str, Any] = transform(raw, parameter_values or {}, _NoManagedPolicies())
        return result
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port (its own thread), for code that talks HTTP."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
