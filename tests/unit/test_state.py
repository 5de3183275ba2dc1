"""What the stack keeps across a moto restart (infra/local/state.py), against a moto server."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from infra.bootstrap import LocalResources, create_resources
from infra.local.environment import aws_client
from infra.local.processes import LOOPBACK, free_port
from infra.local.state import DocumentState

PDF = b"%PDF-1.4 \x00\xff binary bytes"


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    yield f"http://{LOOPBACK}:{port}"
    server.stop()


def item(doc_id: str, status: str) -> dict[str, dict[str, str]]:
    return {
        "id": {"S": doc_id},
        "status": {"S": status},
        "generation": {"N": "2"},
        "text_key": {"S": f"documents/{doc_id}.txt"},
    }


def forget_everything(endpoint: str) -> LocalResources:
    """What a moto crash does: every resource and object gone; then the stack re-creates them."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310
    return create_resources(endpoint_url=endpoint)


def test_documents_come_back_and_unfinished_ones_are_queued(endpoint: str, tmp_path: Path) -> None:
    resources = create_resources(endpoint_url=endpoint)
    s3, dynamodb = aws_client("s3", endpoint), aws_client("dynamodb", endpoint)
    s3.put_object(Bucket=resources.bucket, Key=f"documents/{'a' * 32}.txt", Body="Done text.")
    s3.put_object(Bucket=resources.bucket, Key=f"uploads/{'b' * 32}.pdf", Body=PDF)
    s3.put_object(Bucket=resources.bucket, Key="documents/deleted.txt", Body="Gone soon.")
    dynamodb.put_item(TableName=resources.table, Item=item("a" * 32, "done"))
    dynamodb.put_item(TableName=resources.table, Item=item("b" * 32, "queued"))
    counter = {"id": {"S": "rate#alice#0"}, "hits": {"N": "3"}}  # no document: kept as it is
    dynamodb.put_item(TableName=resources.table, Item=counter)
    said: list[str] = []
    state = DocumentState(tmp_path / "state", said.append)
    assert state.save(resources, endpoint)
    s3.delete_object(Bucket=resources.bucket, Key="documents/deleted.txt")
    assert state.save(resources, endpoint)

    resources = forget_everything(endpoint)
    state.restore(resources, endpoint)

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=resources.bucket)["Contents"]}
    assert keys == {f"documents/{'a' * 32}.txt", f"uploads/{'b' * 32}.pdf"}
    pdf = s3.get_object(Bucket=resources.bucket, Key=f"uploads/{'b' * 32}.pdf")["Body"].read()
    assert pdf == PDF
    items = dynamodb.scan(TableName=resources.table)["Items"]
    assert sorted(items, key=lambda i: i["id"]["S"]) == [
        item("a" * 32, "done"),
        item("b" * 32, "queued"),
        counter,
    ]
    messages = aws_client("sqs", endpoint).receive_message(
        QueueUrl=resources.queue_url, MaxNumberOfMessages=10
    )["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b for b in bodies if "Records" not in b] == [{"document_id": "b" * 32, "generation": 2}]
    # The bucket tells the queue about uploads: the restored file's event comes again.
    events = [r["s3"]["object"]["key"] for b in bodies for r in b.get("Records", [])]
    assert events == [f"uploads%2F{'b' * 32}.pdf"]
    assert said == [f"restored 3 item(s) from {tmp_path / 'state'} (1 unfinished, queued again)"]


def test_a_save_while_moto_is_down_keeps_the_last_one(endpoint: str, tmp_path: Path) -> None:
    resources = create_resources(endpoint_url=endpoint)
    dynamodb = aws_client("dynamodb", endpoint)
    dynamodb.put_item(TableName=resources.table, Item=item("a" * 32, "done"))
    state = DocumentState(tmp_path / "state", lambda _: None)
    assert state.save(resources, endpoint)
    saved = (tmp_path / "state" / "items.json").read_text()
    nowhere = f"http://{LOOPBACK}:{free_port()}"
    assert not state.save(resources, nowhere)
    assert (tmp_path / "state" / "items.json").read_text() == saved
