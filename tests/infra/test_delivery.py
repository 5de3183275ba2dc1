"""The delivery pipeline (.github/workflows, checked by actionlint) and `make deploy`'s script
(its order of steps, dry run; shellcheck)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.template import REPO_ROOT

pytestmark = pytest.mark.iac

Tool = Callable[[str], Path]
Run = Callable[..., subprocess.CompletedProcess[str]]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _with_iac_tools_on_path(iac_tool: Tool) -> dict[str, str]:
    # actionlint runs shellcheck (also from .tools/iac) over every `run:` script it finds.
    return {"PATH": f"{iac_tool('shellcheck').parent}{os.pathsep}{os.environ['PATH']}"}


def test_actionlint_accepts_the_workflows(iac_tool: Tool, run_tool: Run) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml"}
    result = run_tool(
        [iac_tool("actionlint"), "-color=false", *files], env=_with_iac_tools_on_path(iac_tool)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(
    iac_tool: Tool, run_tool: Run, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.no_such_context }} $undefined_var\n"
    )
    result = run_tool(
        [iac_tool("actionlint"), "-color=false", broken], env=_with_iac_tools_on_path(iac_tool)
    )
    assert result.returncode == 1
    assert "no_such_context" in result.stdout


def test_every_pull_request_runs_make_test() -> None:
    ci = workflow("ci.yml")
    assert "pull_request" in ci["on"]
    assert "workflow_call" in ci["on"]  # the release reuses it
    (job,) = ci["jobs"].values()
    assert [s["run"] for s in job["steps"] if "run" in s] == ["make test"]
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.12"
    assert ci["permissions"] == {"contents": "read"}


def test_a_version_tag_tests_then_publishes_image_and_package() -> None:
    release = workflow("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    jobs = release["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    image, package = jobs["model-host-image"], jobs["sam-package"]
    for job in (image, package):
        assert job["needs"] == "test"
        assert job["permissions"]["id-token"] == "write"  # OIDC to AWS
        aws = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
        assert aws["with"]["role-to-assume"] == "${{ secrets.AWS_RELEASE_ROLE_ARN }}"
    build = next(s for s in image["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["context"] == "ollama-host"
    assert build["with"]["push"] is True
    tags = build["with"]["tags"]
    assert "steps.names.outputs.ghcr" in tags
    assert "steps.ecr.outputs.registry" in tags
    scripts = " ".join(s.get("run", "") for s in package["steps"])
    assert "sam package" in scripts
    assert "gh release create" in scripts


def test_secrets_only_from_the_secret_store() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        # No long-lived AWS keys, and secrets never pasted into scripts (only `with`/`env`).
        assert "aws-access-key-id" not in text, path
        assert "AWS_SECRET_ACCESS_KEY" not in text, path
        for job in workflow(path.name)["jobs"].values():
            for step in job.get("steps", []):
                assert "secrets." not in step.get("run", ""), (path.name, step)
        assert not re.search(r"AKIA[0-9A-Z]{16}", text), path


# ------------------------------------------------------------------------- make deploy


def dry_run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "infra/deploy.sh"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("EXISTING_OLLAMA", "MODEL_HOST"))
            },
            "DRY_RUN": "1",
            "PY": sys.executable,
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        },
    )


def commands(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stderr.splitlines() if line.startswith("+ ")]


def test_deploy_pushes_the_image_before_sam_deploy_runs_it() -> None:
    result = dry_run(OLLAMA_HOST="127.0.0.1:11434")  # a local client setting: not a parameter
    assert result.returncode == 0, result.stderr
    steps = commands(result)
    order = [
        next(i for i, c in enumerate(steps) if c.startswith(p))
        for p in (
            "aws ecr create-repository",
            "docker build",
            "docker push",
            f"{REPO_ROOT}/.tools/iac/bin/sam deploy",
        )
    ]
    assert order == sorted(order)
    pushed = next(c for c in steps if c.startswith("docker push")).split()[-1]
    tag = pushed.rsplit(":", 1)[1]
    deploy = next(c for c in steps if " deploy " in c)
    assert f"ModelHostImageTag={tag}" in deploy.split()
    assert "--build-arg OLLAMA_MODEL=gemma3:1b" in next(c for c in steps if "docker build" in c)


def test_deploy_with_an_image_tag_or_your_own_host_builds_nothing() -> None:
    for env in (
        {"MODEL_HOST_IMAGE_TAG": "v1.2.0"},
        {"EXISTING_OLLAMA_HOST": "https://ollama.example.com"},
    ):
        result = dry_run(**env)
        assert result.returncode == 0, result.stderr
        steps = commands(result)
        assert not [c for c in steps if c.startswith(("docker", "aws ecr"))], env
        assert any(" deploy " in c for c in steps)


def test_deploy_refuses_what_cloudformation_would_before_building() -> None:
    result = dry_run(EXISTING_OLLAMA_HOST="http://10.0.1.5:11434")
    assert result.returncode == 1
    assert "refused: OllamaHost=" in result.stderr
    assert commands(result) == []  # nothing built, pushed or deployed


@pytest.mark.parametrize("script", ["infra/deploy.sh", "infra/deploy-localstack.sh"])
def test_deploy_scripts_pass_shellcheck(script: str, iac_tool: Tool, run_tool: Run) -> None:
    result = run_tool([iac_tool("shellcheck"), script])
    assert result.returncode == 0, result.stdout + result.stderr
