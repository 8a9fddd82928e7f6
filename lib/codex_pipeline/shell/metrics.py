"""OpenTelemetry metrics of the functions and the steps, free when nobody collects them.

Nothing of OpenTelemetry is imported here: :func:`setup` loads the SDK and the OTLP exporter
only when a collector is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, unless ``OTEL_METRICS_EXPORTER=none``) or
``CODEX_METRICS_DIR`` is set, so a function's cold start pays nothing without one. Until then
every recording call below is one global lookup and a return (the per-delivery hooks sit on
ingest-webhook's hot path). Tests install any provider with :func:`install`.

The instruments (names and attributes are the README's "Metrics" table):

- ``codex.deliveries`` (counter): ``codex.function``, ``codex.outcome`` (``accepted``,
  ``ignored``, ``duplicate``, ``4xx``, ``5xx``), ``http.response.status_code``, and for an ignored
  delivery ``codex.reason`` (one word from a fixed list, never free text).
- ``codex.emit.duration`` (histogram, s): the emits of one delivery until every sink accepted (or
  one gave up), attempts included; ``codex.outcome`` ``ok`` or ``failed``.
- ``codex.submission.duration`` (histogram, s): one Workflow create; ``codex.stage``,
  ``codex.outcome`` ``created``, ``duplicate`` or ``failed``.
- ``codex.github.rate_limit.wait`` (histogram, s): one wait for GitHub's rate limit.
- ``codex.runs`` (counter): a run that ended, counted by its exit handler (``step finish``);
  ``codex.stage``, ``codex.result`` (Argo's ``workflow.status``, lower case).
- ``codex.agent.duration`` (histogram, s): one Codex run; ``codex.stage``, ``codex.result``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

    from codex_pipeline.wire.http import Response

METER_NAME = "codex_pipeline"
DELIVERIES = "codex.deliveries"
EMIT_DURATION = "codex.emit.duration"
SUBMISSION_DURATION = "codex.submission.duration"
RATE_LIMIT_WAIT = "codex.github.rate_limit.wait"
RUNS = "codex.runs"
AGENT_DURATION = "codex.agent.duration"

ATTR_FUNCTION = "codex.function"
ATTR_OUTCOME = "codex.outcome"
ATTR_REASON = "codex.reason"
ATTR_STATUS = "http.response.status_code"
ATTR_STAGE = "codex.stage"
ATTR_RESULT = "codex.result"


class _Instruments:
    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(METER_NAME)
        self.provider = provider
        self.deliveries = meter.create_counter(
            DELIVERIES, unit="{delivery}", description="deliveries answered, by function and outcome"
        )
        self.emit = meter.create_histogram(
            EMIT_DURATION, unit="s", description="the emits of one delivery, every attempt included"
        )
        self.submission = meter.create_histogram(
            SUBMISSION_DURATION, unit="s", description="one Workflow create (Kubernetes API or dry run)"
        )
        self.rate_limit = meter.create_histogram(
            RATE_LIMIT_WAIT, unit="s", description="one wait for GitHub's rate limit"
        )
        self.runs = meter.create_counter(RUNS, unit="{run}", description="steps that ended, by stage and result")
        self.agent = meter.create_histogram(AGENT_DURATION, unit="s", description="one Codex run")


_instruments: _Instruments | None = None
_owned = False  # the provider is setup()'s own (shutdown() ends it), not one a test or dev installed
_stage: ContextVar[str] = ContextVar("codex_stage", default="")


def otlp_configured() -> bool:
    """Whether the environment asks for OTLP metrics."""
    if os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))


def configured() -> bool:
    """Whether metrics go anywhere: a collector, or ``CODEX_METRICS_DIR`` (what dev sums up)."""
    return otlp_configured() or bool(os.environ.get("CODEX_METRICS_DIR"))


def setup(service_name: str) -> None:
    """Export metrics over OTLP/HTTP when a collector is configured, and to a JSON file under
    ``CODEX_METRICS_DIR`` when that is set (:mod:`codex_pipeline.shell.metrics_file`); once per process.

    The OTLP export interval is the SDK's (``OTEL_METRIC_EXPORT_INTERVAL``, 60 s by default);
    :func:`shutdown` exports what is left, which a short-lived step must call before it exits."""
    if _instruments is not None or not configured():
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    global _owned
    readers: list[MetricReader] = []
    if otlp_configured():
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    directory = os.environ.get("CODEX_METRICS_DIR")
    if directory:
        from codex_pipeline.shell import metrics_file

        exporter = metrics_file.JsonFileMetricExporter(metrics_file.path_for(directory, service_name))
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=metrics_file.INTERVAL_MILLIS))
    install(MeterProvider(resource=Resource.create({"service.name": service_name}), metric_readers=readers))
    _owned = True


def install(provider: MeterProvider | None) -> None:
    """Record into ``provider`` from now on (None: record nothing again)."""
    global _instruments, _owned
    _instruments = _Instruments(provider) if provider is not None else None
    _owned = False


def enabled() -> bool:
    return _instruments is not None


def shutdown() -> None:
    """Export what was recorded and stop (a step calls it before exiting); a provider that was
    installed (tests, dev) is its installer's to end."""
    global _instruments, _owned
    if _owned and _instruments is not None:
        _instruments.provider.shutdown()
        _instruments, _owned = None, False


def delivery(function: str, response: Response) -> None:
    """Count one answered delivery; the outcome follows from the status, or what the handler noted."""
    instruments = _instruments
    if instruments is None:
        return
    status = response.status
    attributes: dict[str, Any] = {ATTR_FUNCTION: function, ATTR_STATUS: status}
    if status >= 500:
        attributes[ATTR_OUTCOME] = "5xx"
    elif status >= 400:
        attributes[ATTR_OUTCOME] = "4xx"
    else:
        attributes[ATTR_OUTCOME] = response.outcome or "accepted"
        if response.reason:
            attributes[ATTR_REASON] = response.reason
    instruments.deliveries.add(1, attributes)


def emitted(seconds: float, *, ok: bool) -> None:
    instruments = _instruments
    if instruments is not None:
        instruments.emit.record(seconds, {ATTR_OUTCOME: "ok" if ok else "failed"})


def submitted(seconds: float, *, stage: str, outcome: str) -> None:
    instruments = _instruments
    if instruments is not None:
        instruments.submission.record(seconds, {ATTR_STAGE: stage, ATTR_OUTCOME: outcome})


def rate_limit_waited(seconds: float) -> None:
    instruments = _instruments
    if instruments is not None:
        instruments.rate_limit.record(seconds)


def run_ended(stage: str, result: str) -> None:
    instruments = _instruments
    if instruments is not None:
        instruments.runs.add(1, {ATTR_STAGE: stage, ATTR_RESULT: result})


@contextmanager
def stage(name: str) -> Iterator[None]:
    """The stage a step runs (``codex.stage`` of what it records below, e.g. the Codex run)."""
    token = _stage.set(name)
    try:
        yield
    finally:
        _stage.reset(token)


def agent_ran(seconds: float, *, result: str) -> None:
    instruments = _instruments
    if instruments is not None:
        instruments.agent.record(seconds, {ATTR_STAGE: _stage.get() or "unknown", ATTR_RESULT: result})
