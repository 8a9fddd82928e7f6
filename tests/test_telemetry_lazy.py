"""The OpenTelemetry API stays unloaded until a trace or a provider can use it (cold start), and
a trace that arrives is still carried on by the API's no-op span once it is."""

from __future__ import annotations

import json
import subprocess
import sys

HANDLERS = ("ingest_webhook", "route_task", "dispatch_planning", "promote_plan", "request_review")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

PROBE = f"""
import json, sys
for name in {HANDLERS!r}:
    __import__("codex_pipeline.handlers." + name)
from codex_pipeline.shell import telemetry
telemetry.setup("probe")
seen = {{}}
with telemetry.span("untraced", kind="server", attributes={{"a": 1}}) as span:
    span.set_attribute("b", 2)
    span.set_attributes({{"c": 3}})
    seen["untraced"] = telemetry.current_traceparent()
seen["api_after_untraced"] = "opentelemetry.trace" in sys.modules
with telemetry.span("traced", traceparent={TRACEPARENT!r}, kind="consumer"):
    seen["traced"] = telemetry.current_traceparent()
with telemetry.span("garbled", traceparent="00-not-a-trace-01", kind="consumer"):
    seen["garbled"] = telemetry.current_traceparent()
seen["after"] = telemetry.current_traceparent()
seen["sdk"] = any(m.startswith("opentelemetry.sdk") for m in sys.modules)
print(json.dumps(seen))
"""


def test_functions_load_no_opentelemetry_until_a_trace_arrives_and_then_carry_it_on() -> None:
    env = {"PATH": "/usr/bin:/bin"}  # no OTEL_* variables: no collector, no provider
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout) == {
        "untraced": None,
        "api_after_untraced": False,
        "traced": TRACEPARENT,
        "garbled": None,
        "after": None,
        "sdk": False,
    }
