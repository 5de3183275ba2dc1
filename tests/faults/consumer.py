"""The SQS consumer for the fault tests: `infra.local.poller` (the local event source mapping
and the real summarize handler) with the function's Timeout shortened.

Why not the stack's poller: the stack restarts a killed part by itself, while these tests
decide when the consumer comes back; and the worker leases a document for the invocation's
remaining time (the template's Timeout, 600 s), so after a crash the document can only be
taken over 600 s later. A short Timeout here (`--timeout`, with a queue visibility timeout
longer than it) keeps crash recovery within seconds while every other value still comes from
template.yaml.

    python -m tests.faults.consumer --timeout 12
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from types import FrameType

from infra.local.environment import SUMMARIZE_FUNCTION
from infra.local.poller import EventSourceMapping, MappingConfig
from infra.local.processes import die_with_parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.consumer")
    parser.add_argument("--timeout", type=int, required=True, help="the function Timeout (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    die_with_parent()
    config = dataclasses.replace(
        MappingConfig.from_template(SUMMARIZE_FUNCTION, os.environ), timeout_seconds=args.timeout
    )
    mapping = EventSourceMapping(config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        mapping.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    mapping.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
