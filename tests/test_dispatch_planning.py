"""dispatch-planning: the spec's planner replay and planning CloudEvents, end to end.

Most cases drive the real function over HTTP (functions-framework in a subprocess) with a real
store (SQLite file or the PostgreSQL server) and either the dry-run submitter or the
Kubernetes submitter against a fake API server. Spans are checked in-process with an
in-memory exporter; the ASGI entry that func deploy wraps gets the same replay.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline import schemas
from codex_pipeline.effects.argo import workflow_name
from codex_pipeline.effects.store import open_store
from codex_pipeline.handlers.dispatch_planning import create_app
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire import tasks
from codex_pipeline.wire.http import Headers, Request
from tests.asgi_call import call_asgi
from tests.broker_reply import assert_broker_acceptable
from tests.conftest import RunningFunction, free_port, start_function, stop_function
from tests.fakes.kubernetes import FakeKubernetes

pytestmark = pytest.mark.xdist_group("dispatch-planning")
NAMESPACE = "argo-workflows"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def replay_task(delivery: str | None = None, **changes: Any) -> tasks.CodexTask:
    """The spec's replay payload (payload.txt of "Facteur Planner Replay")."""
    fields: dict[str, Any] = {
        "stage": "planning",
        "prompt": "Capture planner replay instructions",
        "repository": "proompteng/lab",
        "base": "main",
        "head": "codex/replay",
        "issueNumber": 1636,
        "issueUrl": "https://github.com/proompteng/lab/issues/1636",
        "issueTitle": "Replay planning workflow",
        "issueBody": "Testing the Facteur planner orchestration path.",
        "deliveryId": delivery or f"manual-planning-test-{uuid.uuid4().hex[:8]}",
    }
    fields.update(changes)
    return tasks.from_json_dict({k: v for k, v in fields.items() if v is not None})


def binary_event(task: tasks.CodexTask, **headers: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": tasks.task_event_id(task.delivery_id, "planning"),
        "ce-source": "codex-pipeline/route-task",
        "ce-type": "codex.task.planning",
        "ce-subject": "proompteng/lab#1636",
        "ce-partitionkey": "proompteng/lab#1636",
        "ce-dataschema": tasks.DATASCHEMA,
        "content-type": "application/protobuf",
        **headers,
    }


def dry_run_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "CODEX_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp / "workflows"),
        "CODEX_LOG_LEVEL": "INFO",
        **extra,
    }


def written(tmp: Path) -> list[dict[str, Any]]:
    folder = tmp / "workflows" / NAMESPACE
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningFunction, Path]]:
    tmp = tmp_path_factory.mktemp("dispatch-dry-run")
    running = start_function("dispatch-planning", dry_run_env(tmp), tmp)
    yield running, tmp
    stop_function(running)


def test_spec_replay_submits_facteur_dispatch_and_answers_202(dry_run: tuple[RunningFunction, Path]) -> None:
    running, tmp = dry_run
    task = replay_task()
    answer = requests.post(f"{running.url}/codex/tasks", data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    name = workflow_name("codex-planning", "proompteng/lab", 1636, task.delivery_id)
    assert body["namespace"] == NAMESPACE and body["name"] == name and body["duplicate"] is False
    assert datetime.fromisoformat(body["submittedAt"].replace("Z", "+00:00")).tzinfo is not None
    (workflow,) = [w for w in written(tmp) if w["metadata"]["name"] == name]
    assert schemas.validate(workflow) == []
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "facteur-dispatch"}
    (parameter,) = workflow["spec"]["arguments"]["parameters"]
    assert parameter["name"] == "payload"
    assert json.loads(base64.b64decode(parameter["value"])) == tasks.to_json_dict(task)
    assert workflow["metadata"]["labels"] == {
        "codex.stage": "planning",
        "codex.repository": "proompteng.lab",
        "codex.issue": "1636",
        "codex.delivery": task.delivery_id,
    }
    assert "workflow submitted: stage=PLANNING" in running.output()
    assert f"workflow={name}" in running.output()

    again = requests.post(f"{running.url}/codex/tasks", data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=10)
    assert again.status_code == 202
    assert again.json() == {**body, "duplicate": True}
    assert len([w for w in written(tmp) if w["metadata"]["name"] == name]) == 1


def fresh_issue() -> int:
    """A planning CloudEvent plans its issue once: tests sharing a store use an issue each."""
    return uuid.uuid4().int % 10**8 + 10**6


@pytest.mark.parametrize("mode", ["binary", "structured", "kafka-record", "kafka-record-json", "kafka-wrapped-json"])
def test_planning_cloudevents_get_a_reply_event(dry_run: tuple[RunningFunction, Path], mode: str) -> None:
    running, tmp = dry_run
    issue = fresh_issue()
    task = replay_task(issueNumber=issue)
    raw = tasks.to_protobuf(task)
    if mode == "binary":
        headers, body = binary_event(task), raw
    elif mode == "structured":
        headers = {"content-type": "application/cloudevents+json"}
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "e-1",
                "source": "codex-pipeline/route-task",
                "type": "codex.task.planning",
                "datacontenttype": "application/json",
                "data": tasks.to_json_dict(task),
            }
        ).encode()
    elif mode == "kafka-record":  # a KafkaSource record without ce_ headers: the value is the protobuf
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "partition:0/offset:7",
            "ce-type": "dev.knative.kafka.event",
            "ce-source": "/apis/v1/namespaces/codex/kafkasources/tasks#github.issues.codex.tasks",
            "content-type": "application/x-protobuf",
        }
        body = raw
    elif mode == "kafka-record-json":  # a plain record of the JSON mirror topic: the value is the task JSON
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "partition:2/offset:9",
            "ce-type": "dev.knative.kafka.event",
            "ce-source": "/apis/v1/namespaces/codex/kafkasources/tasks#github.codex.tasks",
            "content-type": "application/json",
        }
        body = tasks.to_json(task)
    else:  # a record whose value is a structured CloudEvent carrying the JSON task
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "partition:1/offset:3",
            "ce-type": "dev.knative.kafka.event",
            "ce-source": "/apis/v1/namespaces/codex/kafkasources/tasks#github.codex.tasks",
            "content-type": "application/json",
        }
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "e-2",
                "source": "route-task",
                "type": "codex.task.planning",
                "datacontenttype": "application/json",
                "data": tasks.to_json_dict(task),
            }
        ).encode()
    answer = requests.post(running.url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    assert_broker_acceptable(answer.status_code, dict(answer.headers), answer.content)
    data = json.loads(answer.content)
    assert answer.headers["ce-type"] == "codex.workflow.submitted"
    assert answer.headers["ce-id"] == data["name"]
    assert answer.headers["ce-subject"] == f"proompteng/lab#{issue}"
    assert answer.headers["ce-partitionkey"] == f"proompteng/lab#{issue}"
    assert data["duplicate"] is False and data["namespace"] == NAMESPACE
    assert any(w["metadata"]["name"] == data["name"] for w in written(tmp))


@pytest.mark.parametrize(
    ("what", "headers", "body", "fragment"),
    [
        ("undecodable bytes", PROTOBUF, b"\xff\xff\xff\xff", "not a protobuf CodexTask"),
        ("no repository", PROTOBUF, tasks.to_protobuf(replay_task(repository=None)), "repository"),
        ("no issue number", PROTOBUF, tasks.to_protobuf(replay_task(issueNumber=None)), "issue_number"),
        ("no delivery id", PROTOBUF, tasks.to_protobuf(replay_task(deliveryId="")), "delivery_id"),
        ("a review task", PROTOBUF, tasks.to_protobuf(replay_task(stage="review")), "planning tasks"),
        ("an empty body", PROTOBUF, b"", "missing required field"),
        ("an unknown media type", {"Content-Type": "text/plain"}, b"hello", "unsupported task content type"),
        (
            "a CloudEvent of another type",
            {**binary_event(replay_task()), "ce-type": "codex.task.review"},
            tasks.to_protobuf(replay_task()),
            "codex.task.planning",
        ),
        (
            "a CloudEvent without ce-id",
            {k: v for k, v in binary_event(replay_task()).items() if k != "ce-id"},
            tasks.to_protobuf(replay_task()),
            "ce-id",
        ),
    ],
)
def test_input_that_can_never_succeed_is_400(
    dry_run: tuple[RunningFunction, Path], what: str, headers: dict[str, str], body: bytes, fragment: str
) -> None:
    running, tmp = dry_run
    before = len(written(tmp))
    answer = requests.post(running.url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 400, f"{what}: {answer.status_code} {answer.text}"
    assert answer.json()["error"] == "bad_request"
    assert fragment in answer.json()["message"], answer.json()
    assert len(written(tmp)) == before


def test_fifty_concurrent_deliveries_with_sqlite_and_dry_run_write_one_workflow(
    dry_run: tuple[RunningFunction, Path],
) -> None:
    running, tmp = dry_run
    task = replay_task()
    answers: list[requests.Response] = []
    barrier = threading.Barrier(50)

    def deliver() -> None:
        barrier.wait()
        answers.append(requests.post(running.url, data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=30))

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202] * 50
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 49
    assert len({(a.json()["name"], a.json()["submittedAt"]) for a in answers}) == 1
    name = answers[0].json()["name"]
    assert len([w for w in written(tmp) if w["metadata"]["name"] == name]) == 1


def test_health_endpoints(dry_run: tuple[RunningFunction, Path]) -> None:
    running, _ = dry_run
    assert requests.get(f"{running.url}/health/liveness", timeout=5).status_code == 200
    assert requests.get(f"{running.url}/health/readiness", timeout=5).json()["status"] == "ready"


def test_planning_disabled_defers_without_recording(tmp_path: Path) -> None:
    running = start_function("dispatch-planning", dry_run_env(tmp_path, CODEX_PLANNING_ENABLED="false"), tmp_path)
    try:
        task = replay_task()
        answer = requests.post(running.url, data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=10)
        assert (answer.status_code, answer.json()) == (202, {"deferred": True})
        reply = requests.post(running.url, data=tasks.to_protobuf(task), headers=binary_event(task), timeout=10)
        assert reply.status_code == 202
        assert_broker_acceptable(reply.status_code, dict(reply.headers), reply.content)
        assert json.loads(reply.content) == {"deferred": True}
        assert reply.headers["ce-type"] == "codex.workflow.deferred"
        assert written(tmp_path) == []
        log = running.output()
        assert "planning deferred: stage=PLANNING repository=proompteng/lab issue=1636" in log
        assert f"delivery={task.delivery_id}" in log
    finally:
        stop_function(running)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert store.find_run("planning", task.delivery_id) is None
    store.close()


def test_database_unreachable_is_503_and_submits_nothing(tmp_path: Path) -> None:
    env = dry_run_env(
        tmp_path,
        CODEX_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/codex",
        CODEX_DATABASE_TIMEOUT_SECONDS="0.5",
    )
    running = start_function("dispatch-planning", env, tmp_path)
    try:
        answer = requests.post(running.url, data=tasks.to_protobuf(replay_task()), headers=PROTOBUF, timeout=30)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "unavailable" and "PostgreSQL" in answer.json()["message"]
        assert requests.get(f"{running.url}/health/readiness", timeout=30).status_code == 503
        assert written(tmp_path) == []
    finally:
        stop_function(running)


def test_readiness_answers_within_a_second_with_its_reason_and_an_outage_is_logged_once(tmp_path: Path) -> None:
    import time

    # The default 5 s connect timeout: the probe must not wait it out (Kubernetes gives it 1 s).
    env = dry_run_env(tmp_path, CODEX_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/codex")
    running = start_function("dispatch-planning", env, tmp_path)
    try:
        for _ in range(4):
            started = time.monotonic()
            answer = requests.get(f"{running.url}/health/readiness", timeout=5)
            # Bounded at 0.8 s inside the function; the margin is for a loaded machine, the point being
            # that the probe never waits out the 5 s connect timeout.
            assert time.monotonic() - started < 2.5
            assert answer.status_code == 503
            assert answer.json()["reason"].startswith("database")
        time.sleep(3)  # psycopg_pool retries the connection several times meanwhile
        answer = requests.get(f"{running.url}/health/readiness", timeout=5)
        assert "PostgreSQL" in answer.json()["reason"] or "no answer within" in answer.json()["reason"]
        # Once per process and outage (gunicorn's arbiter and its worker each hold a pool), not once
        # per attempt (psycopg_pool retries about twice a second).
        assert 1 <= running.output().count("error connecting") <= 2, running.output()[-3000:]
    finally:
        stop_function(running)


# --- PostgreSQL + Kubernetes API ----------------------------------------------------------


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        server.kubeconfig(tmp_path / "kubeconfig")
        yield server


def kube_env(tmp: Path, postgres_url: str) -> dict[str, str]:
    return {
        "CODEX_DATABASE_URL": postgres_url,
        "CODEX_ARGO_SUBMITTER": "kubernetes",
        "CODEX_KUBECONFIG": str(tmp / "kubeconfig"),
        "CODEX_WORKFLOW_NAMESPACE": NAMESPACE,
        "CODEX_LOG_LEVEL": "INFO",
    }


def test_fifty_concurrent_deliveries_to_two_replicas_create_one_workflow(
    tmp_path: Path, kube: FakeKubernetes, postgres_url: str
) -> None:
    replicas = [start_function("dispatch-planning", kube_env(tmp_path, postgres_url), tmp_path) for _ in range(2)]
    try:
        task = replay_task(issueNumber=fresh_issue())
        answers: list[requests.Response] = []
        barrier = threading.Barrier(50)

        def deliver(i: int) -> None:
            barrier.wait()
            answers.append(
                requests.post(replicas[i % 2].url, data=tasks.to_protobuf(task), headers=binary_event(task), timeout=30)
            )

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) == [202] * 50, [a.text for a in answers if a.status_code != 202]
        bodies = [json.loads(a.content) for a in answers]
        assert len(kube.workflows) == 1
        assert sorted(b["duplicate"] for b in bodies) == [False] + [True] * 49
        assert len({(b["name"], b["submittedAt"]) for b in bodies}) == 1
        (workflow,) = kube.workflows.values()
        assert schemas.validate(workflow) == []
    finally:
        for running in replicas:
            stop_function(running)


def test_kubernetes_unreachable_is_503_and_records_no_run(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    (tmp_path / "kubeconfig").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    running = start_function("dispatch-planning", kube_env(tmp_path, postgres_url), tmp_path)
    task = replay_task(issueNumber=fresh_issue())
    try:
        answer = requests.post(running.url, data=tasks.to_protobuf(task), headers=binary_event(task), timeout=30)
        assert answer.status_code == 503, answer.text
        assert "Kubernetes API unreachable" in answer.json()["message"]
    finally:
        stop_function(running)
    store = open_store(postgres_url)
    assert store.find_run("planning", task.delivery_id) is None
    store.close()


def test_forbidden_by_rbac_is_a_permanent_4xx(tmp_path: Path, kube: FakeKubernetes, postgres_url: str) -> None:
    kube.refuse(403)
    running = start_function("dispatch-planning", kube_env(tmp_path, postgres_url), tmp_path)
    try:
        task = replay_task()
        answer = requests.post(running.url, data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=30)
        assert answer.status_code == 422 and "forbidden" in answer.json()["message"], answer.text
    finally:
        stop_function(running)


# --- in-process: spans, the ASGI entry, import cost ---------------------------------------


@pytest.fixture(scope="module")
def spans() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_spans_carry_the_spec_attributes_and_continue_the_trace(spans: Any, tmp_path: Path) -> None:
    app = create_app(load_settings(dry_run_env(tmp_path)))
    task = replay_task()
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{'a' * 16}-01"
    request = Request(
        "POST", "/", Headers(binary_event(task, **{"ce-traceparent": traceparent})), tasks.to_protobuf(task)
    )
    spans.clear()
    answer = app(request)
    assert answer.status == 202
    finished = {s.name: s for s in spans.get_finished_spans()}
    server, plan = finished["facteur.server.codex_tasks"], finished["facteur.orchestrator.plan"]
    assert plan.parent is not None and plan.parent.span_id == server.context.span_id
    assert f"{server.context.trace_id:032x}" == trace_id
    name = json.loads(answer.body)["name"]
    for span in (server, plan):
        assert span.attributes is not None
        assert span.attributes["codex.stage"] == "planning"
        assert span.attributes["facteur.codex.workflow"] == name
        assert span.attributes["facteur.codex.duplicate"] is False
        assert span.attributes["codex.repository"] == "proompteng/lab"
        assert span.attributes["codex.issue_number"] == 1636
        assert span.attributes["codex.delivery_id"] == task.delivery_id
    from opentelemetry.trace import SpanKind

    assert server.kind == SpanKind.SERVER
    spans.clear()
    assert app(request).status == 202
    again = {s.name: s for s in spans.get_finished_spans()}
    assert again["facteur.orchestrator.plan"].attributes["facteur.codex.duplicate"] is True


def test_asgi_entry_gives_the_same_replay_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in dry_run_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    function = AsgiFunction(lambda: create_app(load_settings()))
    function.start({})
    assert function.alive()[0] and function.ready()[0]
    task = replay_task()
    answer = call_asgi(
        function, {"content-type": "application/x-protobuf"}, tasks.to_protobuf(task), path="/codex/tasks"
    )
    assert answer.status == 202
    assert json.loads(answer.body)["name"] == workflow_name("codex-planning", "proompteng/lab", 1636, task.delivery_id)


def test_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, codex_pipeline.handlers.dispatch_planning; "
        "print(sorted(set(sys.modules) & "
        "{'kubernetes', 'psycopg', 'psycopg_pool', 'requests', 'yaml', 'cryptography'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_replay_gets_202_then_a_duplicate(dry_run: tuple[RunningFunction, Path]) -> None:
    """The README's curl replay, run verbatim (protobuf text -> protoc --encode -> curl)."""
    import re

    from tests.conftest import ROOT

    running, tmp = dry_run
    section = (ROOT / "docs" / "architecture.md").read_text().split("### Replay a planning task with curl", 1)[1]
    script = re.findall(r"```bash\n(.*?)```", section.split("\n## ", 1)[0], re.S)[1]
    answers = []
    for _ in range(2):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "PLANNER_URL": running.url},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    name = workflow_name("codex-planning", "proompteng/lab", 1636, "manual-planning-test")
    assert answers[0]["name"] == name and answers[1] == {**answers[0], "duplicate": True}
    assert answers[0]["namespace"] == NAMESPACE
    assert f'"name":"{name}"' in section  # the answer the README shows is the real one
    (workflow,) = [w for w in written(tmp) if w["metadata"]["name"] == name]
    payload = json.loads(base64.b64decode(workflow["spec"]["arguments"]["parameters"][0]["value"]))
    assert payload["deliveryId"] == "manual-planning-test" and payload["issueTitle"] == "Replay planning workflow"


def test_an_issue_that_already_has_the_planners_plan_is_not_planned_again(tmp_path: Path) -> None:
    from codex_pipeline.core.names import PLAN_MARKER
    from tests.fakes.github import FakeGitHub

    with FakeGitHub(tokens=("planner-token",)) as github:
        github.add_repo("proompteng/lab")
        github.add_comment("proompteng/lab", 1636, f"{PLAN_MARKER}\nplan by someone else", login="mallory")
        env = dry_run_env(
            tmp_path,
            CODEX_PLANNER_LOGIN="codex-planner",
            CODEX_GITHUB_API_URL=github.url,
            CODEX_GITHUB_TOKEN="planner-token",
            CODEX_GITHUB_MAX_WAIT_SECONDS="0",
        )
        running = start_function("dispatch-planning", env, tmp_path)
        try:
            # A marker from anyone but the planner is no plan: planning runs.
            first = replay_task()
            answer = requests.post(running.url, data=tasks.to_protobuf(first), headers=PROTOBUF, timeout=10)
            assert answer.status_code == 202 and len(written(tmp_path)) == 1
            plan = github.add_comment("proompteng/lab", 1636, f"{PLAN_MARKER}\n## Objective\nx", login="codex-planner")
            # A redelivery of the submitted task is still answered from the store.
            again = requests.post(running.url, data=tasks.to_protobuf(first), headers=PROTOBUF, timeout=10)
            assert again.status_code == 202 and again.json()["duplicate"] is True
            # A new delivery for the planned issue is skipped, with the reason, and nothing is submitted.
            answer = requests.post(running.url, data=tasks.to_protobuf(replay_task()), headers=PROTOBUF, timeout=10)
            assert answer.status_code == 200 and answer.json()["skipped"] is True
            assert plan["html_url"] in answer.json()["reason"]
            # A planning CloudEvent (from route-task) for another issue that has the planner's plan: skipped.
            github.add_comment("proompteng/lab", 1637, f"{PLAN_MARKER}\n## Objective\ny", login="codex-planner")
            event_task = replay_task(issueNumber=1637)
            answer = requests.post(
                running.url, data=tasks.to_protobuf(event_task), headers=binary_event(event_task), timeout=10
            )
            assert (answer.status_code, answer.content) == (200, b"")
            # The skip left no claim on the issue: a replan still plans it.
            replan = replay_task(issueNumber=1637, replan=True)
            answer = requests.post(
                running.url, data=tasks.to_protobuf(replan), headers=binary_event(replan), timeout=10
            )
            assert answer.status_code == 202 and json.loads(answer.content)["duplicate"] is False
            assert len(written(tmp_path)) == 2
            assert "planning skipped" in running.output() and "already has a plan comment" in running.output()
        finally:
            stop_function(running)


# --- planning once per issue (issue 17) ------------------------------------------------------


def test_opened_and_labeled_of_one_issue_plan_once(dry_run: tuple[RunningFunction, Path]) -> None:
    running, tmp = dry_run
    issue = fresh_issue()
    opened, labeled = replay_task(issueNumber=issue), replay_task(issueNumber=issue)
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def deliver(task: tasks.CodexTask) -> None:
        barrier.wait()
        answers.append(requests.post(running.url, data=tasks.to_protobuf(task), headers=binary_event(task), timeout=30))

    threads = [threading.Thread(target=deliver, args=(t,)) for t in (opened, labeled)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202, 202]
    bodies = sorted((json.loads(a.content) for a in answers), key=lambda b: b["duplicate"])
    assert [b["duplicate"] for b in bodies] == [False, True]
    assert bodies[1]["name"] == bodies[0]["name"]
    assert f"issue #{issue} is planned once" in bodies[1]["reason"] and "replan" in bodies[1]["reason"]
    mine = [w for w in written(tmp) if w["metadata"]["labels"]["codex.issue"] == str(issue)]
    assert len(mine) == 1
    # Each delivery's redelivery keeps its own answer.
    for task in (opened, labeled):
        again = requests.post(running.url, data=tasks.to_protobuf(task), headers=binary_event(task), timeout=30)
        assert again.status_code == 202 and json.loads(again.content)["name"] == bodies[0]["name"]
    assert "planning duplicate" in running.output()


def test_a_replan_plans_the_issue_again(dry_run: tuple[RunningFunction, Path]) -> None:
    running, tmp = dry_run
    issue = fresh_issue()
    first = replay_task(issueNumber=issue)
    assert (
        requests.post(running.url, data=tasks.to_protobuf(first), headers=binary_event(first), timeout=30).status_code
        == 202
    )
    replan = replay_task(issueNumber=issue, replan=True)
    answer = requests.post(running.url, data=tasks.to_protobuf(replan), headers=binary_event(replan), timeout=30)
    assert answer.status_code == 202 and json.loads(answer.content)["duplicate"] is False
    assert len([w for w in written(tmp) if w["metadata"]["labels"]["codex.issue"] == str(issue)]) == 2
    # After the replan, a new label is a duplicate of the replan's run.
    later = replay_task(issueNumber=issue)
    answer = requests.post(running.url, data=tasks.to_protobuf(later), headers=binary_event(later), timeout=30)
    assert json.loads(answer.content)["name"] == workflow_name(
        "codex-planning", "proompteng/lab", issue, replan.delivery_id
    )


def test_a_spec_replay_is_an_operator_asking_and_always_plans(dry_run: tuple[RunningFunction, Path]) -> None:
    running, _ = dry_run
    issue = fresh_issue()
    for _ in range(2):
        task = replay_task(issueNumber=issue)
        answer = requests.post(running.url, data=tasks.to_protobuf(task), headers=PROTOBUF, timeout=30)
        assert answer.status_code == 202 and answer.json()["duplicate"] is False
