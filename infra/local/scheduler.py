"""The EventBridge schedule of a function, emulated: ``python -m infra.local.scheduler``.

Neither moto nor SAM fires scheduled events without Docker, so this does what the rule does:
it reads the function's ``Schedule`` event from template.yaml (``rate(5 minutes)``), imports
the real handler once (a warm sandbox) and invokes it with a scheduled event (the shape of
``events/scheduled-sweep.json``) and a context counting down from the template's Timeout,
once at start and then every period. ``--every`` shortens the period (tests, demos); a run
that raises is logged and the next one comes as scheduled, as with a failed scheduled
invocation. The handler gets the environment this process has: the function's, as the stack
builds it (``AWS_ENDPOINT_URL`` for moto or LocalStack).

    python -m infra.local.scheduler --function SweeperFunction [--every 10]

SIGTERM/SIGINT: the run in progress finishes, then it exits.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from infra.bootstrap import physical_name
from infra.local.lambda_context import LambdaContext
from infra.local.processes import die_with_parent
from infra.template import Template, load_template

log = logging.getLogger("scheduler")
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def scheduled_event(rule_name: str, now: datetime | None = None) -> dict[str, Any]:
    """What EventBridge sends a function on a schedule."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


class Schedule:
    """Invokes one function's handler on its template schedule until `stopping` is set."""

    def __init__(
        self,
        function_logical_id: str,
        every_seconds: float | None = None,
        template: Template | None = None,
    ) -> None:
        template = template or load_template()
        self.function = template.function(function_logical_id)
        spec = template.schedule_event(function_logical_id)
        self.period = float(every_seconds if every_seconds is not None else spec.rate_seconds)
        self.name = physical_name("docsum", function_logical_id)
        self.rule = f"{self.name}-{spec.event_name}"
        self.stopping = threading.Event()
        self.runs = 0
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None

    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        if self._handler is None:
            sys.path[:0] = [str(p) for p in self.function.import_paths]
            module = importlib.import_module(self.function.handler_module)
            self._handler = getattr(module, self.function.handler_function)
            log.info("cold start: %s imported", self.function.handler)
        return self._handler

    def run_once(self) -> Any:
        context = LambdaContext.starting_now(
            self.name, self.function.memory_size, self.function.timeout, REGION, ACCOUNT
        )
        try:
            result = self.handler()(scheduled_event(self.rule), context)
        except Exception:  # a failed scheduled run: the next one comes anyway
            log.exception("%s: run failed", self.function.logical_id)
            return None
        finally:
            self.runs += 1
        log.info("%s: %s", self.function.logical_id, json.dumps(result, default=str))
        return result

    def run(self) -> None:
        log.info("%s every %ss (%s)", self.function.logical_id, self.period, self.rule)
        while not self.stopping.is_set():
            self.run_once()
            self.stopping.wait(self.period)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--function", default="SweeperFunction", help="logical id to schedule")
    parser.add_argument(
        "--every", type=float, default=None, help="period in seconds (default: the template's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    die_with_parent()
    schedule = Schedule(args.function, args.every)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        schedule.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    schedule.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
