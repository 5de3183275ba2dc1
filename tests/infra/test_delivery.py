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

from infra.image_tag import content_tag
from infra.samconfig import load, overrides
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
    assert {f.name for f in files} >= {"ci.yml", "release.yml", "deploy.yml"}
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


def run_deploy_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "infra/deploy.sh"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def dry_run(**env: str) -> subprocess.CompletedProcess[str]:
    return run_deploy_script(
        {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("EXISTING_OLLAMA", "MODEL_HOST", "DEPLOY_ENV"))
                and k not in ("CI", "PARAMETER_OVERRIDES", "CLOUDFORMATION_ROLE_ARN")
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
    # OLLAMA_HOST: a local client setting, not a parameter.
    result = dry_run(DEPLOY_ENV="staging", OLLAMA_HOST="127.0.0.1:11434")
    assert result.returncode == 0, result.stderr
    steps = commands(result)
    order = [
        next(i for i, c in enumerate(steps) if c.startswith(p))
        for p in (
            "aws ecr create-repository",
            "aws ecr put-lifecycle-policy",
            "docker build",
            "docker push",
            f"{REPO_ROOT}/.tools/iac/bin/sam deploy",
        )
    ]
    assert order == sorted(order)
    pushed = next(c for c in steps if c.startswith("docker push")).split()[-1]
    tag = pushed.rsplit(":", 1)[1]
    # Named by content: the same sources give the same tag (an unchanged image is not pushed
    # again and the hosts are not replaced).
    assert tag == content_tag({"OLLAMA_MODEL": "gemma3:1b"})
    deploy = next(c for c in steps if " deploy " in c)
    assert f"ModelHostImageTag={tag}" in deploy.split()
    assert "--build-arg OLLAMA_MODEL=gemma3:1b" in next(c for c in steps if "docker build" in c)


def test_deploy_passes_the_environment_and_nothing_else() -> None:
    """Only the environment's values, what you name and the image tag: sam deploy keeps the
    stack's value of every other parameter (never silently back to the template default)."""
    result = dry_run(DEPLOY_ENV="production", PARAMETER_OVERRIDES="RetentionDays=30")
    assert result.returncode == 0, result.stderr
    deploy = next(c for c in commands(result) if " deploy " in c).split()
    assert deploy[deploy.index("--config-env") + 1] == "production"
    passed = deploy[deploy.index("--parameter-overrides") + 1 :]
    environment = overrides(load(), "production")
    names = [p.split("=", 1)[0] for p in passed]
    assert names == [*environment, "RetentionDays", "ModelHostImageTag"]
    assert "--no-confirm-changeset" not in deploy  # by hand: sam shows the change set, asks
    in_ci = dry_run(DEPLOY_ENV="production", CI="true", CLOUDFORMATION_ROLE_ARN="arn:r")
    ci_deploy = next(c for c in commands(in_ci) if " deploy " in c).split()
    assert "--no-confirm-changeset" in ci_deploy  # the environment's approval confirmed it
    assert ci_deploy[ci_deploy.index("--role-arn") + 1] == "arn:r"


def test_deploy_without_an_environment_does_nothing() -> None:
    for env in ({}, {"DEPLOY_ENV": "prod"}):
        result = dry_run(**env)
        assert result.returncode != 0, env
        assert commands(result) == [], env
    assert "DEPLOY_ENV is required" in dry_run().stderr
    assert "no deploy environment 'prod'" in dry_run(DEPLOY_ENV="prod").stderr


def test_deploy_with_an_image_tag_uri_or_your_own_host_builds_nothing() -> None:
    for env in (
        {"MODEL_HOST_IMAGE_TAG": "v1.2.0"},
        {"MODEL_HOST_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr/a/b:v1"},
        {"EXISTING_OLLAMA_HOST": "https://ollama.example.com"},
    ):
        result = dry_run(DEPLOY_ENV="staging", **env)
        assert result.returncode == 0, result.stderr
        steps = commands(result)
        assert not [c for c in steps if c.startswith(("docker", "aws ecr"))], env
        assert any(" deploy " in c for c in steps)


def test_deploy_refuses_what_cloudformation_would_before_building() -> None:
    result = dry_run(DEPLOY_ENV="staging", EXISTING_OLLAMA_HOST="http://10.0.1.5:11434")
    assert result.returncode == 1
    assert "refused: OllamaHost=" in result.stderr
    assert commands(result) == []  # nothing built, pushed or deployed


FAKE_TOOL = """#!/usr/bin/env bash
# Records its call; answers the few questions deploy.sh asks.
echo "$(basename "$0") $*" >> "$CALLS"
# docker login reads the password from stdin (a writer must never get SIGPIPE).
[[ "$(basename "$0") $1" == "docker login" ]] && cat > /dev/null
case "$(basename "$0") $1 $2" in
  "aws sts get-caller-identity") echo 123456789012 ;;
  "aws configure get") echo us-east-1 ;;
  "aws ssm describe-parameters") echo "$API_TOKEN_PARAMETER_NAME" ;;
  "aws ecr describe-images") [[ -n ${IMAGE_IN_ECR:-} ]] || exit 254 ;;
  "aws ecr get-login-password") echo token ;;
esac
exit 0
"""
FAKE_PY = """#!/usr/bin/env bash
# The real interpreter, except the slow build (recorded instead).
if [[ "$1 $2" == "-m infra.build" ]]; then echo "build" >> "$CALLS"; exit 0; fi
exec "$REAL_PY" "$@"
"""


def deploy_with_fake_tools(tmp_path: Path, **env: str) -> list[str]:
    """infra/deploy.sh for real (not a dry run) with aws, docker and sam faked: the calls."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("aws", "docker", "sam"):
        (bindir / name).write_text(FAKE_TOOL)
        (bindir / name).chmod(0o755)
    (bindir / "py").write_text(FAKE_PY)
    (bindir / "py").chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    result = run_deploy_script(
        {
            "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "CALLS": str(calls),
            "SAM": str(bindir / "sam"),
            "PY": str(bindir / "py"),
            "REAL_PY": sys.executable,
            "PYTHONPATH": str(REPO_ROOT),
            "API_TOKEN_PARAMETER_NAME": "/docsum/staging/api-tokens",
            "DEPLOY_ENV": "staging",
            **env,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def test_an_image_already_in_ecr_is_neither_built_nor_pushed(tmp_path: Path) -> None:
    """The content tag is found in ECR: no build, no push, and the same tag is deployed (the
    task definition, and every running host, stay as they are)."""
    tag = content_tag({"OLLAMA_MODEL": "gemma3:1b"})
    fresh = deploy_with_fake_tools(tmp_path)
    assert any(c.startswith("docker build") for c in fresh)
    assert f"docker push 123456789012.dkr.ecr.us-east-1.amazonaws.com/docsum-ollama:{tag}" in fresh
    again = deploy_with_fake_tools(tmp_path, IMAGE_IN_ECR="1")
    assert (
        f"aws ecr describe-images --repository-name docsum-ollama --image-ids imageTag={tag}"
        in again
    )
    assert not [c for c in again if c.startswith(("docker build", "docker push"))], again
    (deploy,) = [c for c in again if c.startswith("sam deploy")]
    assert f"ModelHostImageTag={tag}" in deploy.split()
    assert "build" in again  # the functions are still built and deployed


@pytest.mark.parametrize("script", ["infra/deploy.sh", "infra/deploy-localstack.sh"])
def test_deploy_scripts_pass_shellcheck(script: str, iac_tool: Tool, run_tool: Run) -> None:
    result = run_tool([iac_tool("shellcheck"), script])
    assert result.returncode == 0, result.stdout + result.stderr
