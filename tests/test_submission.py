"""Exactly-once submission: real store (both backends), real HTTP to a fake Kubernetes API."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_pipeline.effects.argo import (
    KubernetesSubmitter,
    WorkflowSubmitter,
    build_workflow,
    workflow_labels,
    workflow_name,
)
from codex_pipeline.effects.store import Store, open_store
from codex_pipeline.errors import Unavailable
from codex_pipeline.handlers.submitting import Submission, SubmissionResult, submission_response, submit_once
from codex_pipeline.wire import tasks
from tests.broker_reply import assert_broker_acceptable
from tests.fakes.kubernetes import FakeKubernetes

NAMESPACE = "argo-workflows"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = open_store(url, max_connections=20)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        server.kubeconfig(tmp_path / "kubeconfig")
        yield server


def planning_task(delivery: str | None = None) -> tasks.CodexTask:
    return tasks.from_json_dict(
        {
            "stage": "planning",
            "prompt": "Capture planner replay instructions",
            "repository": "proompteng/lab",
            "base": "main",
            "head": "codex/replay",
            "issueNumber": 1636,
            "issueUrl": "https://github.com/proompteng/lab/issues/1636",
            "issueTitle": "Replay planning workflow",
            "deliveryId": delivery or str(uuid.uuid4()),
        }
    )


PLANNING = Submission("dispatch-planning", "planning", "facteur-dispatch", "codex-planning", NAMESPACE)


def submit(store: Store, submitter: WorkflowSubmitter, task: tasks.CodexTask) -> SubmissionResult:
    """One delivery as submit_delivery handles it: the store's run looked up once, then submit_once."""
    return submit_once(
        store,
        submitter,
        PLANNING,
        task,
        known=store.find_run("planning", task.delivery_id),
        parameters={"payload": tasks.to_json(task).decode()},
    )


def test_first_delivery_submits_and_the_replay_is_a_duplicate(
    store: Store, kube: FakeKubernetes, tmp_path: Path
) -> None:
    submitter = KubernetesSubmitter(str(tmp_path / "kubeconfig"))
    task = planning_task()
    first = submit(store, submitter, task)
    assert first.duplicate is False
    assert first.name == workflow_name("codex-planning", "proompteng/lab", 1636, task.delivery_id)
    again = submit(store, submitter, task)
    assert again == SubmissionResult(first.namespace, first.name, first.submitted_at, duplicate=True)
    assert len(kube.creates()) == 1  # the replay never reached the API
    body = json.loads(kube.creates()[0].body)
    assert json.loads(body["spec"]["arguments"]["parameters"][0]["value"]) == tasks.to_json_dict(task)
    assert body["metadata"]["labels"]["codex.delivery"] == tasks.to_json_dict(task)["deliveryId"]


def test_fifty_concurrent_identical_deliveries_submit_one_workflow(
    store: Store, kube: FakeKubernetes, tmp_path: Path
) -> None:
    submitter = KubernetesSubmitter(str(tmp_path / "kubeconfig"))
    task = planning_task()
    results: list[SubmissionResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(submit(store, submitter, task))
        except BaseException as exc:  # collected: a thread's exception must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(kube.workflows) == 1
    assert sum(1 for r in kube.creates() if r.method == "POST") >= 1
    assert sorted(r.duplicate for r in results) == [False] + [True] * 49
    assert len({(r.namespace, r.name, r.submitted_at) for r in results}) == 1
    assert store.find_run("planning", task.delivery_id) is not None


def test_a_crash_between_create_and_record_submits_no_second_workflow(
    store: Store, kube: FakeKubernetes, tmp_path: Path
) -> None:
    submitter = KubernetesSubmitter(str(tmp_path / "kubeconfig"))
    task = planning_task()
    # The first attempt created the Workflow and died before recording it.
    name = workflow_name("codex-planning", task.repository, task.issue_number, task.delivery_id)
    submitter.submit(
        build_workflow(
            "facteur-dispatch",
            name,
            NAMESPACE,
            {"payload": "{}"},
            workflow_labels("planning", task.repository, task.issue_number, task.delivery_id),
        )
    )
    assert store.find_run("planning", task.delivery_id) is None
    retried = submit(store, submitter, task)
    assert retried.duplicate is True and retried.name == name
    assert len(kube.workflows) == 1
    recorded = store.find_run("planning", task.delivery_id)
    assert recorded is not None and recorded.name == name and recorded.submitted_at == retried.submitted_at


def test_an_unreachable_api_records_no_run(store: Store, kube: FakeKubernetes, tmp_path: Path) -> None:
    submitter = KubernetesSubmitter(str(tmp_path / "kubeconfig"))
    task = planning_task()
    kube.refuse(503)
    with pytest.raises(Unavailable):
        submit(store, submitter, task)
    assert store.find_run("planning", task.delivery_id) is None
    # The retry (the broker's redelivery) goes through.
    assert submit(store, submitter, task).duplicate is False


def test_reply_is_a_cloudevent_for_cloudevents_and_json_for_the_raw_replay() -> None:
    from datetime import UTC, datetime

    task = planning_task("delivery-1")
    result = SubmissionResult(
        NAMESPACE, "codex-planning-proompteng-lab-1636-abc", datetime(2026, 11, 25, tzinfo=UTC), False
    )
    expected = {
        "namespace": NAMESPACE,
        "name": result.name,
        "submittedAt": "2026-11-25T00:00:00.000000Z",
        "duplicate": False,
    }
    plain = submission_response(result, cloudevent=False, source="dispatch-planning", task=task)
    assert (plain.status, plain.json(), plain.headers["content-type"]) == (202, expected, "application/json")
    reply = submission_response(result, cloudevent=True, source="dispatch-planning", task=task)
    assert_broker_acceptable(reply.status, reply.headers, reply.body)
    assert reply.status == 202 and json.loads(reply.body) == expected
    assert reply.headers["ce-type"] == "codex.workflow.submitted"
    assert reply.headers["ce-id"] == result.name
    assert reply.headers["ce-subject"] == "proompteng/lab#1636"
    assert reply.headers["ce-partitionkey"] == "proompteng/lab#1636"


def test_the_workflow_carries_the_trace_it_was_submitted_in(tmp_path: Path) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from codex_pipeline.effects.argo import ANNOTATION_TRACEPARENT, DryRunSubmitter

    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    submitter = DryRunSubmitter(tmp_path / "workflows")
    context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        traced = submit(store, submitter, planning_task())
    untraced = submit(store, submitter, planning_task())
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "workflows" / NAMESPACE).glob("*.json")}
    assert (
        written[traced.name]["metadata"]["annotations"][ANNOTATION_TRACEPARENT]
        == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    assert ANNOTATION_TRACEPARENT not in written[untraced.name]["metadata"]["annotations"]
    store.close()
