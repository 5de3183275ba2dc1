"""`sam build` artifacts run on a bare Python 3.12: catches a requirement missing from a
requirements.txt (the dev venv would hide it) and records the artifact sizes.

Each function's artifact (code dir + the layer's python/ dir, as Lambda mounts them) is imported
by a clean interpreter (``python3.12 -S``: no site-packages at all, empty environment) and invoked
with the sample events in events/, against a moto server holding the template's resources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.bootstrap import LocalResources, create_resources
from infra.build import build
from infra.invoke import EVENTS_DOCUMENT_ID_SECRET
from infra.template import REPO_ROOT, FunctionSpec, Template

pytestmark = pytest.mark.iac

INGEST = "IngestFunction"
SUMMARIZE = "SummarizeFunction"
EVENTS = REPO_ROOT / "events"
REGION = "us-east-1"
API_TOKEN = "local-dev-token"  # the token in events/*.json
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SIZES_FILE = REPO_ROOT / ".aws-sam" / "artifact-sizes.json"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + layers, unzipped
# Parameters without a default need a local value; the summarize tests never reach Ollama.
# Values the template leaves to the cloud (the model hosts' private name): a closed local port.
# No VPC here: the summarize function fetches pages itself (PAGE_FETCH_FUNCTION empty).
LOCAL_VALUES = {"OLLAMA_HOST": "http://127.0.0.1:9", "PAGE_FETCH_FUNCTION": ""}

BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3.12"

# Runs inside the clean interpreter: import the handler like the Lambda runtime, invoke it with
# each event in turn (one warm container), report results and where every module came from.
RUNNER = r"""
import importlib, json, sys, time, uuid
out_path, handler_spec, *event_paths = sys.argv[1:]
module_name, _, function_name = handler_spec.rpartition(".")

class Context:
    def __init__(self, name):
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/11/22/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + 60
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

started = time.perf_counter()
handler = getattr(importlib.import_module(module_name), function_name)
import_seconds = time.perf_counter() - started
results = []
for path in event_paths:
    with open(path) as f:
        event = json.load(f)
    results.append(handler(event, Context(module_name)))
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
with open(out_path, "w") as f:
    json.dump({"results": results, "files": files, "import_seconds": import_seconds}, f)
"""


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _zip_size(path: Path, target: Path) -> int:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(path))
    return target.stat().st_size


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, iac_tool: Callable[[str], Path]) -> Path:
    assert BASE_PYTHON.exists(), f"no python3.12 at {BASE_PYTHON}"
    iac_tool("sam")  # a missing IaC venv fails with the command that installs it
    return build(tmp_path_factory.mktemp("sam-build"), REPO_ROOT / ".aws-sam" / "cache-tests")


def artifact_paths(build_dir: Path, function: FunctionSpec) -> list[Path]:
    """sys.path entries Lambda gives the function: /var/task, then each layer's python/."""
    paths = [build_dir / function.logical_id]
    paths += [
        build_dir / layer.logical_id / "python"
        for layer in function.layers
        if layer.build_method != "makefile"  # a data layer (OCR's languages): no code
    ]
    for path in paths:
        assert path.is_dir(), f"missing build output {path}"
    return paths


def test_build_outputs_and_sizes(build_dir: Path, template: Template, tmp_path: Path) -> None:
    sizes: dict[str, dict[str, int]] = {}
    for function_id in template.logical_ids("AWS::Serverless::Function"):
        function = template.function(function_id)
        code = build_dir / function_id
        assert (code / f"{function.handler_module.replace('.', '/')}.py").is_file()
        total = 0
        for path in [code, *(build_dir / layer.logical_id for layer in function.layers)]:
            name = path.name
            if name not in sizes:
                sizes[name] = {
                    "unzipped_bytes": _dir_size(path),
                    "zipped_bytes": _zip_size(path, tmp_path / f"{name}.zip"),
                }
            total += sizes[name]["unzipped_bytes"]
        assert total < LAMBDA_UNZIPPED_LIMIT, (function_id, total)
    for layer_id in template.logical_ids("AWS::Serverless::LayerVersion"):
        layer = template.layer(layer_id)
        if layer.build_method == "makefile":  # data: OCR's languages, where docsum looks
            assert (build_dir / layer_id / "tessdata" / "eng.traineddata").is_file()
            continue
        # Python layers must put packages under python/ (what /opt/python on sys.path needs).
        assert (build_dir / layer_id / "python" / "docsum" / "__init__.py").is_file()
    SIZES_FILE.parent.mkdir(exist_ok=True)
    SIZES_FILE.write_text(json.dumps(sizes, indent=2, sort_keys=True) + "\n")
    print(f"\nartifact sizes ({SIZES_FILE}):\n{json.dumps(sizes, indent=2, sort_keys=True)}")


# ------------------------------------------------------------------------------ invoking


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def _resources(template: Template, endpoint: str, prefix: str) -> LocalResources:
    resources = create_resources(
        template, endpoint_url=endpoint, region=REGION, name_prefix=prefix, visibility_timeout=30
    )
    ssm = boto3.client("ssm", region_name=REGION, **_client_args(endpoint))
    parameter = template.parameter_default("ApiTokenParameterName")
    ssm.put_parameter(Name=parameter, Value=API_TOKEN, Type="SecureString", Overwrite=True)
    ssm.put_parameter(
        Name=template.parameter_default("WebhookSecretsParameterName"),
        Value=f"default:{WEBHOOK_SECRET}",
        Type="SecureString",
        Overwrite=True,
    )
    return resources


def _client_args(endpoint: str) -> dict[str, str]:
    return {
        "endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


def invoke(
    build_dir: Path,
    function: FunctionSpec,
    resources: LocalResources,
    endpoint: str,
    events: list[str],
    tmp_path: Path,
) -> dict[str, Any]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **_aws_env(endpoint)}
    for name, value in function.environment.items():
        if isinstance(value, str):
            env[name] = value
        elif name in LOCAL_VALUES:
            env[name] = LOCAL_VALUES[name]
    env.update(resources.environment())
    unresolved = set(function.environment) - set(env)
    assert not unresolved, f"no local value for {unresolved}"
    paths = artifact_paths(build_dir, function)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
            "LAMBDA_TASK_ROOT": str(paths[0]),
            "_HANDLER": function.handler,
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "API_TOKEN": API_TOKEN,
            "DOCUMENT_ID_SECRET": EVENTS_DOCUMENT_ID_SECRET,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }
    )
    out = tmp_path / f"{function.logical_id}-result.json"
    result = subprocess.run(
        [
            str(BASE_PYTHON),
            "-S",
            "-B",
            "-c",
            RUNNER,
            str(out),
            function.handler,
            *(str(EVENTS / e) for e in events),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    report: dict[str, Any] = json.loads(out.read_text())
    # Every imported module came from the artifact or the standard library, nothing else.
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])

    def allowed(file: str) -> bool:
        path = Path(file)
        if any(path.is_relative_to(p) for p in paths):
            return True
        return path.is_relative_to(stdlib) and "site-packages" not in path.parts

    strays = [f for f in report["files"] if not allowed(f)]
    assert strays == [], strays[:20]
    return report


def test_ingest_artifact_serves_the_api_events(
    build_dir: Path, template: Template, moto_endpoint: str, tmp_path: Path
) -> None:
    function = template.function(INGEST)
    resources = _resources(template, moto_endpoint, "artifact-ingest")
    report = invoke(
        build_dir,
        function,
        resources,
        moto_endpoint,
        [
            "post-document.json",
            "get-document.json",
            "resummarize-document.json",
            "list-documents.json",
            "get-web-page.json",
            "get-document-text.json",
        ],
        tmp_path,
    )
    post, get, resummarize, listed, web_page, span = report["results"]
    assert post["statusCode"] == 202, post
    document_id = json.loads(post["body"])["id"]
    posted = json.loads(json.loads((EVENTS / "post-document.json").read_text())["body"])
    assert get["statusCode"] == 200, get
    got = json.loads(get["body"])
    assert got["id"] == document_id
    assert got["status"] == "queued"
    assert json.loads((EVENTS / "get-document.json").read_text())["pathParameters"] == {
        "document_id": document_id
    }, "events/get-document.json should name the document events/post-document.json creates"
    location = {k.lower(): v for k, v in post.get("headers", {}).items()}.get("location")
    location = (
        location or {k.lower(): v for k, v in post["multiValueHeaders"].items()}["location"][0]
    )
    assert location == f"{function.environment['API_ROOT_PATH']}/documents/{document_id}"
    assert resummarize["statusCode"] == 202, resummarize
    assert json.loads(resummarize["body"])["generation"] == 2
    # The page's files ship in the artifact; its URLs start at the stage.
    assert web_page["statusCode"] == 200, web_page
    assert f'<base href="{function.environment["API_ROOT_PATH"]}/">' in web_page["body"]

    # The POST really went through S3, DynamoDB and SQS.
    s3 = boto3.client("s3", region_name=REGION, **_client_args(moto_endpoint))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=resources.bucket).get("Contents", [])]
    assert len(keys) == 1
    stored = s3.get_object(Bucket=resources.bucket, Key=keys[0])["Body"].read().decode()
    assert " ".join(stored.split()) == " ".join(posted["text"].split())
    sqs = boto3.client("sqs", region_name=REGION, **_client_args(moto_endpoint))
    messages = sqs.receive_message(
        QueueUrl=resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    assert {b["document_id"] for b in bodies} == {document_id}
    assert sorted(b["generation"] for b in bodies) == [1, 2]  # POST, then re-summarize
    assert listed["statusCode"] == 200, listed
    assert [d["id"] for d in json.loads(listed["body"])["items"]] == [document_id]
    # A cited span of the stored text, read from S3 by the ingest function.
    assert span["statusCode"] == 200, span
    assert json.loads(span["body"])["text"] == stored[:40]

    # The delete removes the record and the text (every version of it).
    deleted, gone = invoke(
        build_dir,
        function,
        resources,
        moto_endpoint,
        ["delete-document.json", "get-document.json"],
        tmp_path,
    )["results"]
    assert (deleted["statusCode"], gone["statusCode"]) == (204, 404), (deleted, gone)
    assert s3.list_object_versions(Bucket=resources.bucket).get("Versions", []) == []


def test_summarize_artifact_handles_an_sqs_batch(
    build_dir: Path, template: Template, moto_endpoint: str, tmp_path: Path
) -> None:
    function = template.function(SUMMARIZE)
    resources = _resources(template, moto_endpoint, "artifact-summarize")
    report = invoke(build_dir, function, resources, moto_endpoint, ["sqs-batch.json"], tmp_path)
    (response,) = report["results"]
    # Partial batch response shape (ReportBatchItemFailures). Neither record's document exists
    # in the fresh table: the worker parks both in the DLQ, so nothing is left to retry.
    assert set(response) == {"batchItemFailures"}, response
    assert response["batchItemFailures"] == []
    sqs = boto3.client("sqs", region_name=REGION, **_client_args(moto_endpoint))
    parked = sqs.receive_message(
        QueueUrl=resources.dead_letter_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])
    records = json.loads((EVENTS / "sqs-batch.json").read_text())["Records"]
    assert sorted(m["Body"] for m in parked) == sorted(r["body"] for r in records)


def test_summarize_artifact_reads_a_photo_by_ocr(
    build_dir: Path, template: Template, tmp_path: Path
) -> None:
    """The deployed OCR: tesserocr's bundled Tesseract from the function's package and the
    language data from the OcrDataLayer at /opt/tessdata (here its build directory), on a bare
    interpreter — no Debian Tesseract on its path."""
    from tests import files

    function = template.function(SUMMARIZE)
    photo = tmp_path / "page.png"
    photo.write_bytes(files.image_file(["Größere Rücklagen für Brücken."]))
    script = (
        "import sys; from docsum.extract.dispatch import extract; "
        "from docsum.extract.kinds import detect_kind; "
        "from docsum.extract.limits import ExtractionLimits; "
        "data = open(sys.argv[1], 'rb').read(); "
        "result = extract(data, detect_kind(data), ExtractionLimits(max_chars=10_000)); "
        "print(result.method, result.text)"
    )
    env = {
        "PYTHONPATH": os.pathsep.join(map(str, artifact_paths(build_dir, function))),
        "TESSDATA_PREFIX": f"{build_dir / 'OcrDataLayer' / 'tessdata'}/",
        "PATH": "/nonexistent",  # no tesseract command to fall back on
    }
    done = subprocess.run(
        [str(BASE_PYTHON), "-S", "-c", script, str(photo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split(None, 1) == ["ocr", "Größere Rücklagen für Brücken.\n"]


def test_every_module_ships_its_bytecode(build_dir: Path, template: Template) -> None:
    """Lambda's code directory is read-only: a module without bytecode is compiled from source
    on every cold start."""
    ours = [build_dir / "CoreLayer" / "python" / "docsum"]
    ours += [build_dir / f for f in template.logical_ids("AWS::Serverless::Function")]
    sources = [p for root in ours for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 10
    missing = [
        p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.cpython-312.pyc").exists()
    ]
    assert not missing
    # Dependencies too (pip in `sam build` writes none): fastapi, boto3, pydantic, ...
    for package in ("fastapi", "botocore", "pydantic"):
        found = list((build_dir).rglob(f"{package}/__pycache__/__init__.cpython-312.pyc"))
        assert found, package


def test_sweeper_artifact_handles_the_scheduled_event(
    build_dir: Path, template: Template, moto_endpoint: str, tmp_path: Path
) -> None:
    function = template.function("SweeperFunction")
    resources = _resources(template, moto_endpoint, "artifact-sweeper")
    report = invoke(
        build_dir, function, resources, moto_endpoint, ["scheduled-sweep.json"], tmp_path
    )
    # A fresh table: the sparse index answers, nothing is overdue.
    assert report["results"] == [{"resent": 0, "recovered": 0, "failed": 0}]


def test_webhook_artifact_handles_an_sqs_batch(
    build_dir: Path, template: Template, moto_endpoint: str, tmp_path: Path
) -> None:
    """The sample batch: a notification whose receiver does not answer (reported failed, to be
    retried) and one for a client without a secret (parked in the webhook DLQ at once)."""
    function = template.function("WebhookFunction")
    resources = _resources(template, moto_endpoint, "artifact-webhook")
    report = invoke(build_dir, function, resources, moto_endpoint, ["webhook-batch.json"], tmp_path)
    (response,) = report["results"]
    records = json.loads((EVENTS / "webhook-batch.json").read_text())["Records"]
    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    sqs = boto3.client("sqs", region_name=REGION, **_client_args(moto_endpoint))
    parked = sqs.receive_message(
        QueueUrl=resources.environment()["WEBHOOK_DEAD_LETTER_QUEUE_URL"],
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
    ).get("Messages", [])
    assert [m["Body"] for m in parked] == [records[1]["body"]]


def test_fetch_artifact_answers_the_page_event(
    build_dir: Path, template: Template, moto_endpoint: str, tmp_path: Path
) -> None:
    """The sample asks for the metadata service: the built function refuses it by the policy
    (the core layer's fetch, urllib3 from the layer) and answers the stable reason."""
    function = template.function("FetchFunction")
    resources = _resources(template, moto_endpoint, "artifact-fetch")
    report = invoke(build_dir, function, resources, moto_endpoint, ["fetch-page.json"], tmp_path)
    assert report["results"] == [{"failed": "address not allowed"}]
