"""No-Docker twin of ``sam local invoke FUNCTION -e EVENT``: ``python -m infra.invoke``.

Runs one function's real handler once, in this process, with the event file and a Lambda-like
context, and prints the handler's JSON response on stdout (logs and metrics go to stderr, as
``sam local invoke`` keeps them apart)::

    python -m infra.invoke IngestFunction events/post-document.json
    python -m infra.invoke SummarizeFunction events/sqs-batch.json
    python -m infra.invoke WebhookFunction events/webhook-batch.json
    python -m infra.invoke FetchFunction events/fetch-page.json

AWS is an in-process moto server on a free loopback port, with the bucket, table and queues
created from template.yaml, unless ``--endpoint-url`` names a running one (a ``make up`` stack,
LocalStack). The function gets its template environment (your environment overrides template
values) and ``API_TOKEN=local-dev-token``, the token the sample events carry.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from infra.bootstrap import create_resources, physical_name
from infra.local.environment import (
    LOCAL_ONLY,
    REGION,
    aws_environment,
    function_environment,
    generated_webhook_secrets,
)
from infra.local.lambda_context import LambdaContext
from infra.local.llm import OLLAMA_DEFAULT_HOST
from infra.local.processes import LOOPBACK, free_port
from infra.template import load_template

EVENTS_TOKEN = "local-dev-token"  # noqa: S105 - the sample events' Authorization header
# Document ids are keyed (HMAC): with this key the id in events/get-document.json is the one
# events/post-document.json creates. Deployed stacks generate their own key.
EVENTS_DOCUMENT_ID_SECRET = "docsum-sample-events"  # noqa: S105 - a published sample key


def invoke(function_logical_id: str, event: dict[str, Any], endpoint_url: str) -> Any:
    """Create the resources at ``endpoint_url``, set the function's environment, import its
    handler (as a cold start would) and call it once."""
    template = load_template()
    spec = template.function(function_logical_id)
    os.environ.update(aws_environment(endpoint_url))
    resources = create_resources(template, endpoint_url=endpoint_url, region=REGION)
    stack_values = {
        **resources.environment(),
        **aws_environment(endpoint_url),
        "OLLAMA_HOST": os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST,
        "API_TOKEN": EVENTS_TOKEN,
        "DOCUMENT_ID_SECRET": EVENTS_DOCUMENT_ID_SECRET,
        # One webhook secret generated per client (no SSM here: see LOCAL_ONLY).
        "WEBHOOK_SECRETS": os.environ.get("WEBHOOK_SECRETS")
        or generated_webhook_secrets(EVENTS_TOKEN),
        **LOCAL_ONLY,
    }
    if "OLLAMA_MODEL" in os.environ:
        stack_values["OLLAMA_MODEL"] = os.environ["OLLAMA_MODEL"]
    os.environ.update(function_environment(template, function_logical_id, stack_values, os.environ))
    sys.path[:0] = [str(p) for p in spec.import_paths]
    handler = getattr(importlib.import_module(spec.handler_module), spec.handler_function)
    context = LambdaContext.starting_now(
        physical_name("docsum", function_logical_id), spec.memory_size, spec.timeout, REGION
    )
    return handler(event, context)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.invoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", help="logical id in template.yaml, e.g. IngestFunction")
    parser.add_argument("event", type=Path, help="event file, e.g. events/post-document.json")
    parser.add_argument("--endpoint-url", help="a running AWS emulator (default: moto, here)")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text(encoding="utf-8"))

    with contextlib.ExitStack() as cleanup:
        endpoint_url = args.endpoint_url
        if endpoint_url is None:
            from moto.server import ThreadedMotoServer

            port = free_port()
            server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
            server.start()
            cleanup.callback(server.stop)
            endpoint_url = f"http://{LOOPBACK}:{port}"
        # The handler's logs and EMF lines go to stderr; stdout carries only the response.
        with contextlib.redirect_stdout(sys.stderr):
            response = invoke(args.function, event, endpoint_url)
    sys.stdout.write(json.dumps(response, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
