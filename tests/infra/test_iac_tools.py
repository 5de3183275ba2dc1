"""The IaC linters and validators accept template.yaml and docker-compose.yml (offline).

Tools come from .tools/iac (make iac-tools) and Debian's docker-compose; a missing tool fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.rules import check_parameters
from infra.template import REPO_ROOT, Template

pytestmark = pytest.mark.iac

Tool = Callable[[str], Path]
Run = Callable[..., subprocess.CompletedProcess[str]]

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"


def test_cfn_lint(iac_tool: Tool, run_tool: Run, offline_aws_env: dict[str, str]) -> None:
    result = run_tool([iac_tool("cfn-lint"), "template.yaml"], env=offline_aws_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint(iac_tool: Tool, run_tool: Run, offline_aws_env: dict[str, str]) -> None:
    result = run_tool(
        [iac_tool("sam"), "validate", "--lint", "--template-file", "template.yaml"],
        env=offline_aws_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_validate_translates_the_template(
    iac_tool: Tool, run_tool: Run, offline_aws_env: dict[str, str]
) -> None:
    """Plain `sam validate` runs the SAM transform too (region + dummy credentials, offline)."""
    result = run_tool(
        [iac_tool("sam"), "validate", "--template-file", "template.yaml"],
        env=offline_aws_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_reports_no_failed_checks(iac_tool: Tool, run_tool: Run) -> None:
    result = run_tool(
        [
            iac_tool("checkov"),
            "--file",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",  # offline: no Prisma Cloud guidelines/metadata fetch
        ],
        env={"BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report: Any = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], [(c["check_id"], c["resource"]) for c in failed]
    assert all(not r["results"]["parsing_errors"] for r in reports)
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert skipped, "expected the documented suppressions to be reported as skipped"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        assert len(comment.split()) >= 12, (check["check_id"], check["resource"], comment)
    passed = [c for r in reports for c in r["results"]["passed_checks"]]
    assert len(passed) >= 10


# ------------------------------------------------------------------------------ compose


def _compose_tool() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose missing: apt-get install -y --no-install-recommends docker-compose"
        )
    return path


@pytest.fixture(scope="module")
def compose(run_tool: Run) -> dict[str, Any]:
    """The file as docker-compose itself resolves it (variables, defaults, normalisation)."""
    result = run_tool(
        [_compose_tool(), "-f", COMPOSE_FILE, "config"],
        env={"LOCALSTACK_AUTH_TOKEN": "", "API_TOKENS": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_localstack(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert localstack["image"] == LOCALSTACK_IMAGE
    env = localstack["environment"]
    network = env["LAMBDA_DOCKER_NETWORK"]
    # The named network must exist under exactly that name, and LocalStack must be on it.
    assert compose["networks"][network]["name"] == network
    assert network in localstack["networks"]
    assert "LOCALSTACK_AUTH_TOKEN" in env
    volumes = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in localstack["volumes"]
    ]
    assert any(v.startswith("/var/run/docker.sock:/var/run/docker.sock") for v in volumes)
    assert any(":/var/lib/localstack" in v for v in volumes)
    assert "healthcheck" in localstack
    assert "_localstack/health" in " ".join(localstack["healthcheck"]["test"])
    # The header comment tells how to run later tags (they need an auth token).
    assert "LOCALSTACK_AUTH_TOKEN" in COMPOSE_FILE.read_text().split("services:")[0]


def test_compose_ollama(compose: dict[str, Any]) -> None:
    ollama = compose["services"]["ollama"]
    assert os.path.realpath(ollama["build"]["context"]) == str(REPO_ROOT / "ollama-host")
    assert any(
        str(p).startswith("127.0.0.1:11434:11434") or p.get("target") == 11434
        for p in ollama["ports"]
        if isinstance(p, (str, dict))
    )
    # The image's own check: a real one-token generation (ollama-healthcheck.sh).
    assert ollama["healthcheck"]["test"] == ["CMD", "/usr/local/bin/ollama-healthcheck.sh"]
    # The models volume is where the image keeps them (baked-in model + later pulls).
    dockerfile = (REPO_ROOT / "ollama-host" / "Dockerfile").read_text()
    match = re.search(r"OLLAMA_MODELS=(\S+)", dockerfile)
    assert match, "ollama-host/Dockerfile no longer sets OLLAMA_MODELS"
    targets = [v.split(":")[1] if isinstance(v, str) else v["target"] for v in ollama["volumes"]]
    assert match.group(1) in targets
    network = compose["services"]["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
    assert network in ollama["networks"]  # Lambda containers reach http://ollama:11434


def test_compose_deployer_passes_every_template_parameter(
    compose: dict[str, Any], template: Template
) -> None:
    deployer = compose["services"]["deployer"]
    assert deployer["depends_on"]["localstack"]["condition"] == "service_healthy"
    script = deployer["command"][-1]
    assert (REPO_ROOT / script).is_file()
    assert os.access(REPO_ROOT / script, os.X_OK)
    env = deployer["environment"]
    overrides = dict(pair.split("=", 1) for pair in env["SAM_PARAMETER_OVERRIDES"].split())
    # A host of your own (the compose `ollama`): the parameters of that path are all passed;
    # those of the stack's own model host and network have no meaning inside LocalStack.
    own_host_only = {
        name
        for name in template.parameters
        if name.startswith(("ModelHost", "Vpc")) or name in ("OllamaNumParallel", "OllamaKeepAlive")
    }
    script_adds = {"SummarizeSubnetIds", "SummarizeSecurityGroupIds"}  # LocalStack's default VPC
    alternatives = {"OllamaHost", "AlarmEmail"}  # the https host; an optional email
    assert set(overrides) == set(template.parameters) - own_host_only - script_adds - alternatives
    assert overrides["OllamaHostInVpc"] == "http://ollama:11434"
    for name, value in overrides.items():
        if name not in ("OllamaHostInVpc", "LogLevel"):
            assert str(template.parameter_default(name)) == value, name
    # What the script deploys passes the template's constraints and Rules.
    deployed = {**overrides, "SummarizeSubnetIds": "subnet-1", "SummarizeSecurityGroupIds": "sg-1"}
    assert check_parameters(template, deployed) == []
    assert check_parameters(template, overrides)  # ... and needs the subnets it adds
    assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566"


@pytest.mark.parametrize("script", ["infra/deploy.sh", "infra/deploy-localstack.sh"])
def test_deploy_scripts_parse(script: str, run_tool: Run) -> None:
    result = run_tool(["bash", "-n", script])
    assert result.returncode == 0, result.stderr
    assert os.access(REPO_ROOT / script, os.X_OK)
