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

__all__ = ["MetricUnit", "count", "flush_metrics", "logger", "metrics", "tracer"]


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush_metrics() -> None:
    """Emit what was recorded since the last flush (no "no metrics" warning when empty)."""
    if metrics.metric_set:
        metrics.flush_metrics()
