"""Build the API Gateway OpenAPI definition from the FastAPI app and keep template.yaml in sync.

``build_spec()`` imports the ingest app (``docsum_api.handler.app``) in a subprocess, so the
caller's ``sys.path``, ``sys.modules`` and environment stay untouched, takes ``app.openapi()`` and

* converts it from OpenAPI 3.1 (what FastAPI emits) to 3.0.1: API Gateway REST APIs import only
  OpenAPI 2.0 and 3.0 definitions ("Invalid OpenAPI input" otherwise). The few 3.1 constructs
  pydantic produces are rewritten (``anyOf [X, null]`` -> ``nullable``, ``examples`` ->
  ``example``, ``const`` -> ``enum``, numeric ``exclusiveMinimum`` -> ``minimum`` + boolean ...);
  anything 3.1-only that is not handled raises, so it cannot slip into a deployment;
* renames component schemas to alphanumeric names (API Gateway model names must be alphanumeric;
  pydantic emits e.g. ``Body_x`` or ``Model-Input``) and rewrites their ``$ref``s;
* adds ``x-amazon-apigateway-integration`` (Lambda proxy to IngestFunction) to every operation,
  an ``x-amazon-apigateway-any-method`` to every path and a catch-all ``/`` + ``/{proxy+}``, so
  unknown routes and methods reach the app (its 404/405 JSON) instead of API Gateway's 403
  "Missing Authentication Token";
* adds ``x-amazon-apigateway-gateway-responses`` that render API Gateway's own errors as
  ``application/problem+json`` (RFC 9457) ``{"type", "title", "status", "detail"}``.

CLI: ``python -m infra.openapi --write`` rewrites the generated block of template.yaml;
``--check`` exits 1 when the template's definition differs from a fresh build.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from infra.template import Template, load_template

API_LOGICAL_ID = "DocumentsApi"
FUNCTION_LOGICAL_ID = "IngestFunction"
# The ASGI app inside the function's handler module (template.yaml names it): the app with its
# real wiring, as Lambda builds it.
APP_ATTRIBUTE = "app"
OPENAPI_VERSION = "3.0.1"
BEGIN_MARKER = "# BEGIN GENERATED OPENAPI"
END_MARKER = "# END GENERATED OPENAPI"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ANY_METHOD = "x-amazon-apigateway-any-method"
INTEGRATION = "x-amazon-apigateway-integration"
GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE = "about:blank"

# API Gateway's gateway-response types with their default status codes (AWS docs, "Gateway
# response types for API Gateway"). Every type gets an explicit entry so the body's "status"
# always equals the status line: a DEFAULT_4XX/5XX template cannot know the status, and setting
# a statusCode on DEFAULT_4XX would change the status of every other 4XX response.
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",  # Python 3.12 HTTPStatus phrase, as the app uses
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    504: "Gateway Timeout",
}
GATEWAY_RESPONSE_STATUS: dict[str, int] = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    # Default 403. Every path has an ANY method and /{proxy+} catches the rest, so this is
    # practically unreachable; should it happen, "no such route" is what it means.
    "MISSING_AUTHENTICATION_TOKEN": 404,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}
_DEFAULT_STATUSES = {"MISSING_AUTHENTICATION_TOKEN": 403}  # types whose statusCode we override

# JSON-Schema keywords that OpenAPI 3.0 does not have; left over after conversion = error.
_OPENAPI_31_ONLY = frozenset(
    {
        "$defs",
        "$schema",
        "$id",
        "const",
        "contentEncoding",
        "contentMediaType",
        "dependentRequired",
        "dependentSchemas",
        "else",
        "examples",
        "if",
        "patternProperties",
        "prefixItems",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)

_SUBPROCESS = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module = importlib.import_module(sys.argv[2])
json.dump(getattr(module, sys.argv[3]).openapi(), sys.stdout)
"""


class OpenApiError(RuntimeError):
    """The app's OpenAPI document cannot be turned into an API Gateway definition."""


# ------------------------------------------------------------------------------------ build


def fastapi_openapi(template: Template | None = None) -> dict[str, Any]:
    """``app.openapi()`` of the ingest app, imported the way Lambda would (code + layers)."""
    template = template or load_template()
    function = template.function(FUNCTION_LOGICAL_ID)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    for name, value in function.environment.items():
        # Module-level settings may read these; unresolved Refs get a recognisable placeholder.
        env.setdefault(name, value if isinstance(value, str) else f"openapi-build-{name.lower()}")
    paths = [str(p) for p in function.import_paths]
    module = function.handler_module
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, json.dumps(paths), module, APP_ATTRIBUTE],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise OpenApiError(f"importing {module}.{APP_ATTRIBUTE} failed:\n{result.stderr}")
    spec: dict[str, Any] = json.loads(result.stdout)
    return spec


def build_spec(template: Template | None = None) -> dict[str, Any]:
    """The API Gateway definition (OpenAPI 3.0.1 + extensions) for ``DocumentsApi``."""
    return to_api_gateway(fastapi_openapi(template))


def to_api_gateway(openapi: dict[str, Any]) -> dict[str, Any]:
    """Pure transformation of a FastAPI OpenAPI document (see the module docstring)."""
    spec = downgrade_to_30(openapi)
    spec = _alphanumeric_schema_names(spec)
    integration = lambda_proxy_integration()
    paths: dict[str, Any] = spec.setdefault("paths", {})
    for item in paths.values():
        for method in HTTP_METHODS:
            if method in item:
                item[method][INTEGRATION] = copy.deepcopy(integration)
        item[ANY_METHOD] = {INTEGRATION: copy.deepcopy(integration)}
    for catch_all in ("/", "/{proxy+}"):
        if catch_all not in paths:
            paths[catch_all] = _catch_all_path(catch_all, integration)
    spec[GATEWAY_RESPONSES] = gateway_responses()
    return spec


def lambda_proxy_integration() -> dict[str, Any]:
    uri = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        f"${{{FUNCTION_LOGICAL_ID}.Arn}}/invocations"
    )
    return {"type": "aws_proxy", "httpMethod": "POST", "uri": {"Fn::Sub": uri}}


def _catch_all_path(path: str, integration: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": "Any other route: forwarded to the app, which answers 404/405",
        "responses": {"default": {"description": "The application's response"}},
        INTEGRATION: copy.deepcopy(integration),
    }
    if path == "/{proxy+}":
        operation["parameters"] = [
            {"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    return {ANY_METHOD: operation}


def gateway_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for fallback in ("DEFAULT_4XX", "DEFAULT_5XX"):
        # Reached only by response types added to API Gateway after this table was written; the
        # status is unknown here, and RFC 9457 makes "status" optional, so it is left out.
        responses[fallback] = _problem_response(None)
    for response_type, status in sorted(GATEWAY_RESPONSE_STATUS.items()):
        entry = _problem_response(status)
        if _DEFAULT_STATUSES.get(response_type, status) != status:
            entry["statusCode"] = str(status)
        responses[response_type] = entry
    return responses


def _problem_response(status: int | None) -> dict[str, Any]:
    # "about:blank": the problem is fully described by the HTTP status (RFC 9457 section 4.2.1),
    # so the title is the status phrase.
    title = _TITLES[status] if status is not None else "API Gateway error"
    fields = [f'"type":"{PROBLEM_TYPE}"', f'"title":{json.dumps(title)}']
    if status is not None:
        fields.append(f'"status":{status}')
    # $context.error.messageString is the quoted, JSON-escaped message.
    fields.append('"detail":$context.error.messageString')
    return {
        "responseParameters": {
            "gatewayresponse.header.Content-Type": f"'{PROBLEM_CONTENT_TYPE}'",
        },
        "responseTemplates": {"application/json": "{" + ",".join(fields) + "}"},
    }


# ----------------------------------------------------------------------- OpenAPI 3.1 -> 3.0


def downgrade_to_30(openapi: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the JSON-Schema 2020-12 constructs FastAPI/pydantic emit as OpenAPI 3.0.1."""
    spec = copy.deepcopy(openapi)
    version = str(spec.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise OpenApiError(f"unsupported OpenAPI version {version!r}")
    spec["openapi"] = OPENAPI_VERSION
    spec.pop("jsonSchemaDialect", None)
    if "webhooks" in spec:
        raise OpenApiError("webhooks are OpenAPI 3.1 only")
    info = spec.get("info", {})
    if "summary" in info:  # 3.1 only: fold into the description
        summary = info.pop("summary")
        info["description"] = (
            f"{summary}\n\n{info['description']}" if "description" in info else summary
        )
    info.get("license", {}).pop("identifier", None)  # 3.1 only (SPDX id)
    for holder, key in _schema_slots(spec):
        holder[key] = _schema_30(holder[key])
    leftovers = sorted(set(_openapi_31_leftovers(spec)))
    if leftovers:
        raise OpenApiError(f"OpenAPI 3.1-only constructs left after conversion: {leftovers}")
    return spec


def _schema_slots(spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) of every top-level Schema Object in the document."""
    components = spec.get("components", {})
    schemas = components.get("schemas", {})
    for name in schemas:
        yield schemas, name
    for path_item in spec.get("paths", {}).values():
        yield from _parameter_slots(path_item.get("parameters", []))
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if not operation:
                continue
            yield from _parameter_slots(operation.get("parameters", []))
            yield from _content_slots(operation.get("requestBody", {}).get("content", {}))
            for response in operation.get("responses", {}).values():
                yield from _content_slots(response.get("content", {}))
                for header in response.get("headers", {}).values():
                    if "schema" in header:
                        yield header, "schema"
    for group in ("parameters", "headers"):
        yield from _parameter_slots(list(components.get(group, {}).values()))
    for group in ("requestBodies", "responses"):
        for holder in components.get(group, {}).values():
            yield from _content_slots(holder.get("content", {}))


def _parameter_slots(parameters: list[Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for parameter in parameters:
        if "schema" in parameter:
            yield parameter, "schema"
        yield from _content_slots(parameter.get("content", {}))


def _content_slots(content: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for media in content.values():
        if "schema" in media:
            yield media, "schema"


def _schema_30(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out = {key: _schema_children(key, value) for key, value in schema.items()}

    # type: [X, "null"] -> type: X, nullable: true
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        if len(types) != 1:
            raise OpenApiError(f"cannot express type {out['type']} in OpenAPI 3.0")
        if len(types) != len(out["type"]):
            out["nullable"] = True
        out["type"] = types[0]

    # anyOf/oneOf with a {"type": "null"} branch -> nullable
    for combinator in ("anyOf", "oneOf"):
        branches = out.get(combinator)
        if not isinstance(branches, list) or {"type": "null"} not in branches:
            continue
        rest = [b for b in branches if b != {"type": "null"}]
        del out[combinator]
        out["nullable"] = True
        if len(rest) == 1 and "$ref" in rest[0]:
            out["allOf"] = rest  # $ref siblings are ignored in 3.0; wrap to keep nullable
        elif len(rest) == 1:
            for key, value in rest[0].items():
                out.setdefault(key, value)
        elif rest:
            out[combinator] = rest

    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "examples" in out:
        examples = out.pop("examples")
        if isinstance(examples, list) and examples:
            out.setdefault("example", examples[0])
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[limit] = value
            out[bound] = True
    media_type = out.pop("contentMediaType", None)
    encoding = out.pop("contentEncoding", None)
    if encoding == "base64":
        out.setdefault("format", "byte")
    elif media_type is not None:
        out.setdefault("format", "binary")
    return out


def _schema_children(key: str, value: Any) -> Any:
    if key in ("properties", "patternProperties", "$defs", "definitions"):
        return {name: _schema_30(sub) for name, sub in value.items()}
    if key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
        return _schema_30(value)
    if key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
        return [_schema_30(sub) for sub in value]
    return value


def _openapi_31_leftovers(spec: dict[str, Any]) -> Iterator[str]:
    for holder, key in _schema_slots(spec):
        yield from _schema_leftovers(holder[key])


def _schema_leftovers(schema: Any) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in _OPENAPI_31_ONLY:
            yield key
        if key == "type" and not isinstance(value, str):
            yield "type (list)"
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            yield f"{key} (number)"
        if key == "properties":
            for sub in value.values():
                yield from _schema_leftovers(sub)
        elif key in ("items", "additionalProperties", "not"):
            yield from _schema_leftovers(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            for sub in value:
                yield from _schema_leftovers(sub)


def _alphanumeric_schema_names(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in schemas:
        new = re.sub(r"[^A-Za-z0-9]", "", name)
        if new != name:
            renames[name] = new
    if not renames:
        return spec
    final = [renames.get(name, name) for name in schemas]
    if len(set(final)) != len(final) or not all(final):
        raise OpenApiError(f"schema names collide once made alphanumeric: {renames}")
    spec["components"]["schemas"] = {renames.get(k, k): v for k, v in schemas.items()}
    prefix = "#/components/schemas/"
    ref_map = {prefix + old: prefix + new for old, new in renames.items()}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (ref_map.get(v, v) if k == "$ref" else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    result: dict[str, Any] = rewrite(spec)
    return result


# --------------------------------------------------------------------- template.yaml block


def render_block(spec: dict[str, Any], indent: int) -> str:
    """YAML lines of ``spec`` indented by ``indent`` spaces (long-form intrinsics only)."""
    text = yaml.safe_dump(
        spec, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _block_bounds(lines: list[str], path: Path) -> tuple[int, int, int]:
    begins = [i for i, line in enumerate(lines) if line.strip().startswith(BEGIN_MARKER)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(END_MARKER)]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise OpenApiError(f"{path}: expected exactly one {BEGIN_MARKER} ... {END_MARKER} block")
    begin, end = begins[0], ends[0]
    indent = len(lines[begin]) - len(lines[begin].lstrip(" "))
    return begin, end, indent


def write_template(spec: dict[str, Any], path: Path) -> bool:
    """Replace the generated block in ``path``; True when the file changed."""
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(True)
    begin, end, indent = _block_bounds(lines, path)
    updated = "".join(lines[: begin + 1]) + render_block(spec, indent) + "".join(lines[end:])
    if updated == original:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def drift(template: Template | None = None) -> str:
    """Empty when template.yaml's definition equals a fresh build, else a unified diff."""
    template = template or load_template()
    current = template.openapi_spec(API_LOGICAL_ID)
    fresh = build_spec(template)
    if current == fresh:
        return ""
    return "".join(
        difflib.unified_diff(
            render_block(current, 0).splitlines(True),
            render_block(fresh, 0).splitlines(True),
            fromfile="template.yaml (DocumentsApi DefinitionBody)",
            tofile="infra.openapi.build_spec()",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the block in template.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 if template.yaml is stale")
    parser.add_argument("--template", type=Path, default=None, help="template path")
    args = parser.parse_args(argv)
    template = load_template(args.template) if args.template else load_template()
    if args.check:
        diff = drift(template)
        if diff:
            sys.stdout.write(diff)
            sys.stderr.write("OpenAPI definition in template.yaml is stale: run make openapi\n")
            return 1
        print("OpenAPI definition in template.yaml is up to date")
        return 0
    spec = build_spec(template)
    if args.write:
        changed = write_template(spec, template.path)
        print(f"{template.path}: {'updated' if changed else 'already up to date'}")
        return 0
    json.dump(spec, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
