"""Spans for code that must not load OpenTelemetry by itself: the steps and the GitHub client.

A step's cold start is measured (bench/steps.py), and without a trace to continue or a collector
it records nothing. So these spans exist only in a process that already loaded
:mod:`codex_pipeline.shell.telemetry` (every function does; a step does when it has ``TRACEPARENT`` or
an OTLP endpoint): then they are :func:`codex_pipeline.shell.telemetry.span`, else a no-op.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any


def span(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
    telemetry = sys.modules.get("codex_pipeline.shell.telemetry")
    if telemetry is None:
        return nullcontext(NO_SPAN)
    return telemetry.span(name, attributes=attributes)  # type: ignore[no-any-return]


class _NoSpan:
    """What ``with span(...) as s`` gives when nothing is recorded: attributes go nowhere."""

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None


NO_SPAN = _NoSpan()
