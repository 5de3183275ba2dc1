"""Powertools Logger, Metrics and Tracer, shared by both functions.

Logs are JSON with the request's correlation id; metrics are CloudWatch EMF lines on stdout
(the local stack reads the same lines and serves them as Prometheus text); the tracer is a
no-op outside Lambda.

The Tracer is built on the first traced call, not at import: building it imports the X-Ray
SDK (~0.15 s), which an import-time cold start would otherwise pay before any code runs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "docsum")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Docsum"), service=SERVICE
)

__all__ = [
    "EMF_METRICS",
    "EmfMetrics",
    "flush_metrics",
    "logger",
    "metrics",
    "trace_lambda_handler",
    "trace_method",
    "tracer",
]


@functools.cache
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


Wrapper = Callable[["Tracer", Callable[..., Any]], Callable[..., Any]]


def _traced_on_first_call[F: Callable[..., Any]](wrap: Wrapper, function: F) -> F:
    traced: Callable[..., Any] | None = None

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal traced
        if traced is None:
            traced = wrap(tracer(), function)
        return traced(*args, **kwargs)

    return call  # type: ignore[return-value]


def trace_lambda_handler[F: Callable[..., Any]](handler: F) -> F:
    """`Tracer.capture_lambda_handler`, with the Tracer built on the first invocation."""
    return _traced_on_first_call(lambda t, f: t.capture_lambda_handler(f), handler)


def trace_method[F: Callable[..., Any]](method: F) -> F:
    """`Tracer.capture_method`, with the Tracer built on the first call."""
    return _traced_on_first_call(lambda t, f: t.capture_method(f), method)


class EmfMetrics:
    """The `MetricsRecorder` of the functions: Powertools' metric set, flushed as EMF lines.
    Use cases receive it through wiring; unit tests give them a recording fake instead."""

    def count(self, name: str, value: float = 1) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def seconds(self, name: str, value: float) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


EMF_METRICS = EmfMetrics()


def flush_metrics() -> None:
    """Emit what was recorded since the last flush (no "no metrics" warning when empty)."""
    if metrics.metric_set:
        metrics.flush_metrics()
