"""route-task over real HTTP: functions-framework in a subprocess, real CloudEvents in, two real sinks.

Each sink decodes what it received with the library's CloudEvents path, so the task events are
checked as a KafkaSink would see them. Answers go through the broker's strict reply check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.core.names import PLAN_MARKER
from codex_pipeline.handlers.route_task import create_app
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire import events, tasks
from codex_pipeline.wire.http import Headers, Request
from codex_pipeline.wire.pb import codex_task_pb2 as pb
from codex_pipeline.wire.signatures import sign
from tests.asgi_call import call_asgi
from tests.broker_reply import assert_broker_acceptable
from tests.conftest import RunningFunction, free_port, start_function, stop_function
from tests.fakes.httpserver import Recorded, RecordingSink
from tests.payloads import github

pytestmark = pytest.mark.xdist_group("route-task")

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ROUTING_ENV = {
    "CODEX_TRIGGER_LOGINS": "alice,gregkonush",
    "CODEX_TRIGGER_LABEL": "codex",
    "CODEX_PLANNER_LOGIN": "codex-planner",
    "CODEX_BOT_MENTION": "@tuslagch",
    "CODEX_SINK_ATTEMPTS": "1",
    "CODEX_SINK_TIMEOUT_SECONDS": "2",
    "CODEX_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="module")
def sinks() -> Iterator[tuple[RecordingSink, RecordingSink]]:
    with RecordingSink() as structured, RecordingSink() as as_json:
        yield structured, as_json


@pytest.fixture(scope="module")
def router(
    sinks: tuple[RecordingSink, RecordingSink],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningFunction]:
    env = {**ROUTING_ENV, "CODEX_TASKS_SINK": sinks[0].url, "CODEX_TASKS_JSON_SINK": sinks[1].url}
    running = start_function("route-task", env, tmp_path_factory.mktemp("route-task"))
    yield running
    stop_function(running)


@pytest.fixture(autouse=True)
def _fresh(sinks: tuple[RecordingSink, RecordingSink]) -> None:
    for sink in sinks:
        sink.requests.clear()
        sink.status = 202


def deliver(
    router: RunningFunction,
    event: str,
    payload: dict[str, Any],
    delivery: str | None = None,
    traceparent: str | None = TRACE,
) -> requests.Response:
    headers, body = github.cloudevent(event, payload, delivery or str(uuid.uuid4()), traceparent=traceparent)
    answer = requests.post(router.url + "/", headers=headers, data=body, timeout=10)
    assert_broker_acceptable(answer.status_code, dict(answer.headers), answer.content)
    return answer


def decoded(recorded: Recorded) -> events.Event:
    return events.decode_request(Request("POST", recorded.path, Headers(recorded.headers), recorded.body))


def emitted(sinks: tuple[RecordingSink, RecordingSink], count: int = 1) -> tuple[list[events.Event], ...]:
    return tuple([decoded(r) for r in sink.wait_for(count)] for sink in sinks)


def emitted_command_task(
    sinks: tuple[RecordingSink, RecordingSink], count: int = 1, acks: int = 1
) -> tuple[list[events.Event], list[events.Event], list[events.Event]]:
    """(tasks on the protobuf sink, tasks on the JSON sink, command requests) once ``count`` tasks and
    ``acks`` 👀 acknowledgements (a command that became a task) arrived; commands go to the first sink only."""
    structured = [decoded(r) for r in sinks[0].wait_for(count + acks)]
    as_json = [decoded(r) for r in sinks[1].wait_for(count)]
    return (
        [e for e in structured if e.type != "codex.command"],
        as_json,
        [e for e in structured if e.type == "codex.command"],
    )


def test_issue_opened_emits_one_planning_task_to_each_sink(router: RunningFunction, sinks: Any) -> None:
    delivery = str(uuid.uuid4())
    answer = deliver(router, "issues", github.issues_opened(42, sender="alice"), delivery)
    assert (answer.status_code, answer.content) == (202, b"")
    [structured], [as_json] = emitted(sinks)
    for event in (structured, as_json):
        assert event.type == "codex.task.planning"
        assert event.id == tasks.task_event_id(delivery, "planning")
        assert event.extensions["partitionkey"] == "acme/widgets#42"
        assert event.subject == "acme/widgets#42"
        assert event.dataschema == "proompteng.froussard.v1.CodexTask"
        assert event.traceparent is not None and event.traceparent.split("-")[1] == TRACE.split("-")[1]
        assert event.time == "2026-11-25T10:02:41Z"
    assert structured.datacontenttype == "application/protobuf"
    assert as_json.datacontenttype == "application/json"
    task = tasks.from_protobuf(structured.data)
    assert task.stage == pb.CODEX_TASK_STAGE_PLANNING
    assert (task.repository, task.issue_number, task.sender, task.delivery_id) == (
        "acme/widgets",
        42,
        "alice",
        delivery,
    )
    assert task.head == "codex/issue-42-add-retry-to-the-widget-exporter" and task.base == "main"
    spec_json = json.loads(as_json.data)
    assert spec_json == tasks.to_json_dict(task)
    assert spec_json["stage"] == "planning" and spec_json["issueNumber"] == 42
    # Binary mode on the wire: attributes as headers, the task as the body.
    raw = sinks[0].requests[0]
    assert raw.headers["ce-type"] == "codex.task.planning" and raw.headers["content-type"] == "application/protobuf"


def test_each_rule_reaches_the_sinks_with_its_type(router: RunningFunction, sinks: Any) -> None:
    cases = [
        ("issues", github.issues_labeled("codex", sender="alice"), "codex.task.planning", 0),
        (
            "issue_comment",
            github.issue_comment(f"{PLAN_MARKER}\nplan", author="codex-planner"),
            "codex.task.implementation",
            0,
        ),
        ("issue_comment", github.issue_comment("execute plan", author="alice"), "codex.task.implementation", 1),
        ("issue_comment", github.issue_comment("@tuslagch review", on_pr=True, number=57), "codex.task.review", 1),
        ("check_suite", github.check_suite_completed(), "codex.pr.readiness", 0),
        ("pull_request_review_thread", github.pull_request_review_thread(), "codex.pr.readiness", 0),
    ]
    acks = 0
    for index, (event, payload, wanted, acked) in enumerate(cases, start=1):
        assert deliver(router, event, payload).status_code == 202
        acks += acked
        structured, as_json, commands = emitted_command_task(sinks, index, acks)
        assert structured[-1].type == as_json[-1].type == wanted
        assert [json.loads(c.data)["kind"] for c in commands] == ["ack"] * acks
    plan = tasks.from_protobuf(structured[1].data)
    assert plan.plan_comment_body == f"{PLAN_MARKER}\nplan"
    readiness = json.loads(as_json[4].data)
    assert readiness["stage"] == "unspecified" and readiness["head"].startswith("codex/")


def test_ignored_deliveries_are_acked_empty_and_logged_with_the_reason(router: RunningFunction, sinks: Any) -> None:
    delivery = str(uuid.uuid4())
    edited = github.issue_comment("execute plan", author="alice", action="edited")
    answer = deliver(router, "issue_comment", edited, delivery)
    assert (answer.status_code, answer.content) == (200, b"")
    for event, payload in (
        ("issue_comment", github.issue_comment(f"{PLAN_MARKER}\nplan", author="mallory")),
        ("push", github.push()),
        ("issues", github.issues_opened(sender="mallory")),
    ):
        assert deliver(router, event, payload).status_code == 200
    assert sinks[0].requests == [] and sinks[1].requests == []
    log = [json.loads(line) for line in router.output().splitlines() if line.startswith("{")]
    mine = [entry for entry in log if entry.get("delivery") == delivery]
    assert mine and mine[-1]["msg"].startswith("delivery ignored")
    assert "edited and deleted comments never trigger anything" in mine[-1]["reason"]


def test_structured_mode_and_kafka_wrapped_events_route_too(router: RunningFunction, sinks: Any) -> None:
    payload = github.issues_opened(5, sender="gregkonush")
    structured = {
        "specversion": "1.0",
        "id": "s-1",
        "source": "https://github.com/acme/widgets",
        "type": "com.github.issues.opened",
        "datacontenttype": "application/json",
        "data": payload,
    }
    answer = requests.post(
        router.url, data=json.dumps(structured), headers={"content-type": "application/cloudevents+json"}, timeout=10
    )
    assert answer.status_code == 202
    record = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:9",
        "ce-source": "/kafka",
        "ce-type": "dev.knative.kafka.event",
        "content-type": "application/json",
    }
    answer = requests.post(router.url, data=json.dumps(structured), headers=record, timeout=10)
    assert answer.status_code == 202
    first, second = emitted(sinks, 2)[0]
    assert first.id == second.id == "s-1:planning"


def test_other_cloudevent_types_are_ignored(router: RunningFunction, sinks: Any) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "x",
        "ce-source": "/s",
        "ce-type": "codex.task.planning",
        "content-type": "application/protobuf",
    }
    answer = requests.post(router.url, data=b"\x08\x01", headers=headers, timeout=10)
    assert (answer.status_code, answer.content) == (200, b"")
    assert sinks[0].requests == []


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        ({"ce-specversion": "1.0", "ce-source": "/s", "ce-type": "com.github.issues.opened"}, b"{}", "ce-id"),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "com.github.issues.opened",
                "content-type": "application/json",
            },
            b"{not json",
            "not valid JSON",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "com.github.issues.opened",
                "content-type": "application/json",
            },
            b"[1, 2]",
            "JSON object",
        ),
        ({"content-type": "application/cloudevents+json"}, b'{"id": 1', "malformed CloudEvent"),
    ],
)
def test_undecodable_events_are_400_with_a_json_error(
    router: RunningFunction, headers: dict[str, str], body: bytes, fragment: str
) -> None:
    answer = requests.post(router.url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert fragment in answer.json()["message"]


@pytest.mark.parametrize("down", [0, 1])
def test_a_sink_down_is_503_and_the_retry_re_emits_the_same_ids(router: RunningFunction, sinks: Any, down: int) -> None:
    sinks[down].status = 500
    delivery = str(uuid.uuid4())
    payload = github.issue_comment("execute plan", author="alice")
    answer = deliver(router, "issue_comment", payload, delivery)
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    sinks[down].status = 202
    assert deliver(router, "issue_comment", payload, delivery).status_code == 202
    ids = {r.headers["ce-id"] for sink in sinks for r in sink.requests}
    assert ids == {f"{delivery}:implementation", f"{delivery}:command"}  # the task and its 👀 acknowledgement


def test_unreachable_sink_is_503(sinks: Any, tmp_path: Path) -> None:
    env = {**ROUTING_ENV, "CODEX_TASKS_SINK": sinks[0].url, "CODEX_TASKS_JSON_SINK": f"http://127.0.0.1:{free_port()}/"}
    running = start_function("route-task", env, tmp_path)
    try:
        headers, body = github.cloudevent("issues", github.issues_opened(sender="alice"), "u-1")
        answer = requests.post(running.url, headers=headers, data=body, timeout=10)
        assert answer.status_code == 503
        assert "u-1:planning" in answer.json()["message"]
    finally:
        stop_function(running)


def test_without_sinks_tasks_are_503_but_ignored_events_are_acked(tmp_path: Path) -> None:
    running = start_function("route-task", ROUTING_ENV, tmp_path)
    try:
        assert requests.get(running.url + "/health/readiness", timeout=5).status_code == 503
        headers, body = github.cloudevent("issues", github.issues_opened(sender="alice"))
        assert requests.post(running.url, headers=headers, data=body, timeout=10).status_code == 503
        headers, body = github.cloudevent("push", github.push())
        assert requests.post(running.url, headers=headers, data=body, timeout=10).status_code == 200
    finally:
        stop_function(running)


def test_health_endpoints(router: RunningFunction) -> None:
    for path in ("/health/liveness", "/health/readiness"):
        answer = requests.get(router.url + path, timeout=5)
        assert answer.status_code == 200 and answer.json()["function"] == "route-task"


def test_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, codex_pipeline.handlers.route_task; "
        "print(sorted(set(sys.modules) & {'kubernetes', 'psycopg', 'psycopg_pool', 'requests', 'yaml', "
        "'opentelemetry.sdk', 'cloudevents'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_asgi_entry_routes_the_same_way(sinks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The object func-python wraps (``function.new()``), driven as an ASGI server drives it."""
    for key, value in {**ROUTING_ENV, "CODEX_TASKS_SINK": sinks[0].url, "CODEX_TASKS_JSON_SINK": sinks[1].url}.items():
        monkeypatch.setenv(key, value)
    function = AsgiFunction(lambda: create_app(load_settings()))
    function.start({})
    assert function.alive()[0] and function.ready()[0]
    headers, body = github.cloudevent("issue_comment", github.issue_comment("@tuslagch review", on_pr=True), "a-1")
    answer = call_asgi(function, headers, body)
    assert (answer.status, answer.body) == (202, b"")
    [structured], [as_json], [ack] = emitted_command_task(sinks)
    assert structured.id == as_json.id == "a-1:review" and ack.id == "a-1:command"


def test_a_signed_webhook_through_ingest_webhook_becomes_a_task(
    router: RunningFunction, sinks: Any, tmp_path: Path
) -> None:
    """The real chain: GitHub's POST -> ingest-webhook -> its raw CloudEvent -> route-task -> both sinks."""
    ingest = start_function(
        "ingest-webhook",
        {"CODEX_WEBHOOK_SECRET": "chain-secret", "K_SINK": router.url, "CODEX_LOG_LEVEL": "WARNING"},
        tmp_path,
    )
    try:
        delivery = str(uuid.uuid4())
        payload = github.issue_comment("@tuslagch review", on_pr=True, number=57, association="OWNER")
        headers, body = github.webhook("issue_comment", payload, delivery)
        headers["X-Hub-Signature-256"] = sign("chain-secret", body)
        answer = requests.post(ingest.url, headers=headers, data=body, timeout=10)
        assert answer.status_code == 202, answer.text
        [structured], [as_json], [ack] = emitted_command_task(sinks)
        assert structured.id == as_json.id == f"{delivery}:review"
        assert json.loads(ack.data)["kind"] == "ack"
        assert tasks.from_protobuf(structured.data).issue_url == "https://github.com/acme/widgets/pull/57"
    finally:
        stop_function(ingest)


def test_an_unknown_mention_emits_one_command_request_to_the_task_sink_only(
    router: RunningFunction, sinks: Any
) -> None:
    delivery = str(uuid.uuid4())
    payload = github.issue_comment("Hey @tuslagch, what now?", on_pr=True, number=57, association="MEMBER")
    answer = deliver(router, "issue_comment", payload, delivery)
    assert (answer.status_code, answer.content) == (202, b"")
    [event] = [decoded(r) for r in sinks[0].wait_for(1)]
    assert sinks[1].requests == []  # the JSON topic mirrors CodexTasks only
    assert (event.type, event.id, event.datacontenttype) == ("codex.command", f"{delivery}:command", "application/json")
    assert event.extensions["partitionkey"] == "acme/widgets#57"
    data = json.loads(event.data)
    assert (data["kind"], data["repository"], data["number"], data["deliveryId"]) == (
        "reply",
        "acme/widgets",
        57,
        delivery,
    )
    assert data["commentId"] == payload["comment"]["id"] and "`@tuslagch review`" in data["reply"]
    assert "what now" not in data["reply"]


def test_an_unknown_mention_by_a_stranger_is_only_logged(router: RunningFunction, sinks: Any) -> None:
    delivery = str(uuid.uuid4())
    payload = github.issue_comment("Hey @tuslagch, what now?", on_pr=True, author="mallory", association="NONE")
    assert deliver(router, "issue_comment", payload, delivery).status_code == 200
    assert sinks[0].requests == [] and sinks[1].requests == []
    log = [json.loads(line) for line in router.output().splitlines() if line.startswith("{")]
    [entry] = [e for e in log if e.get("delivery") == delivery]
    assert "no reply: command: mallory is neither" in entry["reason"]


def test_spec_aliases_are_read_and_named_at_start_up(sinks: Any, tmp_path: Path) -> None:
    env = {
        key: value for key, value in ROUTING_ENV.items() if key not in ("CODEX_TRIGGER_LOGINS", "CODEX_PLANNER_LOGIN")
    }
    env.update(
        {
            "CODEX_TRIGGER_LOGIN": "alice",
            "CODEX_WORKFLOW_LOGIN": "codex-planner",
            "CODEX_TASKS_SINK": sinks[0].url,
            "CODEX_TASKS_JSON_SINK": sinks[1].url,
        }
    )
    running = start_function("route-task", env, tmp_path)
    try:
        headers, body = github.cloudevent("issues", github.issues_opened(sender="alice"), "alias-1")
        assert requests.post(running.url, headers=headers, data=body, timeout=10).status_code == 202
        headers, body = github.cloudevent(
            "issue_comment", github.issue_comment(f"{PLAN_MARKER}\nplan", author="codex-planner"), "alias-2"
        )
        assert requests.post(running.url, headers=headers, data=body, timeout=10).status_code == 202
        output = running.output()
        assert "CODEX_TRIGGER_LOGIN is the spec's name for CODEX_TRIGGER_LOGINS" in output
        assert "CODEX_WORKFLOW_LOGIN is the spec's name for CODEX_PLANNER_LOGIN" in output
    finally:
        stop_function(running)


def test_task_events_carry_the_tasks_issued_at_as_their_time_to_the_fraction() -> None:
    """The events' time is the JSON's ``issuedAt`` (one RFC 3339 form on both), which Python reads back."""
    from datetime import UTC, datetime

    from codex_pipeline.core.policy import Policy
    from codex_pipeline.core.routing import route
    from codex_pipeline.handlers.route_task import task_events

    payload = github.issues_opened(42, sender="alice")
    payload["issue"]["updated_at"] = "2026-11-25T10:02:41.25Z"
    policy = Policy.from_settings(load_settings({"CODEX_TRIGGER_LOGINS": "alice"}))
    [routed] = route("com.github.issues.opened", payload, "d-1", policy).tasks
    structured, as_json = task_events(routed, None)
    assert structured.time == as_json.time == json.loads(as_json.data)["issuedAt"] == "2026-11-25T10:02:41.250Z"
    assert datetime.fromisoformat(structured.time) == datetime(2026, 11, 25, 10, 2, 41, 250000, tzinfo=UTC)
