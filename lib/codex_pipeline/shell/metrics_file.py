"""Metrics to a JSON file: what ``codex-pipeline dev`` sums up for its summary, without a collector.

With ``CODEX_METRICS_DIR`` set (dev sets it for every function and step it runs), each process
writes its cumulative metrics to ``<dir>/<service>-<pid>.json`` every second and when it exits,
replacing the file whole each time (a reader never sees half of one). :func:`read_totals` adds up
every process's file. Loaded only when that setting is present: it needs the OpenTelemetry SDK.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData, NumberDataPoint

INTERVAL_MILLIS = 1000


class JsonFileMetricExporter(MetricExporter):
    """Writes the whole cumulative snapshot of one process to one file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        rows = list(_rows(metrics_data))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text(json.dumps(rows, separators=(",", ":")))
            temporary.replace(self.path)
        except OSError:
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def path_for(directory: str, service_name: str) -> Path:
    return Path(directory) / f"{service_name}-{os.getpid()}.json"


def _rows(data: MetricsData) -> Iterator[dict[str, Any]]:
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    row: dict[str, Any] = {"name": metric.name, "attributes": dict(point.attributes or {})}
                    if isinstance(point, NumberDataPoint):
                        row["value"] = point.value
                    else:
                        row.update(count=point.count, sum=point.sum)
                    yield row


def read_totals(directory: Path) -> dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, float]]:
    """(metric name, sorted attributes) -> summed ``value`` or ``count``/``sum``, over every process."""
    totals: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, float]] = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for row in rows if isinstance(rows, list) else []:
            key = (str(row.get("name")), tuple(sorted((row.get("attributes") or {}).items())))
            into = totals.setdefault(key, {})
            for field in ("value", "count", "sum"):
                if isinstance(row.get(field), int | float):
                    into[field] = into.get(field, 0) + row[field]
    return totals
