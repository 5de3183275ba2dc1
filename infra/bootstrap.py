"""Create the stack's data-plane resources (bucket, table, queues) for local use and tests.

Everything is taken from template.yaml: the table's keys and billing mode, the queue's
VisibilityTimeout, retention and RedrivePolicy, the bucket's versioning/encryption/public-access
settings, and the environment variable names the functions read.

Only the data plane the code talks to is created. The rest of the template (IAM roles, alarms
and their topic, the VPC and its endpoints, the ECS model host and its scaling, Cloud Map) has
no local counterpart and is ignored: locally the network is loopback, the LLM host is the one
the stack starts (or ``OLLAMA_HOST``), and nothing enforces IAM.

Works against moto (``mock_aws`` in-process, or a moto server), LocalStack or real AWS: with
``endpoint_url=None`` boto3 picks its default, which honours ``AWS_ENDPOINT_URL``. Idempotent:
re-running reuses what exists and re-applies the queue attributes.

CLI (prints ``KEY=value`` lines, e.g. for ``.env`` files or ``export $(...)``)::

    AWS_ENDPOINT_URL=http://localhost:4566 python -m infra.bootstrap [--visibility-timeout 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.template import Template, TemplateError, load_template, ref_target


def _env_names(template: Template | None = None) -> tuple[str, ...]:
    """Environment variables that Ref the bucket, table, queue, DLQ and document-id secret."""
    template = template or load_template()
    ids = logical_ids(template)
    names = [
        template.env_var_referencing(ids.bucket),
        template.env_var_referencing(ids.table),
        template.env_var_referencing(ids.queue),
        template.env_var_referencing(ids.dead_letter_queue),
    ]
    with contextlib.suppress(TemplateError):
        names.append(template.env_var_referencing(_single(template, SECRET_TYPE)))
    return tuple(names)


@dataclass(frozen=True)
class LocalResources:
    bucket: str
    table: str
    queue_url: str
    dead_letter_queue_url: str
    document_id_secret_arn: str = ""
    env_names: tuple[str, ...] = field(default_factory=_env_names, repr=False)
    """Variable names for (bucket, table, queue, dead-letter queue[, secret]), from
    template.yaml."""
    other_queues: dict[str, str] = field(default_factory=dict)
    """Every other queue of the template (e.g. the webhook queue and its DLQ): the Globals
    variable that names it → its URL."""

    def environment(self) -> dict[str, str]:
        """The functions' environment variables that point at these resources: ``{
        "DOCUMENTS_BUCKET": ..., "DOCUMENTS_TABLE": ..., "SUMMARIZE_QUEUE_URL": ...,
        "DEAD_LETTER_QUEUE_URL": ..., "DOCUMENT_ID_SECRET_ARN": ..., "WEBHOOK_QUEUE_URL": ...,
        …}`` (names as template.yaml spells them)."""
        values = (
            self.bucket,
            self.table,
            self.queue_url,
            self.dead_letter_queue_url,
            self.document_id_secret_arn,
        )
        return {**dict(zip(self.env_names, values, strict=False)), **self.other_queues}


@dataclass(frozen=True)
class _LogicalIds:
    bucket: str
    table: str
    queue: str
    dead_letter_queue: str


SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type


def _single(template: Template, resource_type: str) -> str:
    ids = template.logical_ids(resource_type)
    if len(ids) != 1:
        raise TemplateError(f"expected exactly one {resource_type}, found {ids}")
    return ids[0]


# The function whose queue is "the" work queue of LocalResources (queue_url, its DLQ).
WORK_QUEUE_CONSUMER = "SummarizeFunction"


def logical_ids(template: Template) -> _LogicalIds:
    """The bucket, table, work queue (the one the summarize function consumes) and its DLQ."""
    queue = template.sqs_event(WORK_QUEUE_CONSUMER).queue_logical_id
    dead_letter_queue = template.queue(queue).dead_letter_queue_logical_id
    if dead_letter_queue is None:
        raise TemplateError(f"{queue} has no RedrivePolicy")
    return _LogicalIds(
        bucket=_single(template, "AWS::S3::Bucket"),
        table=_single(template, "AWS::DynamoDB::Table"),
        queue=queue,
        dead_letter_queue=dead_letter_queue,
    )


def physical_name(name_prefix: str, logical_id: str) -> str:
    """``docsum`` + ``SummarizeDeadLetterQueue`` -> ``docsum-summarize-dead-letter-queue``."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", logical_id).lower()
    return f"{name_prefix}-{kebab}"


def create_resources(
    template: Template | None = None,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    name_prefix: str = "docsum",
    visibility_timeout: int | None = None,
) -> LocalResources:
    """Create (or reuse) the bucket, table, DLQ and queue described by ``template``.

    ``visibility_timeout`` overrides the template's queue VisibilityTimeout (one hour) so local
    retry tests need not wait for it.
    """
    template = template or load_template()
    ids = logical_ids(template)
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None and (endpoint_url or os.environ.get("AWS_ENDPOINT_URL")):
        # An emulator (moto, LocalStack) accepts any credentials; real AWS never gets here.
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106
        )
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    s3 = session.client("s3", **kwargs)
    dynamodb = session.client("dynamodb", **kwargs)
    sqs = session.client("sqs", **kwargs)

    bucket = _create_bucket(s3, template, ids.bucket, physical_name(name_prefix, ids.bucket))
    table = _create_table(dynamodb, template, ids.table, physical_name(name_prefix, ids.table))
    secret_arn = ""
    if template.logical_ids(SECRET_TYPE):
        secret_id = _single(template, SECRET_TYPE)
        secret_arn = _create_secret(
            session.client("secretsmanager", **kwargs), physical_name(name_prefix, secret_id)
        )

    urls = _create_queues(sqs, template, name_prefix, visibility_timeout)
    queue_url = urls[ids.queue]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    if _notify_queue(s3, template, ids, bucket, queue_arn):
        _drop_s3_test_events(sqs, queue_url)
    others = {}
    for logical_id, url in urls.items():
        if logical_id not in (ids.queue, ids.dead_letter_queue):
            with contextlib.suppress(TemplateError):  # a queue no function is told about
                others[template.env_var_referencing(logical_id)] = url
    return LocalResources(
        bucket=bucket,
        table=table,
        queue_url=queue_url,
        dead_letter_queue_url=urls[ids.dead_letter_queue],
        document_id_secret_arn=secret_arn,
        env_names=_env_names(template),
        other_queues=others,
    )


def _create_queues(
    sqs: Any, template: Template, name_prefix: str, visibility_timeout: int | None
) -> dict[str, str]:
    """Every queue of the template, dead-letter queues first (a RedrivePolicy names its ARN).
    ``visibility_timeout`` overrides every redriven queue's VisibilityTimeout."""
    specs = [template.queue(lid) for lid in template.logical_ids("AWS::SQS::Queue")]
    urls: dict[str, str] = {}
    for spec in sorted(specs, key=lambda q: q.dead_letter_queue_logical_id is not None):
        attributes: dict[str, str] = {}
        if spec.message_retention is not None:
            attributes["MessageRetentionPeriod"] = str(spec.message_retention)
        if spec.dead_letter_queue_logical_id is not None:
            dlq_arn = sqs.get_queue_attributes(
                QueueUrl=urls[spec.dead_letter_queue_logical_id], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
            attributes["VisibilityTimeout"] = str(timeout)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            )
        urls[spec.logical_id] = _create_queue(
            sqs, physical_name(name_prefix, spec.logical_id), attributes
        )
    return urls


def _create_bucket(s3: Any, template: Template, logical_id: str, name: str) -> str:
    props = template.resource(logical_id)
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        region = s3.meta.region_name
        create: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**create)
    # Mirror the template's settings that change behaviour the code can observe.
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
        )
    if "BucketEncryption" in props:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryption...
        rules = [
            {("Apply" + k if k == "ServerSideEncryptionByDefault" else k): v for k, v in r.items()}
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    return name


def _notify_queue(s3: Any, template: Template, ids: _LogicalIds, bucket: str, arn: str) -> bool:
    """The bucket's S3 -> SQS notifications (presigned uploads start work), as the template
    declares them; each must target the work queue. True when they were (re)applied."""
    notifications = template.resource(ids.bucket).get("NotificationConfiguration", {})
    configurations = []
    for spec in notifications.get("QueueConfigurations", []):
        if ref_target(spec["Queue"]) != ids.queue:
            raise TemplateError(f"a bucket notification targets {spec['Queue']}, not {ids.queue}")
        configuration: dict[str, Any] = {"QueueArn": arn, "Events": [spec["Event"]]}
        rules = spec.get("Filter", {}).get("S3Key", {}).get("Rules")
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        configurations.append(configuration)
    current = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    if (
        not configurations
        or [{k: c[k] for k in ("QueueArn", "Events", "Filter") if k in c} for c in current]
        == configurations
    ):
        return False
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configurations}
    )
    return True


def _drop_s3_test_events(sqs: Any, queue_url: str) -> None:
    """S3 announces a new notification with an `s3:TestEvent` message. The worker would just
    consume it; a fresh local stack drops it so its queue starts empty, as in a deployed
    stack where that message was consumed long ago. Other messages stay visible."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        tests = [m for m in messages if '"s3:TestEvent"' in m["Body"]]
        for message in tests:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not tests:
            return


def _create_table(dynamodb: Any, template: Template, logical_id: str, name: str) -> str:
    spec = template.table(logical_id)
    try:
        dynamodb.describe_table(TableName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        create: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [dict(k) for k in spec.key_schema],
            "AttributeDefinitions": [dict(a) for a in spec.attribute_definitions],
            "BillingMode": spec.billing_mode,
        }
        props = template.resource(logical_id)
        if spec.billing_mode == "PROVISIONED":
            create["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if spec.global_secondary_indexes:
            create["GlobalSecondaryIndexes"] = [dict(i) for i in spec.global_secondary_indexes]
        dynamodb.create_table(**create)
    dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if spec.ttl_attribute:
        # Emulators may not delete expired items; the code treats them as gone regardless.
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": spec.ttl_attribute, "Enabled": True},
            )
    return name


def _create_secret(secrets: Any, name: str) -> str:
    """Like the template's GenerateSecretString: a random value, created once and kept."""
    try:
        return str(secrets.describe_secret(SecretId=name)["ARN"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True)
    return str(secrets.create_secret(Name=name, SecretString=value["RandomPassword"])["ARN"])


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" not in code and code != "QueueDoesNotExist":
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url
    if attributes:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bootstrap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="AWS endpoint (default: boto3's, which honours AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--name-prefix", default="docsum")
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=None,
        help="override the template's queue VisibilityTimeout (seconds)",
    )
    args = parser.parse_args(argv)
    resources = create_resources(
        endpoint_url=args.endpoint_url,
        region=args.region,
        name_prefix=args.name_prefix,
        visibility_timeout=args.visibility_timeout,
    )
    for key, value in resources.environment().items():
        sys.stdout.write(f"{key}={value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
