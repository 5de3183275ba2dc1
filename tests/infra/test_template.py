"""template.yaml, read by infra.template and transformed by aws-sam-translator like CloudFormation.

The assertions are the template's contract: what the worker relies on (partial batch responses,
one message per invocation, visibility >= 6 x timeout, a DLQ), least privilege and the security
settings of the data stores.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from docsum.adapters.dynamodb_items import ACTIVE_INDEX, OWNER_INDEX, PENDING_INDEX, TEXT_INDEX
from docsum.domain.document import Document
from docsum.platform.retry import deliveries_within
from docsum.platform.settings import Settings
from docsum.push.events import DETAIL_TYPES, EVENT_SOURCE

from infra.rules import check_parameters
from infra.template import (
    REPO_ROOT,
    Template,
    TemplateError,
    load_template,
    parse_template,
)
from tests.infra.iam import policy_statements

# SummarizeFunction's MaximumConcurrency, and MODEL_HOST_SLOTS written the same way.
_MAXIMUM_CONCURRENCY = {
    "Fn::If": [
        "OwnModelHost",
        {
            "Fn::FindInMap": [
                "SummarizeConcurrency",
                {"Ref": "ModelHostMaxCount"},
                {"Ref": "OllamaNumParallel"},
            ]
        },
        {"Ref": "MaxConcurrency"},
    ]
}
INGEST = "IngestFunction"
SUMMARIZE = "SummarizeFunction"
SWEEPER = "SweeperFunction"
WEBHOOK = "WebhookFunction"
FETCH = "FetchFunction"


def load_template_text(text: str) -> Template:
    return Template(path=REPO_ROOT / "template.yaml", raw=parse_template(text))


def of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == resource_type}


# ----------------------------------------------------------------------------- the reader


def test_short_tags_are_loaded_in_long_form() -> None:
    raw = parse_template(
        "A: !Ref X\n"
        "B: !GetAtt Queue.Arn\n"
        "C: !Sub '${X}-y'\n"
        "D: !Sub ['${A}', {A: !Ref Z}]\n"
        "E: !If [Cond, !Join ['-', [a, b]], !Ref AWS::NoValue]\n"
        "F: !Select [0, !GetAZs '']\n"
        "G: !Condition IsProd\n"
        "H: 2012-10-17\n"
    )
    assert raw == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "${X}-y"},
        "D": {"Fn::Sub": ["${A}", {"A": {"Ref": "Z"}}]},
        "E": {"Fn::If": ["Cond", {"Fn::Join": ["-", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]},
        "F": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "G": {"Condition": "IsProd"},
        "H": "2012-10-17",  # CloudFormation reads dates as strings; so does the loader
    }


def test_unknown_tag_is_rejected() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="unknown CloudFormation tag"):
        parse_template("A: !Bogus x\n")


def test_load_template_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("Resources: {}\n")
    first = load_template(path)
    assert load_template(path) is first
    path.write_text("Resources: {Q: {Type: AWS::SQS::Queue}}\n")
    import os

    os.utime(path, ns=(1, first.path.stat().st_mtime_ns + 1_000_000))
    assert load_template(path).logical_ids("AWS::SQS::Queue") == ["Q"]


def test_function_spec_merges_globals_and_resolves_parameter_defaults(template: Template) -> None:
    ingest = template.function(INGEST)
    assert ingest.code_uri == REPO_ROOT / "functions" / "ingest"
    assert (ingest.handler_module, ingest.handler_function) == ("docsum_api.handler", "handler")
    assert ingest.runtime == "python3.12"
    assert [layer.content_uri for layer in ingest.layers] == [REPO_ROOT / "functions" / "core"]
    assert ingest.import_paths == (ingest.code_uri, REPO_ROOT / "functions" / "core")
    env = ingest.environment
    assert env["DOCUMENTS_BUCKET"] == {"Ref": "DocumentsBucket"}  # resource: kept
    # With the defaults the stack runs the host: its private name (a Sub of resources: kept).
    assert env["OLLAMA_HOST"] == {
        "Fn::Sub": "http://${ModelHostDiscoveryService.Name}.${AWS::StackName}.internal:11434"
    }
    assert env["OLLAMA_MODEL"] == template.parameter_default("OllamaModel")
    assert env["MAX_RECEIVE_COUNT"] == str(template.parameter_default("MaxReceiveCount"))
    summarize_env = template.function(SUMMARIZE).environment
    ingest_only = {
        "API_ROOT_PATH",
        "DOCUMENT_ID_SECRET_ARN",
        "RETENTION_DAYS",
        "RATE_LIMIT_REQUESTS",
        "RATE_LIMIT_WINDOW_SECONDS",
    }
    # The defaults run the stack's host, so the function is in a VPC: pages via FetchFunction.
    assert summarize_env["PAGE_FETCH_FUNCTION"] == {"Ref": FETCH}
    summarize_only = {"PAGE_FETCH_FUNCTION"}
    assert {k: v for k, v in env.items() if k not in ingest_only} == {
        k: v for k, v in summarize_env.items() if k not in summarize_only
    }
    assert env["RETENTION_DAYS"] == str(template.parameter_default("RetentionDays"))


def test_reader_errors_name_the_problem(template: Template) -> None:
    with pytest.raises(TemplateError, match="no resource"):
        template.resource("Nope")
    with pytest.raises(TemplateError, match="not AWS::SQS::Queue"):
        template.queue("DocumentsTable")
    no_default = load_template_text("Parameters: {Host: {Type: String}}\nResources: {}\n")
    with pytest.raises(TemplateError, match="no default"):
        no_default.parameter_default("Host")
    with pytest.raises(TemplateError, match="SQS events"):
        template.sqs_event(INGEST)


# ------------------------------------------------------------------------ the worker path


def _mapping_of(transformed: dict[str, Any], function: str) -> dict[str, Any]:
    mappings = of_type(transformed, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2  # the summarize jobs and the webhook deliveries
    (esm,) = (
        m["Properties"]
        for m in mappings.values()
        if m["Properties"]["FunctionName"] == {"Ref": function}
    )
    return esm


def test_summarize_event_source_mapping(template: Template, transformed: dict[str, Any]) -> None:
    esm = _mapping_of(transformed, SUMMARIZE)
    event = template.sqs_event(SUMMARIZE)
    assert esm["FunctionName"] == {"Ref": SUMMARIZE}
    assert esm["EventSourceArn"] == {"Fn::GetAtt": [event.queue_logical_id, "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # hosts x slots with the stack's own model host, the parameter with yours
    assert esm["ScalingConfig"] == {"MaximumConcurrency": _MAXIMUM_CONCURRENCY}
    # One LLM job per invocation: each gets the whole function timeout.
    assert esm["BatchSize"] == event.batch_size == 1
    assert "MaximumBatchingWindowInSeconds" not in esm
    assert event.report_batch_item_failures


def _with_parameters(template: Template, values: dict[str, str]) -> Template:
    """The template as read with these parameter values (as defaults)."""
    parameters = {
        name: {**spec, "Default": values[name]} if name in values else spec
        for name, spec in template.parameters.items()
    }
    return Template(path=template.path, raw={**template.raw, "Parameters": parameters})


_OWN_HOST = {"ModelHostImageTag": "v1"}


@pytest.mark.parametrize(("hosts", "slots"), [(h, s) for h in range(1, 9) for s in (1, 2, 4, 8)])
def test_model_calls_in_flight_never_exceed_the_host_slots(
    template: Template, hosts: int, slots: int
) -> None:
    """Invocations x chunk calls each <= hosts x slots, for every parameter set CloudFormation
    accepts: no call waits in a host's queue, where its wait would count against its time to
    first token. The one set that cannot hold (1 x 1: SQS runs at least 2) is refused."""
    values = {**_OWN_HOST, "ModelHostMaxCount": str(hosts), "OllamaNumParallel": str(slots)}
    problems = check_parameters(template, values)
    if hosts * slots == 1:
        assert any("OwnModelHostHasTwoSlots" in p for p in problems), problems
        return
    assert problems == []
    deployed = _with_parameters(template, values)
    invocations = deployed.sqs_event(SUMMARIZE).maximum_concurrency
    env = deployed.function(SUMMARIZE).environment
    calls = int(env["LLM_PARALLEL_CALLS"])
    assert invocations is not None
    assert invocations * calls <= hosts * slots
    # /ready states the same numbers, and finds them consistent
    settings = Settings(model_host_slots=env["MODEL_HOST_SLOTS"], llm_parallel_calls=calls)
    assert settings.model_host_slots == invocations
    assert "OVERSUBSCRIBED" not in settings.model_calls_note()


def test_your_hosts_slots_set_the_invocations_and_ready_shows_them(template: Template) -> None:
    values = {"OllamaHost": "https://ollama.example.com", "MaxConcurrency": "6"}
    assert check_parameters(template, values) == []
    deployed = _with_parameters(template, values)
    env = deployed.function(SUMMARIZE).environment
    assert deployed.sqs_event(SUMMARIZE).maximum_concurrency == 6
    assert (env["MODEL_HOST_SLOTS"], env["LLM_PARALLEL_CALLS"]) == ("6", "1")
    assert deployed.function(INGEST).environment["MODEL_HOST_SLOTS"] == "6"  # /ready's view
    note = Settings(model_host_slots=6, llm_parallel_calls=1).model_calls_note()
    assert note == "1 model call(s) per summarize invocation, one invocation per host slot (6)"
    # a hand-set LLM_PARALLEL_CALLS that breaks the arithmetic is called out, not hidden
    assert (
        "OVERSUBSCRIBED, up to 12 calls for 6 slots"
        in Settings(model_host_slots=6, llm_parallel_calls=2).model_calls_note()
    )


def test_max_concurrency_parameter_respects_the_event_source_minimum(template: Template) -> None:
    parameter = template.parameters["MaxConcurrency"]
    assert parameter["Type"] == "Number"
    assert parameter["MinValue"] == 2  # SQS event source mappings reject less than 2
    assert parameter["MaxValue"] == 1000
    assert parameter["Default"] == 2


def test_queue_visibility_covers_six_function_timeouts(
    template: Template, transformed: dict[str, Any]
) -> None:
    event = template.sqs_event(SUMMARIZE)
    queue = template.queue(event.queue_logical_id)
    timeout = transformed["Resources"][SUMMARIZE]["Properties"]["Timeout"]
    assert timeout == template.function(SUMMARIZE).timeout == 600
    assert queue.visibility_timeout >= 6 * timeout


def test_queue_redrives_to_the_dead_letter_queue(template: Template) -> None:
    queue_id = template.sqs_event(SUMMARIZE).queue_logical_id
    raw = template.raw["Resources"][queue_id]["Properties"]
    assert raw["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SummarizeDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    spec = template.queue(queue_id)
    assert spec.dead_letter_queue_logical_id == "SummarizeDeadLetterQueue"
    assert spec.max_receive_count == template.parameter_default("MaxReceiveCount") == 30
    dlq = template.queue("SummarizeDeadLetterQueue")
    assert dlq.message_retention == spec.message_retention == 14 * 24 * 3600
    for logical_id in (queue_id, "SummarizeDeadLetterQueue"):
        assert template.resource(logical_id)["SqsManagedSseEnabled"] is True


def test_max_receive_count_outlasts_the_retry_window(template: Template) -> None:
    """The worker gives up after RetryWindowSeconds, not after a receive count: the queue must
    allow every delivery its backoff can make in that window (at the shortest jitter), with
    room for deliveries that find the document busy, before SQS dead-letters the message."""
    defaults = Settings()
    window = int(template.parameter_default("RetryWindowSeconds"))
    assert window == defaults.retry_window_seconds == 3600
    needed = deliveries_within(window, defaults.retry_base_seconds, defaults.retry_max_seconds)
    max_receive_count = int(template.parameter_default("MaxReceiveCount"))
    assert max_receive_count >= needed + 5, (max_receive_count, needed)
    assert max_receive_count == defaults.max_receive_count
    assert defaults.retry_max_seconds <= 12 * 3600  # ChangeMessageVisibility's limit
    queue = template.queue(template.sqs_event(SUMMARIZE).queue_logical_id)
    assert queue.message_retention is not None
    assert queue.message_retention > 2 * window


@pytest.mark.parametrize("dlq", ["SummarizeDeadLetterQueue", "WebhookDeadLetterQueue"])
def test_dead_letter_queue_depth_alarm(dlq: str, transformed: dict[str, Any]) -> None:
    alarms = of_type(transformed, "AWS::CloudWatch::Alarm")
    (alarm,) = (
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("Dimensions", [{}])[0].get("Value")
        == {"Fn::GetAtt": [dlq, "QueueName"]}
    )
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    assert alarm["Dimensions"] == [dimension]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# ------------------------------------------------------------------------ the webhook path


def test_webhook_deliveries_have_their_own_queue_retries_and_dlq(
    template: Template, transformed: dict[str, Any]
) -> None:
    esm = _mapping_of(transformed, WEBHOOK)
    event = template.sqs_event(WEBHOOK)
    assert event.queue_logical_id == "WebhookQueue"
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WebhookMaxConcurrency"}}
    # One delivery per invocation: a hanging receiver delays nobody else's notification.
    assert esm["BatchSize"] == 1
    queue = template.queue("WebhookQueue")
    function = template.function(WEBHOOK)
    assert function.handler == "webhook_handler.handler"
    assert queue.visibility_timeout >= 6 * function.timeout
    assert queue.dead_letter_queue_logical_id == "WebhookDeadLetterQueue"
    assert queue.max_receive_count is not None
    assert queue.max_receive_count > 3  # fails twice, then recovers: still delivered
    assert template.queue("WebhookDeadLetterQueue").message_retention == 14 * 24 * 3600
    assert template.sqs_event(SUMMARIZE).queue_logical_id != "WebhookQueue"
    env = function.environment
    assert env["WEBHOOK_SECRETS_PARAMETER"] == "/docsum/webhook-secrets"
    assert "WEBHOOK_SECRETS" not in env  # secrets never in the environment
    # Receivers are on the internet: the function stays outside the model host's VPC.
    assert "VpcConfig" not in template.resource(WEBHOOK)


# ------------------------------------------------------------------------------ functions


def test_functions_runtime_architecture_tracing_and_layer(transformed: dict[str, Any]) -> None:
    functions = of_type(transformed, "AWS::Lambda::Function")
    assert set(functions) == {INGEST, SUMMARIZE, SWEEPER, WEBHOOK, FETCH}
    layers = of_type(transformed, "AWS::Lambda::LayerVersion")
    (layer_id,) = (name for name in layers if name.startswith("CoreLayer"))
    (ocr_data_id,) = (name for name in layers if name.startswith("OcrDataLayer"))
    for layer in layers.values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", logical_id
        assert props["Architectures"] == ["x86_64"], logical_id
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        # SAM adds a function's own layers after the global one: OCR's language data only
        # where files are read.
        extra = [{"Ref": ocr_data_id}] if logical_id == SUMMARIZE else []
        assert props["Layers"] == [{"Ref": layer_id}, *extra], logical_id
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": f"{logical_id}LogGroup"}


def test_layers_are_built_by_sam(template: Template) -> None:
    assert set(template.logical_ids("AWS::Serverless::LayerVersion")) == {
        "CoreLayer",
        "OcrDataLayer",
    }
    layer = template.layer("CoreLayer")
    assert layer.build_method == "python3.12"
    assert layer.content_uri == REPO_ROOT / "functions" / "core"
    assert layer.compatible_runtimes == ("python3.12",)
    # OCR's language data: copied by a makefile target (sam build runs it), no Python.
    data = template.layer("OcrDataLayer")
    assert data.build_method == "makefile"
    assert data.content_uri == REPO_ROOT / "infra" / "ocr-data"
    assert "build-OcrDataLayer:" in (data.content_uri / "Makefile").read_text()
    summarize = template.function(SUMMARIZE)
    assert [layer.logical_id for layer in summarize.layers] == ["CoreLayer", "OcrDataLayer"]
    assert [layer.logical_id for layer in template.function(INGEST).layers] == ["CoreLayer"]


def test_handlers_and_timeouts(template: Template) -> None:
    ingest, summarize = template.function(INGEST), template.function(SUMMARIZE)
    assert ingest.handler == "docsum_api.handler.handler"
    assert summarize.handler == "summarize_handler.handler"
    assert ingest.timeout == 29  # API Gateway's integration timeout is 29 s
    assert summarize.timeout == 600


def test_environment(template: Template, transformed: dict[str, Any]) -> None:
    expected = {
        "DOCUMENTS_BUCKET": {"Ref": "DocumentsBucket"},
        "DOCUMENTS_TABLE": {"Ref": "DocumentsTable"},
        "SUMMARIZE_QUEUE_URL": {"Ref": "SummarizeQueue"},
        "DEAD_LETTER_QUEUE_URL": {"Ref": "SummarizeDeadLetterQueue"},
        "WEBHOOK_QUEUE_URL": {"Ref": "WebhookQueue"},
        "WEBHOOK_DEAD_LETTER_QUEUE_URL": {"Ref": "WebhookDeadLetterQueue"},
        "OLLAMA_HOST": {
            "Fn::If": [
                "OwnModelHost",
                {
                    "Fn::Sub": "http://${ModelHostDiscoveryService.Name}.${AWS::StackName}"
                    ".internal:11434"
                },
                {"Fn::If": ["PrivateModelHost", {"Ref": "OllamaHostInVpc"}, {"Ref": "OllamaHost"}]},
            ]
        },
        "OLLAMA_MODEL": {"Ref": "OllamaModel"},
        "MODEL_HOST_SLOTS": _MAXIMUM_CONCURRENCY,
        "LLM_PARALLEL_CALLS": "1",
        "MAX_RECEIVE_COUNT": {"Ref": "MaxReceiveCount"},
        "RETRY_WINDOW_SECONDS": {"Ref": "RetryWindowSeconds"},
        "API_TOKEN_PARAMETER": {"Ref": "ApiTokenParameterName"},
        "POWERTOOLS_SERVICE_NAME": "docsum",
        "POWERTOOLS_METRICS_NAMESPACE": "Docsum",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
        "LOG_LEVEL": {"Ref": "LogLevel"},
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    }
    ingest_own = {
        "API_ROOT_PATH": "/v1",
        "DOCUMENT_ID_SECRET_ARN": {"Ref": "DocumentIdSecret"},
        "RETENTION_DAYS": {"Ref": "RetentionDays"},
        "RATE_LIMIT_REQUESTS": {"Ref": "RateLimitRequests"},
        "RATE_LIMIT_WINDOW_SECONDS": {"Ref": "RateLimitWindowSeconds"},
    }
    webhook_own = {"WEBHOOK_SECRETS_PARAMETER": {"Ref": "WebhookSecretsParameterName"}}
    # Only in a VPC (no way out) does the worker get pages through FetchFunction.
    summarize_own = {
        "PAGE_FETCH_FUNCTION": {
            "Fn::If": ["SummarizeInVpc", {"Ref": FETCH}, {"Ref": "AWS::NoValue"}]
        }
    }
    for logical_id, own in (
        (INGEST, ingest_own),
        (SUMMARIZE, summarize_own),
        (SWEEPER, {}),
        (WEBHOOK, webhook_own),
        (FETCH, {}),
    ):
        env = transformed["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert env == {**expected, **own}, logical_id


def test_api_root_path_is_the_stage(template: Template) -> None:
    """Public URLs the app builds (Location) must carry the stage API Gateway strips."""
    stage = template.resource("DocumentsApi")["StageName"]
    assert template.function(INGEST).environment["API_ROOT_PATH"] == f"/{stage}"


def test_parameters(template: Template) -> None:
    params = template.parameters
    assert {
        "OllamaHost",
        "OllamaHostInVpc",
        "OllamaModel",
        "MaxConcurrency",
        "MaxReceiveCount",
        "RetryWindowSeconds",
        "ApiTokenParameterName",
        "LogLevel",
        "SummarizeSubnetIds",
        "SummarizeSecurityGroupIds",
        "RetentionDays",
        "RateLimitRequests",
        "RateLimitWindowSeconds",
        "WebhookSecretsParameterName",
        "WebhookMaxConcurrency",
    } <= set(params)
    assert template.parameter_default("OllamaHost") == ""  # empty: the stack runs the host
    assert template.parameter_default("RetentionDays") == 0  # unset: documents are kept
    assert template.parameter_default("RateLimitRequests") > 0  # the limit is on by default
    assert template.parameter_default("OllamaModel") == "gemma3:1b"
    assert template.parameter_default("ApiTokenParameterName") == "/docsum/api-tokens"
    assert template.parameter_default("LogLevel") == "INFO"
    assert params["MaxReceiveCount"]["Type"] == "Number"
    assert re.fullmatch(params["ApiTokenParameterName"]["AllowedPattern"], "/docsum/api-tokens")
    assert re.fullmatch(params["OllamaHost"]["AllowedPattern"], "https://ollama.example.com")
    assert not re.fullmatch(params["OllamaHost"]["AllowedPattern"], "http://10.0.1.5:11434")
    assert re.fullmatch(params["OllamaHostInVpc"]["AllowedPattern"], "http://10.0.1.5:11434")


# ------------------------------------------------------------------------------------ IAM


def _resource_name(resource: Any) -> str:
    """A readable name for a statement's resource: 'DocumentsBucket/*', 'ssm:<parameter>'."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        return str(logical_id)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        if match := re.fullmatch(r"\$\{(\w+)\.Arn\}((?:/[a-z]+)?/\*|/index/[\w-]+)?", text):
            return match.group(1) + (match.group(2) or "")
        prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        if text.startswith(prefix) and text[len(prefix) :] in (
            "${ApiTokenParameterName}",
            "${WebhookSecretsParameterName}",
        ):
            return "ssm:" + text[len(prefix) :].strip("${}")
        if text == "${DocumentsTable.Arn}/index/*":
            return "DocumentsTable/index/*"
        bus = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
        if text == bus:
            return "events:default-bus"
    if resource == {"Ref": "DocumentIdSecret"}:  # a secret's Ref is its ARN
        return "DocumentIdSecret"
    raise AssertionError(f"unscoped or unexpected resource {resource!r}")


def _permissions(role: dict[str, Any]) -> set[tuple[str, str]]:
    """Scoped grants; statements on ``*`` are test_iam_wildcards' business."""
    granted: set[tuple[str, str]] = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy_statements(policy["PolicyDocument"]):
            if statement["Resource"] == "*":
                continue
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement
            assert "NotResource" not in statement
            actions = statement["Action"]
            resources = statement["Resource"]
            actions = [actions] if isinstance(actions, str) else actions
            resources = resources if isinstance(resources, list) else [resources]
            for action in actions:
                assert "*" not in action, statement
                for resource in resources:
                    assert resource != "*", statement
                    granted.add((action, _resource_name(resource)))
    return granted


EXPECTED_PERMISSIONS = {
    INGEST: {
        ("s3:PutObject", "DocumentsBucket/documents/*"),
        ("s3:GetObject", "DocumentsBucket/documents/*"),
        ("s3:DeleteObject", "DocumentsBucket/documents/*"),
        ("s3:DeleteObjectVersion", "DocumentsBucket/documents/*"),
        ("s3:PutObject", "DocumentsBucket/originals/*"),
        ("s3:GetObject", "DocumentsBucket/originals/*"),
        ("s3:DeleteObject", "DocumentsBucket/originals/*"),
        ("s3:DeleteObjectVersion", "DocumentsBucket/originals/*"),
        ("s3:PutObject", "DocumentsBucket/uploads/*"),
        ("s3:GetObject", "DocumentsBucket/uploads/*"),
        ("s3:DeleteObject", "DocumentsBucket/uploads/*"),
        ("s3:DeleteObjectVersion", "DocumentsBucket/uploads/*"),
        ("s3:ListBucket", "DocumentsBucket"),  # readiness probe: HeadBucket
        ("s3:ListBucketVersions", "DocumentsBucket"),  # finding those versions
        ("dynamodb:GetItem", "DocumentsTable"),
        ("dynamodb:PutItem", "DocumentsTable"),
        ("dynamodb:UpdateItem", "DocumentsTable"),
        ("dynamodb:DescribeTable", "DocumentsTable"),
        ("dynamodb:Query", "DocumentsTable/index/*"),  # GET /documents; shared-text check
        ("secretsmanager:GetSecretValue", "DocumentIdSecret"),  # the HMAC key of ids
        ("sqs:SendMessage", "SummarizeQueue"),
        ("sqs:GetQueueAttributes", "SummarizeQueue"),
        ("ssm:GetParameter", "ssm:ApiTokenParameterName"),
        ("logs:CreateLogStream", "IngestFunctionLogGroup"),  # its own log group only
        ("logs:PutLogEvents", "IngestFunctionLogGroup"),
    },
    SUMMARIZE: {
        ("s3:GetObject", "DocumentsBucket/documents/*"),
        ("s3:GetObject", "DocumentsBucket/originals/*"),
        ("s3:GetObject", "DocumentsBucket/uploads/*"),
        ("s3:PutObject", "DocumentsBucket/documents/*"),  # extracted texts
        ("s3:ListBucket", "DocumentsBucket"),  # NoSuchKey, not AccessDenied (its prefixes)
        ("dynamodb:GetItem", "DocumentsTable"),
        ("dynamodb:UpdateItem", "DocumentsTable"),
        ("sqs:ReceiveMessage", "SummarizeQueue"),  # the event source, this queue only
        ("sqs:DeleteMessage", "SummarizeQueue"),
        ("sqs:GetQueueAttributes", "SummarizeQueue"),
        ("sqs:ChangeMessageVisibility", "SummarizeQueue"),  # retry backoff
        ("logs:CreateLogStream", "SummarizeFunctionLogGroup"),
        ("logs:PutLogEvents", "SummarizeFunctionLogGroup"),
        ("sqs:SendMessage", "SummarizeDeadLetterQueue"),  # parks unprocessable messages
        ("sqs:SendMessage", "WebhookQueue"),  # queues webhook notifications
        ("events:PutEvents", "events:default-bus"),  # completion events, default bus only
        # Only in a VPC (SummarizeInVpc): web pages through FetchFunction, read back, deleted.
        ("lambda:InvokeFunction", FETCH),
        ("s3:GetObject", "DocumentsBucket/pages/*"),
        ("s3:DeleteObject", "DocumentsBucket/pages/*"),
        ("s3:DeleteObjectVersion", "DocumentsBucket/pages/*"),
        ("s3:ListBucketVersions", "DocumentsBucket"),  # the page's versions (pages/ only)
    },
    FETCH: {
        ("s3:PutObject", "DocumentsBucket/pages/*"),  # the page for the worker, nothing else
        ("logs:CreateLogStream", "FetchFunctionLogGroup"),
        ("logs:PutLogEvents", "FetchFunctionLogGroup"),
    },
    WEBHOOK: {
        ("sqs:ReceiveMessage", "WebhookQueue"),  # the event source, this queue only
        ("sqs:DeleteMessage", "WebhookQueue"),
        ("sqs:GetQueueAttributes", "WebhookQueue"),
        ("sqs:ChangeMessageVisibility", "WebhookQueue"),  # retry backoff
        ("sqs:SendMessage", "WebhookDeadLetterQueue"),  # parks unsendable messages
        ("ssm:GetParameter", "ssm:WebhookSecretsParameterName"),
        ("logs:CreateLogStream", "WebhookFunctionLogGroup"),
        ("logs:PutLogEvents", "WebhookFunctionLogGroup"),
    },
    SWEEPER: {
        ("dynamodb:Query", "DocumentsTable/index/pending-due"),  # the sparse index only
        ("dynamodb:UpdateItem", "DocumentsTable"),
        ("dynamodb:GetItem", "DocumentsTable"),  # reads back what it failed, to announce it
        ("sqs:SendMessage", "SummarizeQueue"),
        ("sqs:SendMessage", "WebhookQueue"),
        ("events:PutEvents", "events:default-bus"),
        ("logs:CreateLogStream", "SweeperFunctionLogGroup"),
        ("logs:PutLogEvents", "SweeperFunctionLogGroup"),
    },
}

# None: every function has its own role. SAM's would carry AWSLambdaBasicExecutionRole (every
# log group in the account) and AWSXrayWriteOnlyAccess, the SQS-triggered ones also
# AWSLambdaSQSQueueExecutionRole (every queue) and AWSLambdaVPCAccessExecutionRole.
EXPECTED_MANAGED_POLICIES: dict[str, set[str]] = {
    INGEST: set(),
    SWEEPER: set(),
    SUMMARIZE: set(),
    WEBHOOK: set(),
    FETCH: set(),
}


@pytest.mark.parametrize("function", [INGEST, SUMMARIZE, SWEEPER, WEBHOOK, FETCH])
def test_iam_least_privilege(function: str, transformed: dict[str, Any]) -> None:
    role_ref = transformed["Resources"][function]["Properties"]["Role"]
    role = transformed["Resources"][role_ref["Fn::GetAtt"][0]]
    assert _permissions(role) == EXPECTED_PERMISSIONS[function]
    managed = set()
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        text = arn if isinstance(arn, str) else arn["Fn::Sub"]
        managed.add(text.rsplit("/", 1)[1])
    assert managed == EXPECTED_MANAGED_POLICIES[function]


def test_summarize_may_list_only_the_documents_prefix(transformed: dict[str, Any]) -> None:
    """ListBucket makes S3 answer NoSuchKey (permanent) instead of AccessDenied (read as
    transient) for a missing object, and only under the prefixes the function reads."""
    role_ref = transformed["Resources"][SUMMARIZE]["Properties"]["Role"]
    role = transformed["Resources"][role_ref["Fn::GetAtt"][0]]
    statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Action") == "s3:ListBucket"
    ]
    assert [s["Condition"] for s in statements] == [
        {"StringLike": {"s3:prefix": ["documents/*", "originals/*", "uploads/*"]}}
    ]


def test_sweeper_runs_on_a_schedule(template: Template, transformed: dict[str, Any]) -> None:
    sweeper = template.function(SWEEPER)
    assert sweeper.handler == "sweep_handler.handler"
    assert sweeper.timeout <= 300
    (rule,) = of_type(transformed, "AWS::Events::Rule").values()
    assert re.fullmatch(r"rate\(\d+ minutes?\)", rule["Properties"]["ScheduleExpression"])
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [SWEEPER, "Arn"]}


def test_no_other_roles_or_policies(transformed: dict[str, Any]) -> None:
    roles = of_type(transformed, "AWS::IAM::Role")
    assert set(roles) == {
        f"{INGEST}Role",
        f"{SUMMARIZE}Role",
        f"{SWEEPER}Role",
        f"{WEBHOOK}Role",
        f"{FETCH}Role",
        "ModelHostTaskExecutionRole",
        "ModelHostInstanceRole",
    }
    assert not of_type(transformed, "AWS::IAM::Policy")
    assert not of_type(transformed, "AWS::IAM::ManagedPolicy")


# ------------------------------------------------------------------------------------ API


def test_api_gateway_may_invoke_only_the_ingest_function(transformed: dict[str, Any]) -> None:
    permissions = {
        logical_id: permission
        for logical_id, permission in of_type(transformed, "AWS::Lambda::Permission").items()
        if permission["Properties"]["Principal"] != "events.amazonaws.com"  # the schedule's
    }
    # The definition body carries the integrations (no `Api` events), so SAM adds no
    # permission of its own: the template's explicit one is the only one.
    assert list(permissions) == ["IngestFunctionApiPermission"]
    props = permissions["IngestFunctionApiPermission"]["Properties"]
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["FunctionName"] == {"Ref": INGEST}
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert props["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
        "${DocumentsApi}/*"
    }


def test_rest_api_stage_and_definition(template: Template, transformed: dict[str, Any]) -> None:
    (api,) = of_type(transformed, "AWS::ApiGateway::RestApi").values()
    body = dict(api["Properties"]["Body"])
    body.pop("x-amazon-apigateway-binary-media-types")  # SAM's, from BinaryMediaTypes
    assert body == template.openapi_spec()
    assert api["Properties"]["Body"]["openapi"] == "3.0.1"  # API Gateway imports 3.0, not 3.1
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stages = of_type(transformed, "AWS::ApiGateway::Stage")
    assert len(stages) == 1  # no extra "Stage" stage
    (stage,) = (s["Properties"] for s in stages.values())
    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    (throttle,) = stage["MethodSettings"]
    assert throttle["ThrottlingRateLimit"] > 0
    assert throttle["ThrottlingBurstLimit"] > 0


def test_outputs(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${DocumentsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"
    }
    assert outputs["DocumentsBucketName"]["Value"] == {"Ref": "DocumentsBucket"}
    assert outputs["DocumentsTableName"]["Value"] == {"Ref": "DocumentsTable"}
    assert outputs["SummarizeQueueUrl"]["Value"] == {"Ref": "SummarizeQueue"}
    assert outputs["SummarizeDeadLetterQueueUrl"]["Value"] == {"Ref": "SummarizeDeadLetterQueue"}
    assert outputs["WebhookQueueUrl"]["Value"] == {"Ref": "WebhookQueue"}
    assert outputs["WebhookDeadLetterQueueUrl"]["Value"] == {"Ref": "WebhookDeadLetterQueue"}
    pattern = json.loads(outputs["CompletionEventPattern"]["Value"])
    assert pattern == {
        "source": [EVENT_SOURCE],
        "detail-type": sorted(DETAIL_TYPES.values(), reverse=True),
    }


# ---------------------------------------------------------------------------- data stores


def test_bucket_security(template: Template) -> None:
    bucket = template.resource("DocumentsBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert template.raw["Resources"]["DocumentsBucket"]["DeletionPolicy"] == "Retain"


def test_bucket_policy_denies_plain_http(template: Template) -> None:
    (policy_id,) = template.logical_ids("AWS::S3::BucketPolicy")
    policy = template.resource(policy_id)
    assert policy["Bucket"] == {"Ref": "DocumentsBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["DocumentsBucket", "Arn"]},
        {"Fn::Sub": "${DocumentsBucket.Arn}/*"},
    ]


def test_table_keys_billing_and_protection(template: Template) -> None:
    table = template.table("DocumentsTable")
    assert table.key_schema == ({"AttributeName": "id", "KeyType": "HASH"},)
    assert table.attribute_definitions == tuple(
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("id", "owner", "created_at", "text_key", "pending", "due_at", "active_owner")
    )
    assert table.billing_mode == "PAY_PER_REQUEST"
    assert table.hash_key == "id"
    props = template.resource("DocumentsTable")
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # The adapter queries these indexes by name and key: the template must say the same.
    indexes = {i["IndexName"]: i for i in table.global_secondary_indexes}
    assert set(indexes) == {OWNER_INDEX, TEXT_INDEX, PENDING_INDEX, ACTIVE_INDEX}
    # Fairness: sparse, only unfinished documents carry `active_owner`; what a count needs.
    assert indexes[ACTIVE_INDEX]["KeySchema"] == [
        {"AttributeName": "active_owner", "KeyType": "HASH"}
    ]
    assert indexes[ACTIVE_INDEX]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["text_chars", "expires_at"],
    }
    # The sweeper's: sparse, only documents still queued or processing carry `pending`.
    assert indexes[PENDING_INDEX]["KeySchema"] == [
        {"AttributeName": "pending", "KeyType": "HASH"},
        {"AttributeName": "due_at", "KeyType": "RANGE"},
    ]
    assert indexes[OWNER_INDEX]["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    assert indexes[OWNER_INDEX]["Projection"] == {"ProjectionType": "ALL"}
    assert indexes[TEXT_INDEX]["KeySchema"] == [{"AttributeName": "text_key", "KeyType": "HASH"}]
    # TTL names the model's retention field (tombstones and rate-limit windows use it too).
    assert table.ttl_attribute == "expires_at"
    assert "expires_at" in Document.model_fields


def test_retention_expires_texts_only_when_set(template: Template) -> None:
    assert template.raw["Conditions"]["DocumentsExpire"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RetentionDays"}, 0]}]
    }
    rules = template.raw["Resources"]["DocumentsBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    conditional = [r["Fn::If"] for r in rules if "Fn::If" in r]
    # Every stored text (documents/<owner>/<digest>.txt) and file (originals/).
    assert sorted(rule["Prefix"] for _, rule, _ in conditional) == ["documents/", "originals/"]
    for condition, rule, otherwise in conditional:
        assert condition == "DocumentsExpire"
        assert otherwise == {"Ref": "AWS::NoValue"}
        assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"}
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    # Uploads expire with their documents, and after a week even when documents never do.
    (uploads,) = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert uploads["ExpirationInDays"] == {
        "Fn::If": ["DocumentsExpire", {"Ref": "RetentionDays"}, 7]
    }
    assert uploads["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_document_id_key_is_generated_and_kept(template: Template) -> None:
    secret = template.raw["Resources"]["DocumentIdSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["DeletionPolicy"] == "Retain"  # ids depend on it, like the retained table
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32


def test_log_groups_have_retention(template: Template) -> None:
    groups = template.logical_ids("AWS::Logs::LogGroup")
    assert set(groups) == {
        f"{INGEST}LogGroup",
        f"{SUMMARIZE}LogGroup",
        f"{SWEEPER}LogGroup",
        f"{WEBHOOK}LogGroup",
        f"{FETCH}LogGroup",
        "ModelHostLogGroup",
    }
    for logical_id in groups:
        assert template.resource(logical_id)["RetentionInDays"] > 0


def test_checkov_suppressions_carry_reasons(template: Template) -> None:
    seen = 0
    for logical_id, resource in template.resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            seen += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
            assert len(skip.get("comment", "").split()) >= 12, (logical_id, skip["id"])
    assert seen > 0


def test_template_sources_exist(template: Template) -> None:
    for logical_id in template.logical_ids("AWS::Serverless::Function"):
        assert template.function(logical_id).code_uri.is_dir(), logical_id
    for logical_id in template.logical_ids("AWS::Serverless::LayerVersion"):
        assert template.layer(logical_id).content_uri.is_dir(), logical_id


def test_resolution_follows_the_defaults_through_conditions_and_mappings() -> None:
    template = load_template_text(
        "Parameters:\n"
        "  Host: {Type: String, Default: ''}\n"
        "  Subnets: {Type: CommaDelimitedList, Default: ''}\n"
        "  Slots: {Type: Number, Default: 2}\n"
        "  Other: {Type: String}\n"
        "Mappings:\n"
        "  Table: {'2': {Max: 3}}\n"
        "Conditions:\n"
        "  OwnHost: !Equals [!Ref Host, '']\n"
        "  InVpc: !Not [!Equals [!Join ['', !Ref Subnets], '']]\n"
        "  Both: !And [!Condition OwnHost, !Condition InVpc]\n"
        "  Unknown: !Equals [!Ref Other, x]\n"
        "Resources: {}\n"
    )
    resolve = template.resolve_parameters
    assert resolve({"Fn::If": ["OwnHost", "own", "yours"]}) == "own"
    assert (
        resolve({"Fn::If": ["Both", "a", {"Fn::FindInMap": ["Table", {"Ref": "Slots"}, "Max"]}]})
        == 3
    )
    # NoValue drops the key (and list items), like CloudFormation
    assert resolve({"A": {"Fn::If": ["InVpc", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}) == {"B": 2}
    assert resolve([{"Fn::If": ["InVpc", 1, {"Ref": "AWS::NoValue"}]}, 2]) == [2]
    # undecidable (a parameter without default): kept as written
    undecided = {"Fn::If": ["Unknown", 1, 2]}
    assert resolve(undecided) == undecided


# ---------------------------------------------------------------------------------- files


def test_uploads_reach_the_worker_through_a_bucket_notification(template: Template) -> None:
    """upload → S3 → event → queue: the bucket tells the summarize queue about uploads/ only,
    and only S3 of this account may send to it."""
    bucket = template.raw["Resources"]["DocumentsBucket"]
    (notification,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == {"Fn::GetAtt": ["SummarizeQueue", "Arn"]}
    assert notification["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}
    (policy_id,) = template.logical_ids("AWS::SQS::QueuePolicy")
    assert bucket["DependsOn"] == policy_id
    policy = template.resource(policy_id)
    assert policy["Queues"] == [{"Ref": "SummarizeQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    # ... and only this bucket: its name is spelled from the stack id (a reference to the
    # bucket would be a cycle), in the policy exactly as in the bucket.
    (source_arn,) = statement["Condition"]["ArnEquals"].values()
    assert list(statement["Condition"]["ArnEquals"]) == ["aws:SourceArn"]
    prefix, name_suffix = source_arn["Fn::Join"][1]
    assert prefix == {"Fn::Sub": "arn:${AWS::Partition}:s3:::docsum-documents-"}
    assert bucket["Properties"]["BucketName"] == {
        "Fn::Join": ["-", ["docsum-documents", name_suffix]]
    }
    assert name_suffix == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert "ArnLike" not in statement["Condition"]


def test_uploading_records_expire_and_files_pass_api_gateway_as_binary(
    template: Template, transformed: dict[str, Any]
) -> None:
    table = template.resource("DocumentsTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (api,) = of_type(transformed, "AWS::ApiGateway::RestApi").values()
    binary = api["Properties"]["Body"]["x-amazon-apigateway-binary-media-types"]
    assert binary == ["multipart/form-data"]


def test_a_waf_keeps_unauthenticated_floods_off_the_stage_throttle(template: Template) -> None:
    """The stage throttle is one budget for everyone: requests without a bearer token are
    limited per source IP before API Gateway counts them, and every IP has a ceiling."""
    acl = template.resource("ApiWebAcl")
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    unauthenticated = rules["unauthenticated-per-ip"]
    assert unauthenticated["Action"] == {"Block": {}}
    rate = unauthenticated["Statement"]["RateBasedStatement"]
    assert (rate["AggregateKeyType"], rate["Limit"]) == ("IP", 100)
    no_token = rate["ScopeDownStatement"]["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert no_token["FieldToMatch"] == {"SingleHeader": {"Name": "authorization"}}
    assert (no_token["PositionalConstraint"], no_token["SearchString"]) == (
        "STARTS_WITH",
        "bearer ",
    )
    assert rules["all-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 3000
    association = template.resource("ApiWebAclAssociation")
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert "/restapis/${DocumentsApi}/stages/${DocumentsApi.Stage}" in str(
        association["ResourceArn"]
    )
