"""The delivery pipeline's facts, read from the files (fast: no tools run here; actionlint
and the deploy dry runs are in test_delivery.py): actions pinned to commits, the release's
build, the deploy workflow's OIDC and approval gate, per-environment configuration, the
roles' permissions against every AWS call the scripts make, the image's content tag."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import image_tag, samconfig
from infra.rules import check_parameters
from infra.template import REPO_ROOT, Template

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ROLES = REPO_ROOT / "infra" / "roles"


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


# --------------------------------------------------------------------------- action pins


PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    """A tag can be moved to other code; a commit cannot. The comment says which release the
    commit is (what Dependabot/Renovate update)."""
    seen = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"^\s*(?:- )?uses:\s*(.+)$", line)
            if not match:
                continue
            seen += 1
            reference = match.group(1).strip()
            if reference.startswith("./"):
                continue  # a workflow of this repository
            assert PINNED.match(reference), f"{path.name}:{number}: {reference}"
    assert seen >= 12


def test_pins_are_parsed_the_way_github_reads_them() -> None:
    """The `uses:` value GitHub sees is the part before the comment: 40 hex digits."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in workflow(path.name)["jobs"].values():
            for reference in [job.get("uses"), *(s.get("uses") for s in steps(job))]:
                if reference is None or reference.startswith("./"):
                    continue
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", reference), reference


# ------------------------------------------------------------------------------ release


def test_release_packages_the_same_build_as_make_deploy() -> None:
    """`make build` (sam build + bytecode, infra/build.py), then `sam package` of its output:
    never a plain `sam build`, whose artifacts compile every module on each cold start."""
    package = workflow("release.yml")["jobs"]["sam-package"]
    runs = [s["run"] for s in steps(package) if "run" in s]
    assert "make build" in [r.strip() for r in runs]
    script = "\n".join(runs)
    assert "sam package --template-file .aws-sam/build/template.yaml" in script
    for path in WORKFLOWS.glob("*.yml"):
        for job in workflow(path.name)["jobs"].values():
            for step in steps(job):
                assert "sam build" not in step.get("run", ""), (path.name, step)
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^build:.*\n\t\$\(PY\) -m infra\.build$", makefile, re.M)
    assert 'run "$PY" -m infra.build' in (REPO_ROOT / "infra" / "deploy.sh").read_text()
    order = [r.strip() for r in runs]
    assert order.index("make build") < next(i for i, r in enumerate(order) if "sam package" in r)


def test_image_repository_gets_the_lifecycle_policy_everywhere_it_is_created() -> None:
    policy = json.loads((REPO_ROOT / "infra" / "ecr-lifecycle-policy.json").read_text())
    rules = {r["selection"]["tagStatus"]: r for r in policy["rules"]}
    assert rules["untagged"]["selection"]["countType"] == "sinceImagePushed"
    assert rules["any"]["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 10,
    }
    assert sorted(r["rulePriority"] for r in policy["rules"]) == [1, 2]
    for text in (
        (WORKFLOWS / "release.yml").read_text(),
        (REPO_ROOT / "infra" / "deploy.sh").read_text(),
    ):
        assert "aws ecr create-repository" in text
        assert "--lifecycle-policy-text" in text
        assert "file://infra/ecr-lifecycle-policy.json" in text


# ------------------------------------------------------------------------------- deploy


def test_deploy_workflow_waits_for_the_environment_then_uses_oidc() -> None:
    deploy = workflow("deploy.yml")
    choice = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert choice["type"] == "choice"
    assert sorted(choice["options"]) == samconfig.environments(samconfig.load())
    assert deploy["permissions"] == {"contents": "read"}
    assert deploy["concurrency"]["cancel-in-progress"] is False  # never cancel a stack update
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    job = jobs["deploy"]
    assert job["needs"] == "test"
    # The approval gate: GitHub holds the job (and its OIDC token) until the environment's
    # reviewers approve; the role trusts only tokens of that environment.
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    aws = next(s for s in steps(job) if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ secrets.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in json.dumps(deploy)
    (make,) = [s for s in steps(job) if "run" in s]
    assert make["run"].strip() == "make deploy"
    assert make["env"]["DEPLOY_ENV"] == "${{ inputs.environment }}"
    assert steps(job).index(aws) < steps(job).index(make)


def test_every_environment_is_a_complete_accepted_configuration(template: Template) -> None:
    config = samconfig.load()
    environments = samconfig.environments(config)
    assert environments == ["production", "staging"]
    assert "default" not in config  # no environment is deployed by accident
    for env in environments:
        parameters = samconfig.deploy_parameters(config, env)
        assert parameters["stack_name"]
        assert parameters["confirm_changeset"] is True  # by hand: sam shows it and asks
        assert "CAPABILITY_IAM" in parameters["capabilities"]
        overrides = samconfig.overrides(config, env, ["ModelHostImageTag=ctx-0"])
        assert check_parameters(template, overrides) == [], env
        assert "ModelHostImageTag" not in samconfig.overrides(config, env)  # content tag
    stacks = [samconfig.deploy_parameters(config, env)["stack_name"] for env in environments]
    assert len(set(stacks)) == len(stacks)


def test_overrides_keep_the_environment_and_let_a_later_value_win() -> None:
    config = {
        "staging": {"deploy": {"parameters": {"parameter_overrides": ["A=1", "B=x=y"]}}},
        "notes": {"global": {"parameters": {}}},
    }
    assert samconfig.environments(config) == ["staging"]
    assert samconfig.overrides(config, "staging", ["A=2", "C="]) == {
        "A": "2",
        "B": "x=y",
        "C": "",
    }
    with pytest.raises(samconfig.UnknownEnvironment, match="staging"):
        samconfig.overrides(config, "production")
    with pytest.raises(ValueError, match="NAME=value"):
        samconfig.overrides(config, "staging", ["oops"])


def test_deploy_never_resets_parameters_to_their_defaults() -> None:
    """Only the environment's values and what the caller names are passed: sam deploy gives
    every other parameter UsePreviousValue. Before, every parameter went out with its
    default (`MaxConcurrency=${MAX_CONCURRENCY:-2}` ...) and --no-confirm-changeset."""
    script = (REPO_ROOT / "infra" / "deploy.sh").read_text()
    assert not re.search(r'"\w+=\$\{\w+:-[^}]*\}"', script)  # no NAME=${VAR:-default} pairs
    assert '--config-env "$DEPLOY_ENV"' in script
    (unconfirmed,) = [line for line in script.splitlines() if "--no-confirm-changeset" in line]
    assert unconfirmed.startswith("[[ ${CI:-} == true ]] && ")  # the approval gate confirms
    assert "DEPLOY_ENV is required" in script


# -------------------------------------------------------------------------- role policies


def _camel(command: str) -> str:
    return "".join(word.capitalize() for word in command.split("-"))


# AWS CLI commands whose IAM action is not the command's own name, or that need none.
CLI_ACTIONS = {
    ("ecr", "get-login-password"): {"ecr:GetAuthorizationToken"},
    ("sts", "get-caller-identity"): set(),  # needs no permission
    ("configure", "get"): set(),  # local configuration
}
ECR_PUSH = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
}
SAM_PACKAGE = {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}  # upload; head (404, not 403)
SAM_DEPLOY = {  # samcli's deployer: change set, waiters, events; --resolve-s3; --role-arn
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:GetTemplateSummary",
    "iam:PassRole",
    *SAM_PACKAGE,
}


def required_actions(script: str) -> set[str]:
    """The IAM actions a shell script (or a workflow's run steps) needs for its AWS calls."""
    actions: set[str] = set()
    script = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    for service, command in re.findall(r"\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)", script):
        actions |= CLI_ACTIONS.get((service, command), {f"{service}:{_camel(command)}"})
    if re.search(r"\bdocker push\b", script):
        actions |= ECR_PUSH
    # A command at the start of a line (not `sam deploy` quoted in a release note).
    if re.search(r"^\s*\S*\bsam package\b", script, re.M):
        actions |= SAM_PACKAGE
    if re.search(r'^deploy=\("\$SAM" deploy\b|^\s*\S*\bsam deploy\b', script, re.M):
        actions |= SAM_DEPLOY
    return actions


def workflow_job_actions(job: dict[str, Any]) -> set[str]:
    actions = required_actions("\n".join(s.get("run", "") for s in steps(job)))
    for step in steps(job):
        uses = step.get("uses", "")
        if "amazon-ecr-login" in uses:
            actions.add("ecr:GetAuthorizationToken")
        if "build-push-action" in uses and "steps.ecr.outputs.registry" in step["with"]["tags"]:
            actions |= ECR_PUSH
        if "run" in step and re.search(r"^\s*make deploy\s*$", step["run"]):
            actions |= required_actions((REPO_ROOT / "infra" / "deploy.sh").read_text())
    return actions


def granted(policy_file: str) -> dict[str, list[Any]]:
    """action -> the resources the policy grants it on."""
    policy = json.loads((ROLES / policy_file).read_text())
    grants: dict[str, list[Any]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, (policy_file, action)
            grants.setdefault(action, []).append(statement["Resource"])
    return grants


# Actions AWS grants only on "*" (no resource-level permissions).
WILDCARD_ONLY = {
    "ecr:GetAuthorizationToken",
    "ssm:DescribeParameters",
    "cloudformation:GetTemplateSummary",
}


@pytest.mark.parametrize(
    ("workflow_name", "secret", "policy_file"),
    [
        ("release.yml", "AWS_RELEASE_ROLE_ARN", "release-policy.json"),
        ("deploy.yml", "AWS_DEPLOY_ROLE_ARN", "deploy-policy.json"),
    ],
)
def test_role_policy_grants_every_call_its_jobs_make(
    workflow_name: str, secret: str, policy_file: str
) -> None:
    grants = granted(policy_file)
    needed: set[str] = set()
    for job in workflow(workflow_name)["jobs"].values():
        roles = [
            s["with"]["role-to-assume"]
            for s in steps(job)
            if "configure-aws-credentials" in s.get("uses", "")
        ]
        if roles:
            assert roles == [f"${{{{ secrets.{secret} }}}}"]
            needed |= workflow_job_actions(job)
    assert needed, workflow_name
    missing = needed - set(grants)
    assert not missing, f"{policy_file} lacks {sorted(missing)}"
    # ... and nothing on "*" but what has no resource ARN.
    for action, resources in grants.items():
        if any(r == "*" for r in resources):
            assert action in WILDCARD_ONLY, (policy_file, action)


def test_release_role_covers_what_the_old_documentation_left_out() -> None:
    """The release job creates its repository when missing: the documented permissions
    named only "ECR push" and "s3:PutObject"."""
    job = workflow("release.yml")["jobs"]["model-host-image"]
    needed = workflow_job_actions(job)
    assert {"ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:PutLifecyclePolicy"} <= needed
    assert needed <= set(granted("release-policy.json"))
    assert "infra/roles/release-policy.json" in (WORKFLOWS / "release.yml").read_text()


def test_required_actions_reads_the_calls_of_a_script() -> None:
    script = (
        'aws ecr describe-images --repository-name "$R" --image-ids imageTag=x\n'
        "aws ecr get-login-password | docker login --password-stdin r\n"
        "ACCOUNT=$(aws sts get-caller-identity --query Account)\n"
        "docker push r/x:1\n"
    )
    assert required_actions(script) == {"ecr:DescribeImages"} | ECR_PUSH


# ----------------------------------------------------------------------- the image's tag


def test_image_tag_follows_the_content_only(tmp_path: Path) -> None:
    context = tmp_path / "ollama-host"
    shutil.copytree(image_tag.CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__"))
    args = {"OLLAMA_MODEL": "gemma3:1b"}
    tag = image_tag.content_tag(args, context)
    assert re.fullmatch(r"ctx-[0-9a-f]{20}", tag)
    assert tag == image_tag.content_tag(args, image_tag.CONTEXT)  # where it is does not matter
    # Files the build does not copy do not change the image, nor its tag.
    (context / "README.md").write_text("edited")
    (context / "offline_ollama" / "new.py").write_text("x = 1\n")
    assert image_tag.content_tag(args, context) == tag
    # What it copies, the Dockerfile and the build arguments do.
    assert set(image_tag.copied_sources((context / "Dockerfile").read_text())) == {
        "entrypoint.sh",
        "ollama-healthcheck.sh",
    }
    healthcheck = context / "ollama-healthcheck.sh"
    healthcheck.write_text(healthcheck.read_text() + "\n# edited\n")
    changed = image_tag.content_tag(args, context)
    assert changed != tag
    assert image_tag.content_tag({"OLLAMA_MODEL": "gemma3:4b"}, context) not in (tag, changed)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nLABEL x=y\n")
    assert image_tag.content_tag(args, context) not in (tag, changed)
