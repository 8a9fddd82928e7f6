"""OpenTelemetry set-up and W3C trace context on CloudEvents.

Nothing of OpenTelemetry is imported until it can matter: the SDK and the OTLP exporter load
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and the API (about 5 ms of a function's cold start)
when that happens, when a test installs a provider, or when the first delivery carries a trace to
continue. Until then no provider can be installed, so nothing could be recorded or propagated and
:func:`span` makes no span. Tests install their own provider with an in-memory exporter.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from codex_pipeline.shell.spans import NO_SPAN

if TYPE_CHECKING:
    from types import ModuleType

    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SpanKindName = Literal["internal", "server", "client", "producer", "consumer"]
_configured = False
_propagator: TraceContextTextMapPropagator | None = None
TRACER_NAME = "codex_pipeline"
_API = "opentelemetry.trace"


def _loaded_api() -> ModuleType | None:
    """The trace API if this process has imported it: without it no provider can be installed."""
    return sys.modules.get(_API)


def _api() -> ModuleType:
    from opentelemetry import trace

    return trace


def _tracecontext() -> TraceContextTextMapPropagator:
    global _propagator
    if _propagator is None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        _propagator = TraceContextTextMapPropagator()
    return _propagator


def setup(service_name: str) -> None:
    """Install OTLP-exporting providers (traces, and :mod:`codex_pipeline.shell.metrics`) once, when a
    collector is configured."""
    global _configured
    from codex_pipeline.shell import metrics

    metrics.setup(service_name)
    if os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"):  # the API installs that provider itself, on first use
        _api()
    if _configured or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    from opentelemetry import trace
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
    trace = _loaded_api()
    if trace is None:
        return
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if _configured and callable(flush):
        flush()


def tracer() -> trace.Tracer:
    from opentelemetry import trace

    return trace.get_tracer(TRACER_NAME)


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    return _tracecontext().extract({"traceparent": traceparent})


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, to carry on; none before the API is loaded (no
    span can be current then)."""
    if _loaded_api() is None:
        return None
    carrier: dict[str, str] = {}
    _tracecontext().inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    kind: SpanKindName = "internal",
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span | Any]:
    """A span that continues the trace carried by an event's ``traceparent`` when given.

    With no tracer provider installed and no trace to continue there is nothing to record or
    propagate, so no span is made (about 20 us of each ingest-webhook delivery), and the API is not
    even imported. A trace to continue loads the API: with no provider its no-op span still carries
    the trace on (:func:`current_traceparent`)."""
    trace = _loaded_api()
    if traceparent is None and (trace is None or isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)):
        yield NO_SPAN
        return
    trace = trace or _api()
    parent = context_from_traceparent(traceparent)
    with tracer().start_as_current_span(
        name, context=parent, kind=trace.SpanKind[kind.upper()], attributes=dict(attributes or {})
    ) as current:
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
