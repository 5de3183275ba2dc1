"""CloudWatch EMF lines -> Prometheus: the functions print EMF on stdout, the stack reads it
as CloudWatch would, and ``prometheus_client`` serves the sums at ``/metrics``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from infra.local.processes import LOOPBACK

_UNIT_SUFFIX = {"Seconds": "seconds", "Milliseconds": "milliseconds", "Bytes": "bytes"}


def prometheus_name(namespace: str, name: str, unit: str) -> str:
    """``Docsum`` + ``LLMErrors_unreachable`` (Count) -> ``docsum_llm_errors_unreachable_total``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", f"{namespace}_{name}")
    base = re.sub(r"[^a-zA-Z0-9_]+", "_", snake).lower().strip("_")
    if unit == "Count":
        return f"{base}_total"
    suffix = _UNIT_SUFFIX.get(unit)
    return f"{base}_{suffix}" if suffix and not base.endswith(suffix) else base


def split_emf(line: str) -> tuple[list[dict[str, Any]], str]:
    """EMF objects (JSON with an ``_aws`` key) in one output line, and the rest of the line.

    Normally a line is one JSON object. Two threads printing at once can glue a metrics line to
    a log line, so successive objects are decoded rather than the whole line."""
    if '"_aws"' not in line:
        return [], line
    decoder = json.JSONDecoder()
    blobs: list[dict[str, Any]] = []
    rest: list[str] = []
    position = 0
    while (start := line.find("{", position)) >= 0:
        rest.append(line[position:start])
        try:
            obj, position = decoder.raw_decode(line, start)
        except ValueError:
            position = start
            break
        if isinstance(obj, dict) and "_aws" in obj:
            blobs.append(obj)
        else:
            rest.append(line[start:position])
    rest.append(line[position:])
    return blobs, "".join(rest).strip()


@dataclass
class _Series:
    counter: bool  # a Count metric; otherwise a summary (sum and count of the values)
    help: str
    label_names: tuple[str, ...]
    values: dict[tuple[str, ...], tuple[float, int]]


class EmfCollector(Collector):
    """Sums of EMF values per metric and dimension set, collected by ``prometheus_client``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, _Series] = {}

    def add(self, blob: Mapping[str, Any]) -> None:
        for directive in blob["_aws"].get("CloudWatchMetrics", []):
            namespace = str(directive.get("Namespace", ""))
            keys = sorted({str(k) for dims in directive.get("Dimensions", []) for k in dims})
            label_names = tuple(_label_name(k) for k in keys)
            label_values = tuple(str(blob.get(k, "")) for k in keys)
            for metric in directive.get("Metrics", []):
                name, unit = str(metric["Name"]), str(metric.get("Unit", "None"))
                raw = blob.get(name)
                numbers = [
                    float(v)
                    for v in (raw if isinstance(raw, list) else [raw])
                    if isinstance(v, int | float) and not isinstance(v, bool)
                ]
                with self._lock:
                    series = self._series.setdefault(
                        prometheus_name(namespace, name, unit),
                        _Series(
                            counter=unit == "Count",
                            help=f"EMF metric {name} (namespace {namespace}, unit {unit})",
                            label_names=label_names,
                            values={},
                        ),
                    )
                    if series.label_names != label_names:
                        continue  # Prometheus wants one label set per metric: keep the first
                    total, count = series.values.get(label_values, (0.0, 0))
                    series.values[label_values] = (total + sum(numbers), count + len(numbers))

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = [(n, s, dict(s.values)) for n, s in sorted(self._series.items())]
        for name, series, values in snapshot:
            family: CounterMetricFamily | SummaryMetricFamily
            if series.counter:
                family = CounterMetricFamily(name, series.help, labels=series.label_names)
                for labels, (total, _) in sorted(values.items()):
                    family.add_metric(labels, total)
            else:
                family = SummaryMetricFamily(name, series.help, labels=series.label_names)
                for labels, (total, count) in sorted(values.items()):
                    family.add_metric(labels, count_value=count, sum_value=total)
            yield family


def _label_name(key: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return f"_{name}" if name[:1].isdigit() else name


def serve_metrics(collector: EmfCollector, port: int) -> WSGIServer:
    """Serve ``collector`` alone (no process metrics of the stack itself) on loopback."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    return server
