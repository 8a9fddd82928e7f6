"""The local router delivers as Knative would, driven by the manifests in eventing/.

Subscribers are stand-in HTTP servers (the router's outside edge) answering what a function
might; events go in through the router's real KafkaSink ingress over HTTP.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.dev.log import EventLog
from codex_pipeline.dev.router import Router, broker_topic
from codex_pipeline.dev.topology import load
from codex_pipeline.dev.view import View
from codex_pipeline.wire.events import Event, encode_binary
from tests.fakes.httpserver import Answer, FakeServer, Recorded

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("route-task", "dispatch-planning", "promote-plan", "request-review")


class Subscriber(FakeServer):
    """Answers each request with the next scripted answer (the last one repeats)."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        super().__init__()
        self.answers = answers or [(200, {}, b"")]

    def answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            index = min(len(self.requests) - 1, len(self.answers) - 1)
        return self.answers[index]


@pytest.fixture
def eventing(tmp_path: Path) -> Path:
    """eventing/ as committed, with backoff shortened to 0.1 s (Knative keeps one decimal of seconds, so
    no shorter non-zero delay exists) and retries cut to 2 so exhausting them takes ~0.6 s."""
    copy = tmp_path / "eventing"
    shutil.copytree(ROOT / "eventing", copy)
    for path in copy.glob("*.yaml"):
        text = re.sub(r"backoffDelay: PT[0-9.]+S", "backoffDelay: PT0.1S", path.read_text())
        path.write_text(re.sub(r"retry: \d+", "retry: 2", text))
    return copy


class Harness:
    def __init__(self, eventing: Path, db: Path, subscribers: dict[str, Subscriber]) -> None:
        self.out = io.StringIO()
        self.log = EventLog(db)
        self.router = Router(load(eventing), self.log, View(self.out), {n: s.url + "/" for n, s in subscribers.items()})
        self.port = self.router.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def post(self, sink: str, event: Event) -> requests.Response:
        headers, body = encode_binary(event)
        return requests.post(f"{self.url}/codex/{sink}?from=test", data=body, headers=headers, timeout=5)

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; view:\n{self.out.getvalue()}"
            time.sleep(0.02)

    def records(self, topic: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/topics/{topic}", timeout=5)
        assert answer.status_code == 200
        records: list[dict[str, Any]] = answer.json()["records"]
        return records

    def close(self) -> None:
        self.router.stop()
        self.log.close()


@pytest.fixture
def servers() -> Iterator[dict[str, Subscriber]]:
    started = {name: Subscriber() for name in FUNCTIONS}
    for server in started.values():
        server.__enter__()
    yield started
    closing = [threading.Thread(target=server.__exit__) for server in started.values()]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


def raw(delivery: str = "d-1", kind: str = "com.github.issues.opened") -> Event:
    return Event(
        id=delivery,
        source="https://github.com/acme/widgets",
        type=kind,
        subject="42",
        datacontenttype="application/json",
        data=b'{"action":"opened"}',
        extensions={"partitionkey": "acme/widgets#42", "githubevent": "issues"},
    )


def task(kind: str, delivery: str = "d-1") -> Event:
    return Event(
        id=f"{delivery}:{kind.rsplit('.', 1)[-1]}",
        source="route-task",
        type=kind,
        datacontenttype="application/protobuf",
        data=b"\x08\x01",
        extensions={"partitionkey": "acme/widgets#42"},
    )


def test_raw_delivery_reaches_route_task_unchanged_in_binary_mode(eventing, tmp_path, servers):
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        assert h.post("github-webhook-events", raw()).status_code == 202
        h.wait(lambda: len(servers["route-task"].requests) == 1)
        got = servers["route-task"].requests[0]
        assert got.headers["ce-id"] == "d-1"
        assert got.headers["ce-type"] == "com.github.issues.opened"
        assert got.headers["ce-partitionkey"] == "acme/widgets#42"
        assert got.headers["content-type"] == "application/json"
        assert got.body == b'{"action":"opened"}'
        assert all(not s.requests for n, s in servers.items() if n != "route-task")
        h.wait(lambda: "ignored" in h.out.getvalue())  # 200, nothing emitted
    finally:
        h.close()


@pytest.mark.parametrize(
    ("kind", "function"),
    [
        ("codex.task.planning", "dispatch-planning"),
        ("codex.task.implementation", "promote-plan"),
        ("codex.task.review", "request-review"),
        ("codex.pr.readiness", "request-review"),
    ],
)
def test_task_types_reach_their_function_only(eventing, tmp_path, servers, kind, function):
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        assert h.post("github-issues-codex-tasks", task(kind)).status_code == 202
        h.wait(lambda: len(servers[function].requests) == 1)
        time.sleep(0.1)
        assert {n for n, s in servers.items() if s.requests} == {function}
    finally:
        h.close()


def test_json_mirror_topic_is_kept_but_routed_nowhere(eventing, tmp_path, servers):
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        assert h.post("github-codex-tasks", task("codex.task.planning")).status_code == 202
        assert [r["attributes"]["type"] for r in h.records("github.codex.tasks")] == ["codex.task.planning"]
        time.sleep(0.2)
        assert not any(s.requests for s in servers.values())
    finally:
        h.close()


def test_5xx_is_retried_with_backoff_until_accepted(eventing, tmp_path, servers):
    servers["dispatch-planning"].answers = [(503, {}, b'{"error":"unavailable"}'), (500, {}, b"{}"), (202, {}, b"")]
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        h.post("github-issues-codex-tasks", task("codex.task.planning"))
        h.wait(lambda: h.log.delivery_counts().get("done") == 1)
        assert len(servers["dispatch-planning"].requests) == 3
        view = h.out.getvalue()
        assert view.count(" retry ") == 2
        assert "HTTP 503" in view and "(attempt 1/3, next in 0.2s)" in view
        assert "HTTP 500" in view and "(attempt 2/3, next in 0.4s)" in view  # exponential
        assert h.records("codex.dead-letter") == []
    finally:
        h.close()


def test_permanent_4xx_is_dead_lettered_at_once_with_knative_error_extensions(eventing, tmp_path, servers):
    servers["promote-plan"].answers = [(400, {"content-type": "application/json"}, b'{"error":"bad_request"}')]
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        h.post("github-issues-codex-tasks", task("codex.task.implementation"))
        h.wait(lambda: len(h.records("codex.dead-letter")) == 1)
        (dead,) = h.records("codex.dead-letter")
        assert dead["attributes"]["id"] == "d-1:implementation"
        assert dead["attributes"]["knativeerrorcode"] == "400"
        assert dead["attributes"]["knativeerrordest"].startswith(servers["promote-plan"].url)
        assert len(servers["promote-plan"].requests) == 1
        assert "dead-letter" in h.out.getvalue()
    finally:
        h.close()


def test_exhausted_retries_dead_letter_after_one_plus_retry_attempts(eventing, tmp_path, servers):
    servers["request-review"].answers = [(503, {}, b"{}")]
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        h.post("github-issues-codex-tasks", task("codex.task.review"))
        h.wait(lambda: len(h.records("codex.dead-letter")) == 1)
        assert len(servers["request-review"].requests) == 3  # retry: 2 (the fixture's cut of eventing/triggers.yaml)
    finally:
        h.close()


def test_plain_body_on_2xx_fails_as_knatives_dispatcher_fails_it(eventing, tmp_path, servers):
    servers["dispatch-planning"].answers = [(200, {"content-type": "text/plain"}, b"OK"), (200, {}, b"")]
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        h.post("github-issues-codex-tasks", task("codex.task.planning"))
        h.wait(lambda: h.log.delivery_counts().get("done") == 1)
        assert len(servers["dispatch-planning"].requests) == 2
        assert "not a CloudEvent" in h.out.getvalue()
    finally:
        h.close()


def test_cloudevent_reply_goes_back_to_the_broker_as_audit_trail(eventing, tmp_path, servers):
    reply = Event(
        id="codex-planning-widgets-42-abc",
        source="dispatch-planning",
        type="codex.workflow.submitted",
        subject="acme/widgets#42",
        datacontenttype="application/json",
        data=json.dumps(
            {
                "namespace": "argo-workflows",
                "name": "codex-planning-widgets-42-abc",
                "submittedAt": "2026-11-25T12:00:00Z",
                "duplicate": False,
            }
        ).encode(),
    )
    headers, body = encode_binary(reply)
    servers["dispatch-planning"].answers = [(202, headers, body)]
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        h.post("github-issues-codex-tasks", task("codex.task.planning"))
        h.wait(lambda: "submitted" in h.out.getvalue())
        assert "argo-workflows/codex-planning-widgets-42-abc" in h.out.getvalue()
        types = [r["attributes"]["type"] for r in h.records(broker_topic(("codex", "codex-tasks")))]
        assert types == ["codex.task.planning", "codex.workflow.submitted"]
        time.sleep(0.1)
        assert len(servers["dispatch-planning"].requests) == 1  # no Trigger takes the reply: no loop
    finally:
        h.close()


def test_sink_ingress_refuses_what_a_kafka_sink_refuses(eventing, tmp_path, servers):
    h = Harness(eventing, tmp_path / "events.db", servers)
    try:
        plain = requests.post(f"{h.url}/codex/github-webhook-events", json={"a": 1}, timeout=5)
        assert plain.status_code == 400 and "CloudEvents" in plain.json()["message"]
        headers, body = encode_binary(raw())
        unknown = requests.post(f"{h.url}/codex/nope", data=body, headers=headers, timeout=5)
        assert unknown.status_code == 404
        assert h.log.topic_counts() == {}
    finally:
        h.close()


def test_deliveries_held_for_an_absent_function_survive_a_restart(eventing, tmp_path, servers):
    db = tmp_path / "events.db"
    absent = Harness(eventing, db, {})
    try:
        assert absent.post("github-webhook-events", raw("d-9")).status_code == 202
        absent.wait(lambda: "held" in absent.out.getvalue())
    finally:
        absent.close()
    assert not servers["route-task"].requests
    again = Harness(eventing, db, servers)
    try:
        again.wait(lambda: len(servers["route-task"].requests) == 1)
        assert servers["route-task"].requests[0].headers["ce-id"] == "d-9"
        again.wait(lambda: again.log.delivery_counts() == {"done": 1})
    finally:
        again.close()


def test_deliveries_held_for_an_absent_function_never_crowd_out_the_others(eventing, tmp_path, servers):
    served = {name: server for name, server in servers.items() if name != "request-review"}
    h = Harness(eventing, tmp_path / "events.db", served)
    try:
        for n in range(40):  # more than the router fetches at once
            assert h.post("github-issues-codex-tasks", task("codex.task.review", f"held-{n}")).status_code == 202
        h.wait(lambda: h.out.getvalue().count(" held ") == 40)
        assert h.post("github-issues-codex-tasks", task("codex.task.planning", "d-2")).status_code == 202
        h.wait(lambda: h.log.delivery_counts().get("done") == 1)  # answered, then recorded
        assert h.log.delivery_counts() == {"pending": 40, "done": 1}
        assert len(servers["dispatch-planning"].requests) == 1
        assert not servers["request-review"].requests
    finally:
        h.close()
