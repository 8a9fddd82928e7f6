"""OpenTelemetry set-up and W3C trace context on CloudEvents.

Only the API is imported by default (cheap); the SDK and the OTLP exporter load when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, so a function without a collector pays nothing.
Tests install their own provider with an in-memory exporter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False
TRACER_NAME = "codex_pipeline"


def setup(service_name: str) -> None:
    """Install OTLP-exporting providers (traces, and :mod:`codex_pipeline.shell.metrics`) once, when a
    collector is configured."""
    global _configured
    from codex_pipeline.shell import metrics

    metrics.setup(service_name)
    if _configured or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def shutdown() -> None:
    """Export the spans and metrics still held (a step calls it before its pod ends)."""
    from codex_pipeline.shell import metrics

    metrics.shutdown()
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if _configured and callable(flush):
        flush()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span that continues the trace carried by an event's ``traceparent`` when given.

    With no tracer provider installed and no trace to continue there is nothing to record or
    propagate, so no span is made (about 20 us of each ingest-webhook delivery)."""
    if traceparent is None and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield trace.INVALID_SPAN
        return
    parent = context_from_traceparent(traceparent)
    with tracer().start_as_current_span(name, context=parent, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


# Span and attribute names of the spec (Facteur's), shared by the effect functions.
SPAN_SERVER_TASKS = "facteur.server.codex_tasks"
SPAN_ORCHESTRATOR_PLAN = "facteur.orchestrator.plan"
ATTR_STAGE = "codex.stage"
ATTR_WORKFLOW = "facteur.codex.workflow"
ATTR_DUPLICATE = "facteur.codex.duplicate"
ATTR_REPOSITORY = "codex.repository"
ATTR_ISSUE = "codex.issue_number"
ATTR_DELIVERY = "codex.delivery_id"
