"""The OpenAPI definition inside template.yaml is generated from the FastAPI app and stays so.

Fails when a route, model or extension changed without `make openapi` (python -m infra.openapi
--write). The conversion to OpenAPI 3.0 and the API Gateway extensions are tested on small
documents below, so a failure points at the generator or at drift, not both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from infra import openapi
from infra.openapi import (
    ANY_METHOD,
    GATEWAY_RESPONSES,
    HTTP_METHODS,
    INTEGRATION,
    OpenApiError,
    build_spec,
    downgrade_to_30,
    fastapi_openapi,
    to_api_gateway,
)
from infra.template import Template, load_template

EXPECTED_ROUTES = {
    ("/documents", "post"),
    ("/documents/{document_id}", "get"),
    ("/documents/{document_id}/summarize", "post"),
    ("/health", "get"),
    ("/ready", "get"),
}


@pytest.fixture(scope="module")
def app_openapi(template: Template) -> dict[str, Any]:
    return fastapi_openapi(template)


@pytest.fixture(scope="module")
def fresh(app_openapi: dict[str, Any]) -> dict[str, Any]:
    return to_api_gateway(app_openapi)


# ------------------------------------------------------------------------ the real app


def test_template_definition_matches_a_fresh_build(
    template: Template, fresh: dict[str, Any]
) -> None:
    current = template.openapi_spec()
    if current != fresh:
        diff = openapi.drift(template)
        pytest.fail(f"template.yaml's OpenAPI is stale, run `make openapi`:\n{diff[:6000]}")


def test_build_spec_is_deterministic(template: Template, fresh: dict[str, Any]) -> None:
    assert json.dumps(build_spec(template)) == json.dumps(fresh)


def test_every_route_is_integrated(app_openapi: dict[str, Any], template: Template) -> None:
    spec = template.openapi_spec()
    routes = {
        (path, method)
        for path, item in app_openapi["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }
    assert routes >= EXPECTED_ROUTES
    integration = openapi.lambda_proxy_integration()
    for path, method in routes:
        assert spec["paths"][path][method][INTEGRATION] == integration, (path, method)
    for path, item in spec["paths"].items():
        # Unknown methods on a known path reach the app (405), not API Gateway's 403.
        assert item[ANY_METHOD][INTEGRATION] == integration, path
    assert "/{proxy+}" in spec["paths"]
    assert "/" in spec["paths"]


def test_integration_targets_the_ingest_function(template: Template) -> None:
    uri = openapi.lambda_proxy_integration()["uri"]["Fn::Sub"]
    assert "${IngestFunction.Arn}" in uri
    assert uri.startswith("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/")
    assert openapi.FUNCTION_LOGICAL_ID in template.logical_ids("AWS::Serverless::Function")


def test_definition_is_valid_openapi_30_with_bearer_auth(template: Template) -> None:
    spec = template.openapi_spec()
    assert spec["openapi"] == "3.0.1"
    validate(spec)  # raises on an invalid OpenAPI 3.0 document
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= next(iter(schemes.values())).items()
    for name in spec["components"].get("schemas", {}):
        assert name.isalnum(), name  # API Gateway model names


def test_check_cli_passes_on_the_committed_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert openapi.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_write_is_idempotent_and_check_detects_drift(
    tmp_path: Path, template: Template, fresh: dict[str, Any]
) -> None:
    copy = tmp_path / "template.yaml"
    copy.write_text(template.path.read_text())
    assert openapi.write_template(fresh, copy) is False  # committed block is what --write makes
    stale = dict(fresh, info={"title": "stale", "version": "0"})
    assert openapi.write_template(stale, copy) is True
    assert load_template(copy).openapi_spec() == stale
    assert "Stale" not in copy.read_text()
    assert "title: stale" in copy.read_text()
    # Only the marked block changed.
    before = template.path.read_text().split(openapi.BEGIN_MARKER)[0]
    assert copy.read_text().split(openapi.BEGIN_MARKER)[0] == before
    after = template.path.read_text().split(openapi.END_MARKER)[1]
    assert copy.read_text().split(openapi.END_MARKER)[1] == after


# ------------------------------------------------------------------------ 3.1 -> 3.0


def _doc(schemas: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": extra.pop("paths", {}),
        "components": {"schemas": schemas},
        **extra,
    }


def test_nullable_conversions() -> None:
    out = downgrade_to_30(
        _doc(
            {
                "M": {
                    "type": "object",
                    "properties": {
                        "a": {
                            "anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}],
                            "title": "A",
                            "default": None,
                        },
                        "b": {"anyOf": [{"$ref": "#/components/schemas/N"}, {"type": "null"}]},
                        "c": {"type": ["integer", "null"]},
                        "d": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
                        "e": {
                            "type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        },
                    },
                },
                "N": {"type": "object"},
            }
        )
    )
    assert out["openapi"] == "3.0.1"
    props = out["components"]["schemas"]["M"]["properties"]
    assert props["a"] == {
        "type": "string",
        "maxLength": 5,
        "nullable": True,
        "title": "A",
        "default": None,
    }
    assert props["b"] == {"allOf": [{"$ref": "#/components/schemas/N"}], "nullable": True}
    assert props["c"] == {"type": "integer", "nullable": True}
    assert props["d"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}
    assert props["e"]["items"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_keyword_conversions_in_every_schema_location() -> None:
    parameter = {
        "name": "q",
        "in": "query",
        "schema": {"type": "number", "exclusiveMinimum": 0, "examples": [3]},
    }
    body = {"content": {"application/json": {"schema": {"const": "x"}}}}
    upload = {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "contentMediaType": "application/pdf"}
                    },
                }
            }
        }
    }
    out = downgrade_to_30(
        _doc(
            {},
            paths={
                "/a": {
                    "post": {
                        "parameters": [parameter],
                        "requestBody": body,
                        "responses": {"200": {"description": "ok", **upload}},
                    }
                }
            },
        )
    )
    operation = out["paths"]["/a"]["post"]
    assert operation["parameters"][0]["schema"] == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "example": 3,
    }
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"enum": ["x"]}
    file_schema = operation["responses"]["200"]["content"]["multipart/form-data"]["schema"]
    assert file_schema["properties"]["file"] == {"type": "string", "format": "binary"}


def test_info_fields_of_31_are_folded() -> None:
    doc = _doc({})
    doc["info"].update(
        summary="Short", description="Long", license={"name": "MIT", "identifier": "MIT"}
    )
    info = downgrade_to_30(doc)["info"]
    assert info == {
        "title": "t",
        "version": "1",
        "description": "Short\n\nLong",
        "license": {"name": "MIT"},
    }


def test_unconvertible_31_constructs_fail_loudly() -> None:
    with pytest.raises(OpenApiError, match="prefixItems"):
        downgrade_to_30(_doc({"T": {"type": "array", "prefixItems": [{"type": "string"}]}}))
    with pytest.raises(OpenApiError, match="webhooks"):
        downgrade_to_30(_doc({}, webhooks={}))
    with pytest.raises(OpenApiError, match="version"):
        downgrade_to_30({"swagger": "2.0"})


def test_schema_names_become_alphanumeric_and_refs_follow() -> None:
    out = to_api_gateway(
        _doc(
            {"Body_upload": {"type": "object"}, "Model-Input": {"type": "object"}},
            paths={
                "/u": {
                    "post": {
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Body_upload"}
                                }
                            }
                        },
                        "responses": {
                            "200": {
                                "description": "ok",
                                "content": {
                                    "application/json": {
                                        "schema": {"$ref": "#/components/schemas/Model-Input"}
                                    }
                                },
                            }
                        },
                    }
                }
            },
        )
    )
    assert list(out["components"]["schemas"]) == ["Bodyupload", "ModelInput"]
    text = json.dumps(out)
    assert "Body_upload" not in text
    assert "Model-Input" not in text
    with pytest.raises(OpenApiError, match="collide"):
        to_api_gateway(_doc({"A_b": {}, "Ab": {}}))


# ---------------------------------------------------------------- gateway responses


def test_gateway_responses_are_problem_json() -> None:
    responses = openapi.gateway_responses()
    assert {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "INTEGRATION_TIMEOUT",
        "REQUEST_TOO_LARGE",
    } <= set(responses)
    for response_type, response in responses.items():
        assert response["responseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/problem+json'"
        }
        (template_text,) = response["responseTemplates"].values()
        # API Gateway substitutes $context.error.messageString with a quoted JSON string.
        body = json.loads(template_text.replace("$context.error.messageString", '"boom"'))
        assert body["type"] == "about:blank"
        assert body["detail"] == "boom"
        assert body["title"]
        if response_type.startswith("DEFAULT_"):
            # A statusCode here would rewrite every other 4XX/5XX; the status is unknown.
            assert "statusCode" not in response
            assert "status" not in body
        else:
            status = openapi.GATEWAY_RESPONSE_STATUS[response_type]
            assert body["status"] == status
            assert int(response.get("statusCode", status)) == status
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert (
        json.loads(
            responses["THROTTLED"]["responseTemplates"]["application/json"].replace(
                "$context.error.messageString", '""'
            )
        )["status"]
        == 429
    )


def test_template_carries_the_gateway_responses(template: Template) -> None:
    assert template.openapi_spec()[GATEWAY_RESPONSES] == openapi.gateway_responses()
