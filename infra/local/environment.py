"""A function's environment for a local process: what template.yaml gives it in Lambda, with
only configuration changed (endpoint, dummy credentials, resources, LLM host, token)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from infra.bootstrap import LocalResources
from infra.local.processes import StartupError
from infra.template import Template

REGION = "us-east-1"
INGEST_FUNCTION = "IngestFunction"
SUMMARIZE_FUNCTION = "SummarizeFunction"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
# Decided by whoever runs a stack, never inherited from the shell of the one running a test.
STACK_CHOICES = (
    "AWS_ENDPOINT_URL",
    "OLLAMA_HOST",
    "OLLAMA_MODEL",
    "API_TOKEN",
    "PORT",
    "OFFLINE_OLLAMA_MODEL",
    "DOCSUM_PULL",
    "DOCSUM_FETCH_MODEL",
)


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Point boto3 at the emulator with dummy credentials: never a real AWS account."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probe for credentials
        **DUMMY_CREDENTIALS,
    }


# The dummy AWS settings without an endpoint (each harness picks its own).
DUMMY_AWS_ENV = {k: v for k, v in aws_environment("").items() if k != "AWS_ENDPOINT_URL"}


def aws_client(service: str, endpoint_url: str, **config: Any) -> Any:
    """A boto3 client for the emulator at ``endpoint_url`` (dummy credentials)."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


def aws_answers(endpoint_url: str) -> bool:
    sqs = aws_client(
        "sqs", endpoint_url, connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}
    )
    try:
        sqs.list_queues()
    except Exception:
        return False
    return True


def function_environment(
    template: Template,
    logical_id: str,
    values: Mapping[str, str],
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """template.yaml's literal values and parameter defaults for the function, overridden by
    ``inherited`` (the caller's environment), overridden by ``values`` (the local choices)."""
    declared = template.function(logical_id).environment
    env = {k: v for k, v in declared.items() if isinstance(v, str)}
    env.update(inherited or {})
    env.update(values)
    unfilled = sorted(k for k in declared if k not in env)
    if unfilled:  # a new !Ref in the template that the local stack does not know how to fill
        raise StartupError(f"{logical_id}: no local value for {', '.join(unfilled)}")
    return env


def inherited_environment() -> dict[str, str]:
    """Our environment as a function process inherits it: no session token or profile could
    make boto3 reach a real account, and no stack choice leaks in from the shell."""
    dropped = ("AWS_SESSION_TOKEN", "AWS_PROFILE", *STACK_CHOICES)
    return {k: v for k, v in os.environ.items() if k not in dropped}


# What differs on this machine for every function, on the local stack and under `infra.invoke`.
LOCAL_ONLY = {
    # Locally the tokens and webhook secrets come from the environment: there is no SSM.
    "API_TOKEN_PARAMETER": "",
    "WEBHOOK_SECRETS_PARAMETER": "",
    # A developer's receiver runs on this machine: callbacks may use http to loopback.
    "CALLBACK_ALLOW_LOOPBACK_HTTP": "true",
    # No VPC here: the summarize function fetches web pages itself (no FetchFunction).
    "PAGE_FETCH_FUNCTION": "",
}


def local_function_env(
    template: Template,
    logical_id: str,
    *,
    resources: LocalResources,
    endpoint_url: str,
    ollama_host: str,
    token: str,
    inherited: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    webhook_secrets: str = "",
) -> dict[str, str]:
    """A function's environment on the local stack: the template's, then ``inherited``
    (default: ours), then what differs locally (resources, endpoint, LLM host, token, webhook
    secrets), then ``extra``; PYTHONPATH is the function's import paths (code dir, then
    layers), as in Lambda."""
    values = {
        **resources.environment(),
        **aws_environment(endpoint_url),
        "OLLAMA_HOST": ollama_host,
        "API_TOKEN": token,
        "WEBHOOK_SECRETS": webhook_secrets,
        **LOCAL_ONLY,
        # uvicorn serves at /: there is no API Gateway stage prefix (/v1) to account for.
        "API_ROOT_PATH": "",
        # Logs reach the console as they are written, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(str(p) for p in template.function(logical_id).import_paths),
        **(extra or {}),
    }
    given = inherited_environment() if inherited is None else inherited
    return function_environment(template, logical_id, values, given)


def client_names(tokens: str) -> list[str]:
    """The clients of ``API_TOKEN``: ``name:token`` (or ``name:sha256:<hex>``) entries; a bare
    token (or hash) is ``default``."""
    names = []
    for entry in filter(None, (e.strip() for e in tokens.split(","))):
        name, named, _ = entry.partition(":")
        names.append(name if named and name != "sha256" else "default")  # sha256:<hex>: bare
    return list(dict.fromkeys(names))


def generated_webhook_secrets(tokens: str) -> str:
    """``client:whsec_…`` for every client of ``tokens`` (``default`` when auth is off)."""
    # Imported here: processes that import this module for its helpers (pollers, harnesses)
    # have only the repository root on their path, not the function code.
    from docsum.push.webhooks import new_webhook_secret

    clients = client_names(tokens) or ["default"]
    return ",".join(f"{name}:{new_webhook_secret()}" for name in clients)


def sqs_functions(template: Template) -> list[str]:
    """Every function with an SQS event: each gets its own poller."""
    found = []
    for logical_id in template.logical_ids("AWS::Serverless::Function"):
        events = template.resource(logical_id).get("Events", {})
        if any(e.get("Type") == "SQS" for e in events.values()):
            found.append(logical_id)
    return found


def poller_name(function_logical_id: str) -> str:
    """``poller`` for the summarize function (as ever), ``poller-webhook`` for WebhookFunction."""
    if function_logical_id == SUMMARIZE_FUNCTION:
        return "poller"
    return "poller-" + function_logical_id.removesuffix("Function").lower()
