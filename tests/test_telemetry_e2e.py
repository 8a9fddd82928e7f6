"""One trace and the metrics, from a GitHub webhook to the step that ran for it.

The real functions (ingest-webhook -> route-task -> dispatch-planning, in-process, emitting over
HTTP to recording sinks) and the real ``codex-pipeline step plan`` (fake ``codex``, a bare git
remote, the GitHub stand-in) run one issue through; the OpenTelemetry SDK's in-memory span
exporter and metric reader (the outside edge) see what they recorded.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_pipeline.cli import main
from codex_pipeline.handlers import dispatch_planning, ingest_webhook, route_task
from codex_pipeline.shell import metrics
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire.http import Headers, Request
from codex_pipeline.wire.signatures import sign
from tests.fakes.github import FakeGitHub
from tests.fakes.httpserver import Recorded, RecordingSink
from tests.steps_support import bare_remote, codex_env
from tests.test_steps_e2e import World, _implementation, _run_step, world  # noqa: F401 (world: a fixture)

SECRET = "telemetry-test-secret"
TOKEN = "ghp_telemetryTestToken0123456789abcdefAB"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLAN = "## Objective\nGreet.\n\n## Task Breakdown\n1. Add greet()\n"


@pytest.fixture(scope="module")
def spans() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # set once per process; other modules may have set it
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def reader() -> Iterator[Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    metrics.install(MeterProvider(metric_readers=[reader]))
    try:
        yield reader
    finally:
        metrics.install(None)


def points(reader: Any, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def deliveries(reader: Any) -> Counter[tuple[str, str, str | None]]:
    counted: Counter[tuple[str, str, str | None]] = Counter()
    for point in points(reader, metrics.DELIVERIES):
        attributes = dict(point.attributes)
        counted[
            (attributes[metrics.ATTR_FUNCTION], attributes[metrics.ATTR_OUTCOME], attributes.get(metrics.ATTR_REASON))
        ] += point.value
    return counted


def webhook(event: str, body: bytes, delivery: str, secret: str = SECRET) -> Request:
    headers = {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(secret, body),
        "content-length": str(len(body)),
    }
    return Request("POST", "/", Headers(headers), body)


def forwarded(recorded: Recorded) -> Request:
    """What the broker delivers: the recorded binary-mode CloudEvent, as it was emitted."""
    return Request("POST", "/", Headers(recorded.headers), recorded.body)


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/"


def test_one_trace_from_the_webhook_to_the_step_and_the_deliveries_counted_by_outcome(
    spans: Any, reader: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "PAYLOAD",
        "EVENT_BODY",
        "TRACEPARENT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "CODEX_CONFIG_FILE",
        "ARGO_WORKFLOW_NAME",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "DISCORD_BOT_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    with (
        RecordingSink() as raw,
        RecordingSink() as tasks_sink,
        RecordingSink() as json_sink,
        FakeGitHub(tokens=(TOKEN,)) as github,
    ):
        github.add_repo("acme/widgets")
        common = {
            "CODEX_WEBHOOK_SECRET": SECRET,
            "CODEX_TRIGGER_LOGINS": "octocat",
            "CODEX_LOG_LEVEL": "WARNING",
            "CODEX_SINK_ATTEMPTS": "1",
            "CODEX_SINK_DEADLINE_SECONDS": "2",
            "CODEX_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "CODEX_ARGO_SUBMITTER": "dry-run",
            "CODEX_DRY_RUN_DIR": str(tmp_path / "workflows"),
            "CODEX_GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": github.url,
        }
        ingest = ingest_webhook.create_app(load_settings({**common, "K_SINK": raw.url}))
        router = route_task.create_app(
            load_settings({**common, "CODEX_TASKS_SINK": tasks_sink.url, "CODEX_TASKS_JSON_SINK": json_sink.url})
        )
        dispatch = dispatch_planning.create_app(load_settings(common))
        spans.clear()

        # accepted all the way: issues.opened by an allowed login
        body = (EXAMPLES / "issues.opened.json").read_bytes()
        assert ingest(webhook("issues", body, "d-trace-1")).status == 202
        (raw_event,) = raw.requests
        assert router(forwarded(raw_event)).status == 202
        (task_event,) = tasks_sink.requests
        answer = dispatch(forwarded(task_event))
        assert answer.status == 202
        assert dispatch(forwarded(task_event)).status == 202  # the broker redelivers: a duplicate

        # ignored, refused and failed deliveries
        assert ingest(webhook("ping", b'{"zen": "Keep it logically awesome."}', "d-ping")).status == 200
        assert ingest(webhook("issues", body, "d-forged", secret="not-the-secret")).status == 401
        push = (EXAMPLES / "push.ignored.json").read_bytes()
        assert ingest(webhook("push", push, "d-push")).status == 202
        assert router(forwarded(raw.requests[-1])).status == 200
        down = ingest_webhook.create_app(load_settings({**common, "K_SINK": closed_port()}))
        assert down(webhook("issues", body, "d-down")).status == 503

        # the step the Workflow runs, with what its template gives it
        (written,) = (tmp_path / "workflows").rglob("*.json")
        workflow = json.loads(written.read_text())
        parameters = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
        assert parameters["traceparent"] == workflow["metadata"]["annotations"]["codex.traceparent"]
        payload = tmp_path / "payload.b64"
        payload.write_text(parameters["payload"])
        record = tmp_path / "codex-record"
        for key, value in {
            **codex_env(tmp_path / "bin", record, message=PLAN, tmp=tmp_path),
            "TRACEPARENT": parameters["traceparent"],
            "CODEX_GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": github.url,
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
        }.items():
            monkeypatch.setenv(key, value)
        remote = bare_remote(tmp_path)
        step = [
            "step",
            "plan",
            "--workdir",
            str(tmp_path / "lab"),
            "--workflow-name",
            workflow["metadata"]["name"],
            "--remote-url",
            remote.as_uri(),
            "--timeout",
            "30",
            "--payload-file",
            str(payload),
        ]
        assert main(step) == 0, capsys.readouterr()
        assert github.comments[("acme/widgets", 42)], "the plan was posted"
        finish = [
            "step",
            "finish",
            "--stage",
            "plan",
            "--workflow-name",
            workflow["metadata"]["name"],
            "--workflow-status",
            "Succeeded",
            "--payload-file",
            str(payload),
        ]
        main(finish)

    finished = spans.get_finished_spans()
    (webhook_span,) = [
        span
        for span in finished
        if span.name == "ingest.webhook" and span.attributes.get("github.delivery") == "d-trace-1"
    ]
    trace_id = webhook_span.context.trace_id
    by_name = {span.name: span for span in finished if span.context.trace_id == trace_id}
    for name in (
        "ingest.webhook",
        "route.task",
        "facteur.server.codex_tasks",
        "facteur.orchestrator.plan",
        "step.plan",
        "step.checkout",
        "step.codex",
        "github.comment",
        "step.finish",
    ):
        assert name in by_name, f"no {name} span in the webhook's trace: {sorted(by_name)}"
    assert by_name["route.task"].parent.span_id == webhook_span.context.span_id
    (submitting,) = [
        span
        for span in finished
        if span.name == "facteur.orchestrator.plan"
        and span.context.trace_id == trace_id
        and not span.attributes["facteur.codex.duplicate"]
    ]
    assert by_name["step.plan"].parent.span_id == submitting.context.span_id
    for child in ("step.checkout", "step.codex"):
        assert by_name[child].parent.span_id == by_name["step.plan"].context.span_id
    assert f"{trace_id:032x}" in parameters["traceparent"]

    assert deliveries(reader) == Counter(
        {
            ("ingest-webhook", "accepted", None): 2,  # issues.opened and push: ingest never judges content
            ("ingest-webhook", "ignored", "ping"): 1,
            ("ingest-webhook", "4xx", None): 1,
            ("ingest-webhook", "5xx", None): 1,
            ("route-task", "accepted", None): 1,
            ("route-task", "ignored", "no-rule"): 1,
            ("dispatch-planning", "accepted", None): 1,
            ("dispatch-planning", "duplicate", None): 1,
        }
    )
    (submission,) = points(reader, metrics.SUBMISSION_DURATION)
    assert submission.count == 1 and dict(submission.attributes) == {
        "codex.stage": "planning",
        "codex.outcome": "created",
    }
    emits = {dict(p.attributes)["codex.outcome"]: p.count for p in points(reader, metrics.EMIT_DURATION)}
    assert emits == {"ok": 3, "failed": 1}
    (agent,) = points(reader, metrics.AGENT_DURATION)
    assert agent.count == 1 and dict(agent.attributes) == {"codex.stage": "planning", "codex.result": "ok"}
    runs = {tuple(sorted(dict(p.attributes).items())): p.value for p in points(reader, metrics.RUNS)}
    assert runs == {(("codex.result", "succeeded"), ("codex.stage", "planning")): 1}


def test_without_a_collector_nothing_is_recorded_and_no_sdk_is_loaded() -> None:
    """The no-op path: every hook returns at once when no provider was installed."""
    import subprocess
    import sys

    code = (
        "import sys; from codex_pipeline.shell import metrics, telemetry; telemetry.setup('x');"
        "from codex_pipeline.wire.http import Response; metrics.delivery('f', Response(202));"
        "metrics.emitted(0.1, ok=True); metrics.run_ended('planning', 'succeeded');"
        "print(metrics.enabled(), any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_rate_limit_waits_are_recorded(reader: Any) -> None:
    from codex_pipeline.effects.github.auth import TokenAuth
    from codex_pipeline.effects.github.client import GitHubClient

    waits: list[float] = []
    with FakeGitHub(tokens=(TOKEN,)) as github:
        github.add_repo("acme/widgets")
        github.fail_next(429, headers={"Retry-After": "3"}, path_contains="/repos/acme/widgets")
        client = GitHubClient(TokenAuth(TOKEN), github.url, sleep=waits.append, max_wait=60)
        assert client.default_branch("acme/widgets") == "main"
    assert waits == [3.0]
    (point,) = points(reader, metrics.RATE_LIMIT_WAIT)
    assert point.count == 1 and point.sum == pytest.approx(3.0)


def test_step_implement_records_push_and_pull_request_spans_under_its_traceparent(
    spans: Any,
    world: World,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    monkeypatch.setenv("TRACEPARENT", f"00-{trace_id}-{parent}-01")
    world.codex(monkeypatch, edits={"app.py": "def greet():\n    return 'hi'\n"}, message="## Summary\nAdded greet().")
    spans.clear()
    code, output = _run_step(
        world, "implement", _implementation(), "github-codex-implementation-t", "impl", monkeypatch, capsys
    )
    assert code == 0, output
    in_trace = [span for span in spans.get_finished_spans() if f"{span.context.trace_id:032x}" == trace_id]
    by_name = {span.name: span for span in in_trace}
    assert {
        "step.implement",
        "step.checkout",
        "step.codex",
        "step.push",
        "github.pull_request",
        "github.comment",
    } <= set(by_name), sorted(by_name)
    step = by_name["step.implement"]
    assert f"{step.parent.span_id:016x}" == parent and step.attributes["codex.stage"] == "implementation"
    for child in ("step.checkout", "step.codex", "step.push", "github.pull_request"):
        assert by_name[child].parent.span_id == step.context.span_id, child
    assert by_name["step.codex"].attributes["codex.result"] == "ok"


def test_effect_functions_count_what_they_answer_without_submitting_as_ignored_with_a_reason(
    reader: Any, tmp_path: Path
) -> None:
    from codex_pipeline.handlers import promote_plan
    from tests.task_events import cloudevent, effect_env, task

    def send(app: Any, kind: str, codex_task: Any) -> int:
        headers, body = cloudevent(kind, codex_task)
        return int(app(Request("POST", "/", Headers(headers), body)).status)

    with FakeGitHub(tokens=("test-token",)) as github:
        github.add_repo("acme/widgets")
        github.add_issue("acme/widgets", "Fix it", "It is broken.")
        env = effect_env(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, github.url, CODEX_LOG_LEVEL="WARNING")
        off = dispatch_planning.create_app(load_settings({**env, "CODEX_PLANNING_ENABLED": "false"}))
        assert send(off, "planning", task("planning", 1)) == 202
        promote = promote_plan.create_app(load_settings({**env, "CODEX_PLANNER_LOGIN": "codex-bot"}))
        assert send(promote, "implementation", task("implementation", 1)) == 200  # no plan on the issue
    assert deliveries(reader) == Counter(
        {("dispatch-planning", "ignored", "planning-disabled"): 1, ("promote-plan", "ignored", "no-plan"): 1}
    )
