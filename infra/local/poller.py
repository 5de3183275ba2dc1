"""The Lambda SQS event source mapping, emulated: ``python -m infra.local.poller``.

Neither moto nor SAM runs an SQS trigger without Docker, so this does what the mapping does,
with everything taken from template.yaml (the function's Handler, Timeout and MemorySize, the
SQS event's BatchSize, MaximumConcurrency, MaximumBatchingWindowInSeconds and
FunctionResponseTypes):

* long polls the queue (``WaitTimeSeconds=20``, all attributes) and builds the exact record
  shape Lambda gives an SQS-triggered function;
* runs at most MaximumConcurrency invocations at once, each in its own *execution
  environment*: a process that imports the real handler once (cold start) and then serves one
  batch at a time (warm). Separate processes, like Lambda's sandboxes, because the handler keeps
  per-invocation state in module globals (Powertools' ``BatchProcessor``), so threads sharing one
  module would mix up concurrent batches;
* gives the handler a context whose ``get_remaining_time_in_millis`` counts down from the
  template's Timeout; an invocation that overruns it is killed and its batch fails, as in Lambda;
* deletes what succeeded; what the handler reports in ``batchItemFailures`` (or the whole batch,
  if it raised) is left alone, to reappear after its visibility timeout, and the queue's own
  RedrivePolicy moves it to the dead-letter queue after ``maxReceiveCount`` receives.

Shutdown (SIGTERM/SIGINT): running invocations finish and are settled; messages returned by a
long poll that was still pending are released at once (visibility 0). A second signal exits at
once: anything in flight then reappears after the queue's visibility timeout.

Configuration comes from the environment, exactly what the function gets in Lambda (the
queue URL from the variable the template binds to the queue, e.g. ``SUMMARIZE_QUEUE_URL``),
plus ``AWS_ENDPOINT_URL`` for moto or LocalStack.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import importlib
import io
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config

from infra.bootstrap import physical_name
from infra.local.lambda_context import LambdaContext
from infra.local.processes import die_with_parent
from infra.template import Template, load_template

log = logging.getLogger("poller")

LONG_POLL_SECONDS = 20  # what the Lambda pollers use
RECEIVE_LIMIT = 10  # SQS returns at most 10 messages per ReceiveMessage
# Without a ScalingConfig, Lambda starts with five concurrent batches and scales from there.
DEFAULT_CONCURRENCY = 5

Event = dict[str, Any]
Message = dict[str, Any]


# ------------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class MappingConfig:
    function_name: str
    handler: str  # module.function, as in template.yaml
    import_paths: tuple[Path, ...]
    timeout_seconds: int
    memory_mb: int
    batch_size: int
    maximum_concurrency: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    queue_url: str
    # Shorter only where a stop must be quick (tests): a stop waits out a pending long poll.
    long_poll_seconds: int = LONG_POLL_SECONDS

    @classmethod
    def from_template(
        cls,
        function_logical_id: str,
        environ: Mapping[str, str],
        template: Template | None = None,
        name_prefix: str = "docsum",
    ) -> MappingConfig:
        template = template or load_template()
        function = template.function(function_logical_id)
        event = template.sqs_event(function_logical_id)
        queue_variable = template.env_var_referencing(event.queue_logical_id)
        queue_url = environ.get(queue_variable, "")
        if not queue_url:
            raise SystemExit(f"poller: {queue_variable} is not set (the queue to poll)")
        return cls(
            function_name=physical_name(name_prefix, function_logical_id),
            handler=function.handler,
            import_paths=function.import_paths,
            timeout_seconds=function.timeout,
            memory_mb=function.memory_size,
            batch_size=event.batch_size,
            maximum_concurrency=event.maximum_concurrency or DEFAULT_CONCURRENCY,
            batching_window_seconds=event.maximum_batching_window_seconds,
            report_batch_item_failures=event.report_batch_item_failures,
            queue_url=queue_url,
        )


# ---------------------------------------------------------------------------- the Lambda shapes


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's MessageAttributeValue -> Lambda's camelCase shape, binaries base64-encoded."""
    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [
            base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])
        ],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message as a record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(
    batch: list[Message], response: Any, report_batch_item_failures: bool
) -> set[str]:
    """Which messages of a successfully invoked batch Lambda would leave on the queue.

    Lambda's rules: without ReportBatchItemFailures the response is ignored; a null/empty
    response or list means all succeeded; an item with a null, empty or unknown
    ``itemIdentifier`` (or a response it cannot read) fails the whole batch."""
    everything = {m["MessageId"] for m in batch}
    if not report_batch_item_failures or response is None:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return everything
    ids = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    if not all(isinstance(i, str) and i in everything for i in ids):
        return everything
    return {str(i) for i in ids}


# ------------------------------------------------------------------------ execution environment


def _environment_main(conn: Connection, handler: str, import_paths: list[str]) -> None:
    """Body of an execution environment process: init once, then one invocation at a time."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the poller decides when invocations stop
    # One write per line: two environments share the poller's stdout, where EMF lines are parsed.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True, write_through=False)
    sys.path[:0] = import_paths
    module_name, _, function_name = handler.rpartition(".")
    started = time.monotonic()
    try:
        function: Callable[[Event, Any], Any] = getattr(
            importlib.import_module(module_name), function_name
        )
    except Exception as exc:  # Lambda: Runtime.ImportModuleError, reported per invocation
        traceback.print_exc()
        conn.send(("init_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", round(time.monotonic() - started, 2)))
    while True:
        try:
            event, context_fields = conn.recv()
        except EOFError:  # the poller closed the pipe: shut down
            return
        try:
            result: tuple[str, Any] = ("ok", function(event, LambdaContext(**context_fields)))
        except Exception as exc:  # the handler raised: Lambda fails the whole batch
            traceback.print_exc()
            result = ("error", f"{type(exc).__name__}: {exc}")
        sys.stdout.flush()
        conn.send(result)


class ExecutionEnvironment:
    """One Lambda sandbox: a process with the handler imported, reused while it stays healthy."""

    def __init__(self, config: MappingConfig, index: int) -> None:
        self.name = f"env-{index}"
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, like a cold start
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_environment_main,
            args=(child, config.handler, [str(p) for p in config.import_paths]),
            name=f"{config.function_name}-{self.name}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.init_error: str | None = None
        status, detail = self._conn.recv() if self._conn.poll(120) else ("init_error", "timeout")
        if status == "ready":
            log.info(
                "%s: cold start, handler %s imported in %ss", self.name, config.handler, detail
            )
        else:
            self.init_error = str(detail)
            log.error("%s: init failed: %s", self.name, detail)

    @property
    def healthy(self) -> bool:
        return self.init_error is None and self._process.is_alive()

    def invoke(self, event: Event, context: LambdaContext) -> tuple[str, Any]:
        if self.init_error is not None:
            return "error", f"Runtime.ImportModuleError: {self.init_error}"
        self._conn.send((event, context.fields()))
        # Lambda stops the invocation at the deadline; a little slack for the pipe.
        if not self._conn.poll(context.get_remaining_time_in_millis() / 1000 + 1):
            self.close(kill=True)
            return "error", "Task timed out (the template's Timeout)"
        try:
            result: tuple[str, Any] = self._conn.recv()
        except EOFError:
            return "error", f"Runtime exited with code {self._process.exitcode}"
        return result

    def close(self, kill: bool = False) -> None:
        self._conn.close()  # the environment's loop ends at EOF
        if kill:
            self._process.kill()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# ------------------------------------------------------------------------------------ the poller


class EventSourceMapping:
    def __init__(self, config: MappingConfig, sqs: Any | None = None) -> None:
        self.config = config
        # Long polls must outlast the client's read timeout.
        self._sqs = sqs or boto3.client(
            "sqs",
            config=Config(read_timeout=config.long_poll_seconds + 10, retries={"mode": "standard"}),
        )
        self._region = self._sqs.meta.region_name
        self._queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=config.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._account = self._queue_arn.split(":")[4]
        self.stopping = threading.Event()

    def run(self) -> None:
        """Poll until ``stopping`` is set, then settle what is in flight and return."""
        c = self.config
        log.info(
            "polling %s for %s (%s): BatchSize=%d MaximumConcurrency=%d Timeout=%ds "
            "ReportBatchItemFailures=%s",
            c.queue_url,
            c.function_name,
            c.handler,
            c.batch_size,
            c.maximum_concurrency,
            c.timeout_seconds,
            c.report_batch_item_failures,
        )
        # One thread per concurrency slot, each owning one execution environment: never more
        # than MaximumConcurrency invocations, and no message waits received but unstarted.
        slots = [
            threading.Thread(target=self._slot, args=(i,), name=f"slot-{i}", daemon=True)
            for i in range(c.maximum_concurrency)
        ]
        for slot in slots:
            slot.start()
        for slot in slots:
            slot.join()
        log.info("stopped: in-flight invocations finished")

    def _slot(self, index: int) -> None:
        # Initialised up front, so an import error shows at start-up rather than at the first
        # message; a broken or timed-out environment is replaced before the next batch.
        environment = ExecutionEnvironment(self.config, index)
        try:
            while not self.stopping.is_set():
                try:
                    environment = self._poll_once(environment, index)
                except Exception as exc:  # e.g. the endpoint restarting: keep the slot alive
                    log.warning("slot %d: %s: %s", index, type(exc).__name__, exc)
                    self.stopping.wait(2)
        finally:
            environment.close()

    def _poll_once(self, environment: ExecutionEnvironment, index: int) -> ExecutionEnvironment:
        batch = self._receive_batch()
        if not batch:
            return environment
        if self.stopping.is_set():  # returned by a long poll that began before the stop
            self._release(batch)
            return environment
        if not environment.healthy:
            environment.close(kill=True)
            environment = ExecutionEnvironment(self.config, index)
        self._invoke(environment, batch)
        return environment

    def _receive(self, limit: int, wait_seconds: int) -> list[Message]:
        response = self._sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=limit,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[Message] = response.get("Messages", [])
        return messages

    def _receive_batch(self) -> list[Message]:
        """One long poll; with a batching window, keep gathering until the batch is full or the
        window has passed (Lambda's MaximumBatchingWindowInSeconds)."""
        want = self.config.batch_size
        long_poll = self.config.long_poll_seconds
        batch = self._receive(min(RECEIVE_LIMIT, want), long_poll)
        deadline = time.monotonic() + self.config.batching_window_seconds
        while batch and len(batch) < want and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(long_poll, math.ceil(remaining))
            batch += self._receive(min(RECEIVE_LIMIT, want - len(batch)), wait)
        return batch

    def _invoke(self, environment: ExecutionEnvironment, batch: list[Message]) -> None:
        c = self.config
        event = {"Records": [lambda_record(m, self._queue_arn, self._region) for m in batch]}
        context = LambdaContext.starting_now(
            c.function_name, c.memory_mb, c.timeout_seconds, self._region, self._account
        )
        started = time.monotonic()
        status, response = environment.invoke(event, context)
        seconds = time.monotonic() - started
        if status == "ok":
            failed = failed_message_ids(batch, response, c.report_batch_item_failures)
        else:
            log.error("invocation %s failed: %s", context.aws_request_id, response)
            failed = {m["MessageId"] for m in batch}
        done = [m for m in batch if m["MessageId"] not in failed]
        self._delete(done)
        log.info(
            "%s invocation %s: %d record(s), %d deleted, %d left for retry, %.2fs",
            environment.name,
            context.aws_request_id,
            len(batch),
            len(done),
            len(failed),
            seconds,
        )

    def _delete(self, messages: list[Message]) -> None:
        for entries in _chunks(messages):
            result = self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            for failure in result.get("Failed", []):
                log.warning("delete failed for entry %s: %s", failure["Id"], failure)

    def _release(self, messages: list[Message]) -> None:
        for entries in _chunks(messages):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.config.queue_url,
                Entries=[{**e, "VisibilityTimeout": 0} for e in entries],
            )
        log.info("released %d received-but-unstarted message(s)", len(messages))


def _chunks(messages: list[Message]) -> Iterator[list[dict[str, Any]]]:
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    for start in range(0, len(entries), RECEIVE_LIMIT):
        yield entries[start : start + RECEIVE_LIMIT]


def add_long_poll_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """`--long-poll-seconds`, for the poller and for the stack that starts pollers."""
    parser.add_argument(
        "--long-poll-seconds",
        type=int,
        choices=range(1, LONG_POLL_SECONDS + 1),
        default=LONG_POLL_SECONDS,
        metavar=f"1..{LONG_POLL_SECONDS}",
        help=f"{what} (default {LONG_POLL_SECONDS}, as Lambda's pollers); a stop waits out a "
        "pending one, so tests that stop pollers often shorten it",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.poller",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--function", default="SummarizeFunction", help="logical id of the SQS-triggered function"
    )
    add_long_poll_argument(parser, "WaitTimeSeconds of each receive")
    parser.add_argument(
        "--maximum-concurrency",
        type=int,
        default=None,
        help="invocations at once (default: the event's ScalingConfig in template.yaml); "
        "`make up` derives the summarize function's from the model host's slots",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    die_with_parent()
    config = MappingConfig.from_template(args.function, os.environ)
    concurrency = args.maximum_concurrency or config.maximum_concurrency
    mapping = EventSourceMapping(
        dataclasses.replace(
            config, long_poll_seconds=args.long_poll_seconds, maximum_concurrency=concurrency
        )
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if mapping.stopping.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(130)
        mapping.stopping.set()
        log.info(
            "%s: finishing in-flight invocations; a pending long poll can take up to %ds "
            "(what it returns is released); signal again to exit now",
            signal.Signals(signum).name,
            mapping.config.long_poll_seconds,
        )

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    mapping.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
