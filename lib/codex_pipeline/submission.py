"""At-least-once deliveries in, exactly-once Workflow submission out.

:func:`submit_once` is what every effect function does with a task it decided to run:

1. record the intake (unique per stage + delivery; a redelivery keeps the first copy);
2. when a run is already recorded for (stage, delivery), answer it as ``duplicate=True``
   without touching the Kubernetes API; when the first copy kept names another repository or
   issue than this one (copies of one delivery id whose bodies disagree), answer 409 with the
   reason and submit nothing: the Workflow name derives from the issue, so submitting would make
   a second Workflow for one delivery. The broker's retry then finds the first copy's run and
   answers it as a duplicate;
3. otherwise create the Workflow under its deterministic name. Two concurrent deliveries, or
   a retry after a process died between the create and the record, meet 409 AlreadyExists:
   one Workflow exists, the others answer ``duplicate=True``;
4. record the run, then answer. A fault in any step raises before the answer, so the broker
   retries and nothing is acknowledged that was not recorded.

:func:`take_over` keeps one active run per issue and stage: a newer implementation or review
run stops (``spec.shutdown: Stop``) the run it supersedes, which the store recorded as active,
and records that run's outcome as cancelled, "superseded by <newer run>" (also the stop reason
its exit handler writes into the progress comment).

:func:`submission_response` is the answer: a ``codex.workflow.submitted`` reply CloudEvent for
a CloudEvent request (see ARCHITECTURE "Answering a CloudEvent delivery"), plain JSON 202
for a request without CloudEvent headers (the spec's raw-protobuf replay).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from codex_pipeline import metrics, tasks, telemetry
from codex_pipeline.argo import (
    ANNOTATION_DELIVERY,
    ANNOTATION_TRACEPARENT,
    PARAMETER_TRACEPARENT,
    WorkflowSubmitter,
    build_workflow,
    issue_mutex,
    rfc3339,
    workflow_labels,
    workflow_name,
)
from codex_pipeline.errors import Conflict
from codex_pipeline.events import WORKFLOW_SUBMITTED_TYPE, Event, event_response
from codex_pipeline.http import Response, json_response
from codex_pipeline.store import CANCELLED, RunOutcome, Store, TaskIntake, WorkflowRun

# Stages whose runs push to the issue's branch: one active run each, a newer one supersedes, and
# the Workflows of one issue share a mutex.
BRANCH_STAGES = frozenset({"implementation", "review"})


@dataclass(frozen=True)
class SubmissionResult:
    namespace: str
    name: str
    submitted_at: datetime
    duplicate: bool
    reason: str | None = None  # why a duplicate is one, when it is not a redelivery of the same task

    def body(self) -> dict[str, Any]:
        """The spec's answer: ``{namespace, name, submittedAt (RFC 3339), duplicate}`` (+ ``reason``)."""
        body: dict[str, Any] = {"namespace": self.namespace, "name": self.name,
                                "submittedAt": rfc3339(self.submitted_at), "duplicate": self.duplicate}
        if self.reason:
            body["reason"] = self.reason
        return body


def take_over(store: Store, submitter: WorkflowSubmitter, run: WorkflowRun, *, created: bool) -> WorkflowRun | None:
    """Make ``run`` the active run of its issue and stage; stop and return the run it supersedes.

    A run this delivery just ``created`` is the newest there is. A redelivery's run takes the
    place unless a run submitted after it holds it (then this one was superseded already). The
    older run is stopped before ``run`` is recorded as active, so a failed stop (503) leaves it
    recorded and the redelivery stops it. Kubernetes creation times have whole seconds: a late
    redelivery of a run from the same second as the newer one could take the place back; the
    Workflow mutex still keeps the two off the branch at once."""
    active = store.active_run(run.repository, run.issue_number, run.stage)
    if active is not None and (active.namespace, active.name) == (run.namespace, run.name):
        return None
    if active is not None and not created and active.submitted_at > run.submitted_at:
        return None
    if active is not None:
        reason = superseded_reason(run)
        submitter.stop(active.namespace, active.name, reason)
        store.record_outcome(RunOutcome(active.namespace, active.name, CANCELLED, reason))
    store.set_active_run(run)
    return active


def superseded_reason(newer: WorkflowRun) -> str:
    """What a superseded run's progress comment and outcome say."""
    return f"superseded by {newer.name}"


def submit_once(store: Store, submitter: WorkflowSubmitter, *, stage: str, task: tasks.CodexTask,
                template: str, name_prefix: str, namespace: str,
                parameters: dict[str, str]) -> SubmissionResult:
    """Submit ``template`` for ``task`` at most once per (stage, delivery id); see module doc.

    The task must carry repository, issue number and delivery id (callers check with
    ``tasks.require`` and answer 400 first)."""
    delivery = task.delivery_id
    store.record_intake(TaskIntake(stage, delivery, task.repository, int(task.issue_number),
                                   tasks.to_protobuf(task), tasks.to_json(task).decode()))
    known = store.find_run(stage, delivery)
    if known is not None:
        return SubmissionResult(known.namespace, known.name, known.submitted_at, duplicate=True)
    first = store.find_intake(stage, delivery)
    if first is not None and (first.repository, first.issue_number) != (task.repository, int(task.issue_number)):
        raise Conflict(f"delivery {delivery} ({stage}) was first received for {first.repository}#"
                       f"{first.issue_number}; this copy names {task.repository}#{task.issue_number} and is not "
                       "submitted (one submission per delivery and stage)")

    name = workflow_name(name_prefix, task.repository, int(task.issue_number), delivery)
    annotations = {ANNOTATION_DELIVERY: delivery}
    traceparent = telemetry.current_traceparent()
    if traceparent:
        # The trace this delivery is part of, findable from the Workflow object and passed to the
        # step as the ``traceparent`` parameter (TRACEPARENT in its env; every template declares it,
        # empty by default). Not {{workflow.annotations.codex.traceparent}}: Argo refuses a Workflow
        # whose template names an annotation the Workflow lacks ("failed to resolve"), which one
        # submitted by hand or without a trace does.
        annotations[ANNOTATION_TRACEPARENT] = traceparent
        parameters = {**parameters, PARAMETER_TRACEPARENT: traceparent}
    workflow = build_workflow(template, name, namespace, parameters,
                              workflow_labels(stage, task.repository, int(task.issue_number), delivery),
                              annotations=annotations,
                              mutex=issue_mutex(task.repository, int(task.issue_number))
                              if stage in BRANCH_STAGES else None)
    started = time.monotonic()
    try:
        submitted = submitter.submit(workflow)
    except Exception:
        metrics.submitted(time.monotonic() - started, stage=stage, outcome="failed")
        raise
    metrics.submitted(time.monotonic() - started, stage=stage, outcome="created" if submitted.created else "duplicate")
    run = store.record_run(WorkflowRun(submitted.namespace, submitted.name, template, stage, task.repository,
                                       int(task.issue_number), delivery, submitted.submitted_at))
    return SubmissionResult(run.namespace, run.name, run.submitted_at, duplicate=not submitted.created)


def reply_event(result: SubmissionResult, *, source: str, task: tasks.CodexTask,
                traceparent: str | None = None) -> Event:
    """``codex.workflow.submitted``: id the workflow name, subject ``owner/repo#number``."""
    subject = tasks.partition_key(task.repository, int(task.issue_number))
    return Event(
        id=result.name, source=source, type=WORKFLOW_SUBMITTED_TYPE, subject=subject,
        datacontenttype="application/json",
        data=json.dumps(result.body(), separators=(",", ":"), sort_keys=True).encode(),
        extensions={key: value for key, value in (("partitionkey", subject), ("traceparent", traceparent))
                    if value},
    )


def submission_response(result: SubmissionResult, *, cloudevent: bool, source: str, task: tasks.CodexTask,
                        traceparent: str | None = None) -> Response:
    """202 with a reply CloudEvent (CloudEvent request) or the plain JSON body (raw replay)."""
    if cloudevent:
        response = event_response(reply_event(result, source=source, task=task, traceparent=traceparent), 202)
    else:
        response = json_response(202, result.body())
    return response.noted("duplicate") if result.duplicate else response
