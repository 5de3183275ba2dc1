"""infra.bootstrap creates what template.yaml describes, idempotently (moto, in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import unquote_plus

import boto3
import pytest
import requests  # moto's in-process mock answers requests' calls (a browser-style POST)
from moto import mock_aws

from infra.bootstrap import LocalResources, create_resources, physical_name
from infra.template import REPO_ROOT, Template

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_physical_names() -> None:
    assert physical_name("docsum", "SummarizeDeadLetterQueue") == (
        "docsum-summarize-dead-letter-queue"
    )
    assert physical_name("t1", "DocumentsBucket") == "t1-documents-bucket"


@pytest.mark.usefixtures("aws")
def test_creates_the_template_resources(template: Template) -> None:
    resources = create_resources(template, region=REGION)

    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=resources.table)[
        "Table"
    ]
    spec = template.table("DocumentsTable")
    assert table["KeySchema"] == list(spec.key_schema)
    assert table["AttributeDefinitions"] == list(spec.attribute_definitions)
    assert table["BillingModeSummary"]["BillingMode"] == spec.billing_mode
    assert table["TableStatus"] == "ACTIVE"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert {name: (i["KeySchema"], i["Projection"]) for name, i in indexes.items()} == {
        i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in spec.global_secondary_indexes
    }
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(
        TableName=resources.table
    )["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec.ttl_attribute)

    secrets = boto3.client("secretsmanager", region_name=REGION)
    key = secrets.get_secret_value(SecretId=resources.document_id_secret_arn)["SecretString"]
    assert len(key) == 64

    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    queue = template.queue("SummarizeQueue")
    assert int(attributes["VisibilityTimeout"]) == queue.visibility_timeout
    assert int(attributes["MessageRetentionPeriod"]) == queue.message_retention
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=resources.dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": queue.max_receive_count,
    }
    dlq_attributes = sqs.get_queue_attributes(
        QueueUrl=resources.dead_letter_queue_url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]
    assert int(dlq_attributes["MessageRetentionPeriod"]) == 14 * 24 * 3600

    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_versioning(Bucket=resources.bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=resources.bucket)
    assert all(block["PublicAccessBlockConfiguration"].values())


@pytest.mark.usefixtures("aws")
def test_every_queue_of_the_template_is_created_with_its_redrive(template: Template) -> None:
    resources = create_resources(template, region=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    env = resources.environment()
    for logical_id in template.logical_ids("AWS::SQS::Queue"):
        spec = template.queue(logical_id)
        url = env[template.env_var_referencing(logical_id)]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"].endswith(physical_name("docsum", logical_id))
        if spec.dead_letter_queue_logical_id is None:
            assert "RedrivePolicy" not in attributes
            continue
        dlq_url = env[template.env_var_referencing(spec.dead_letter_queue_logical_id)]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
            "maxReceiveCount": spec.max_receive_count,
        }
        assert int(attributes["VisibilityTimeout"]) == spec.visibility_timeout


@pytest.mark.usefixtures("aws")
def test_environment_uses_the_template_variable_names(template: Template) -> None:
    resources = create_resources(template, region=REGION)
    env = resources.environment()
    assert env == {
        template.env_var_referencing("DocumentsBucket"): resources.bucket,
        template.env_var_referencing("DocumentsTable"): resources.table,
        template.env_var_referencing("SummarizeQueue"): resources.queue_url,
        template.env_var_referencing("SummarizeDeadLetterQueue"): resources.dead_letter_queue_url,
        template.env_var_referencing("DocumentIdSecret"): resources.document_id_secret_arn,
        **resources.other_queues,
    }
    assert set(env) == {
        "DOCUMENTS_BUCKET",
        "DOCUMENTS_TABLE",
        "SUMMARIZE_QUEUE_URL",
        "DEAD_LETTER_QUEUE_URL",
        "DOCUMENT_ID_SECRET_ARN",
        "WEBHOOK_QUEUE_URL",
        "WEBHOOK_DEAD_LETTER_QUEUE_URL",
    }
    # Built by hand (e.g. for LocalStack), the names still come from template.yaml.
    assert LocalResources("b", "t", "q", "d", "s").environment() == {
        "DOCUMENTS_BUCKET": "b",
        "DOCUMENTS_TABLE": "t",
        "SUMMARIZE_QUEUE_URL": "q",
        "DEAD_LETTER_QUEUE_URL": "d",
        "DOCUMENT_ID_SECRET_ARN": "s",
    }


@pytest.mark.usefixtures("aws")
def test_is_idempotent_and_applies_the_visibility_override(template: Template) -> None:
    first = create_resources(template, region=REGION, visibility_timeout=5)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=first.bucket, Key="documents/x.txt", Body=b"kept"
    )
    second = create_resources(template, region=REGION, visibility_timeout=7)
    assert second == first
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=second.queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"
    body = (
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=first.bucket, Key="documents/x.txt")["Body"]
        .read()
    )
    assert body == b"kept"
    assert len(sqs.list_queues()["QueueUrls"]) == len(template.logical_ids("AWS::SQS::Queue"))


@pytest.mark.usefixtures("aws")
def test_name_prefix_separates_stacks(template: Template) -> None:
    a = create_resources(template, region=REGION, name_prefix="a")
    b = create_resources(template, region=REGION, name_prefix="b")
    assert {a.bucket, a.table, a.queue_url}.isdisjoint({b.bucket, b.table, b.queue_url})


def test_cli_prints_the_environment(moto_endpoint: str) -> None:
    """`python -m infra.bootstrap` against a moto server prints KEY=value lines."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.bootstrap",
            "--name-prefix",
            "cli",
            "--visibility-timeout",
            "30",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(lines) == {
        "DOCUMENTS_BUCKET",
        "DOCUMENTS_TABLE",
        "SUMMARIZE_QUEUE_URL",
        "DEAD_LETTER_QUEUE_URL",
        "DOCUMENT_ID_SECRET_ARN",
        "WEBHOOK_QUEUE_URL",
        "WEBHOOK_DEAD_LETTER_QUEUE_URL",
    }
    assert lines["SUMMARIZE_QUEUE_URL"].endswith("/cli-summarize-queue")
    assert lines["WEBHOOK_QUEUE_URL"].endswith("/cli-webhook-queue")


@pytest.mark.usefixtures("aws")
def test_a_presigned_upload_is_announced_on_the_work_queue(template: Template) -> None:
    """The bucket notification from the template: an object under uploads/ (and nothing
    else) puts an S3 event on the summarize queue."""
    resources = create_resources(template, region=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(
        TableName=resources.table
    )["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")

    assert create_resources(template, region=REGION) == resources  # again: no new test event
    s3.put_object(Bucket=resources.bucket, Key="documents/not-announced.txt", Body=b"x")
    post = s3.generate_presigned_post(resources.bucket, "uploads/a file.txt")
    answer = requests.post(
        post["url"], data=post["fields"], files={"file": ("a.txt", b"hello")}, timeout=10
    )
    assert answer.status_code in (200, 204)

    sqs = boto3.client("sqs", region_name=REGION)
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
    ]
    # Only the upload: not the other object, and not S3's test event (dropped at bootstrap).
    [record] = [r for body in bodies for r in body["Records"]]
    assert record["eventSource"] == "aws:s3"
    # URL-encoded, as S3 sends keys (moto encodes the slash too; S3 does not).
    assert unquote_plus(record["s3"]["object"]["key"]) == "uploads/a file.txt"
