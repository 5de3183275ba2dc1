"""Powertools Logger, Metrics and Tracer, shared by both functions.

Logs are JSON with the request's correlation id; metrics are CloudWatch EMF lines on stdout
(the local stack reads the same lines and serves them as Prometheus text); the tracer is a
no-op outside Lambda.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "docsum")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Docsum"), service=SERVICE
)
tracer = Tracer(service=SERVICE)

__all__ = ["EMF_METRICS", "EmfMetrics", "flush_metrics", "logger", "metrics", "tracer"]


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
