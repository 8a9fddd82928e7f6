"""One task delivery in, at most one Workflow out: the submitting path of the three effect functions.

dispatch-planning, promote-plan and request-review each decide what their task needs (a plan
fetched, a review context built, an issue claimed) and then call :func:`submit_delivery`, the one
path from a delivery to a recorded Workflow:

1. read the delivery (:func:`read_task`): a CloudEvent (binary or structured; protobuf or JSON
   data; or a KafkaSource record wrapping either) or, for the spec's replays, a bare body without
   CloudEvent headers (``Content-Type: application/x-protobuf`` or JSON);
2. look the delivery up in the store, once (``find_run``). A redelivery is answered from there as
   ``duplicate=True`` without asking GitHub or Kubernetes again;
3. a first delivery is completed by the function's ``enrich`` (which may answer instead of
   submitting), then :func:`submit_once` records the intake (unique per stage + delivery; a copy
   whose first copy named another repository or issue answers 409 and submits nothing: the
   Workflow name derives from the issue), creates the Workflow under its deterministic name (two
   concurrent copies, or a retry after a crash between create and record, meet 409 AlreadyExists:
   one Workflow exists, the others answer ``duplicate=True``) and records the run. A fault in any
   step raises before the answer, so the broker retries and nothing unrecorded is acknowledged;
4. the run becomes the issue's active run of its stage. An implementation or review run stops
   (``spec.shutdown: Stop``) the run it supersedes (:func:`take_over`); a planning run is recorded
   as the issue's planning run. A superseded run's outcome is recorded as cancelled, "superseded by
   <newer run>" (also the stop reason its exit handler writes into the progress comment);
5. the answer (:func:`submission_response`): a ``codex.workflow.submitted`` reply CloudEvent for a
   CloudEvent request (see ARCHITECTURE "Answering a CloudEvent delivery"), plain JSON 202 for a
   request without CloudEvent headers.

Workflow parameters of implementation and review are the spec's (:func:`workflow_parameters`):
``rawEvent`` and ``eventBody``, both base64 of JSON, so Argo treats them as opaque text and no
shell ever interprets a byte of issue text.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from codex_pipeline.effects.argo import (
    ANNOTATION_DELIVERY,
    ANNOTATION_TRACEPARENT,
    PARAMETER_TRACEPARENT,
    build_workflow,
    issue_mutex,
    rfc3339,
    workflow_labels,
    workflow_name,
)
from codex_pipeline.effects.store import CANCELLED, RunOutcome, TaskIntake, WorkflowRun
from codex_pipeline.errors import BadRequest, Conflict
from codex_pipeline.shell import logs, metrics, telemetry
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import (
    KAFKA_RECORD_TYPE,
    WORKFLOW_SUBMITTED_TYPE,
    Event,
    decode_request,
    event_response,
    is_cloudevent,
)
from codex_pipeline.wire.http import Request, Response, json_response

if TYPE_CHECKING:
    from codex_pipeline.effects.argo import WorkflowSubmitter
    from codex_pipeline.effects.store import Store
    from codex_pipeline.shell.config import Settings

# Stages whose runs push to the issue's branch: one active run each, a newer one supersedes, and
# the Workflows of one issue share a mutex.
BRANCH_STAGES = frozenset({"implementation", "review"})


# ---------------------------------------------------------------- the delivery


@dataclass(frozen=True)
class TaskDelivery:
    task: tasks.CodexTask
    event: Event | None  # None for a bare replay body

    @property
    def cloudevent(self) -> bool:
        return self.event is not None

    @property
    def type(self) -> str | None:
        return self.event.type if self.event else None

    @property
    def traceparent(self) -> str | None:
        return self.event.traceparent if self.event else None


def read_task(request: Request, *, function: str, handles: frozenset[str], event: Event | None = None) -> TaskDelivery:
    """The task of a delivery; 400 for anything that can never decode, or a CloudEvent type the
    function does not handle (a KafkaSource record, typed ``dev.knative.kafka.event``, is read by content).
    ``event`` is the request's CloudEvent when the caller already decoded it."""
    if event is not None or is_cloudevent(request):
        event = event or decode_request(request)
        if event.type not in handles and event.type != KAFKA_RECORD_TYPE:
            raise BadRequest(f"{function} handles {', '.join(sorted(handles))}, not {event.type!r}")
        task = tasks.decode(event.data, event.datacontenttype)
        if not task.delivery_id:
            # A task without its own delivery id is keyed by the event id (stable across redeliveries).
            task.delivery_id = event.id
        return TaskDelivery(task, event)
    return TaskDelivery(tasks.decode(request.body, request.content_type or None), None)


def b64json(value: Any) -> str:
    return base64.b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()).decode()


def raw_event_json(delivery: TaskDelivery) -> dict[str, Any]:
    """``rawEvent``: the delivery as received, attributes and data (the task as JSON)."""
    data = tasks.to_json_dict(delivery.task)
    if delivery.event is None:
        return {"data": data}
    event = delivery.event
    envelope: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    for name in ("subject", "time", "dataschema"):
        value = getattr(event, name)
        if value:
            envelope[name] = value
    envelope.update({key: value for key, value in event.extensions.items() if key != "traceparent"})
    envelope["data"] = data
    return envelope


def workflow_parameters(
    delivery: TaskDelivery, *, branch_prefix: str, argo_ui_url: str | None = None
) -> dict[str, str]:
    """The spec's two parameters, ``rawEvent`` and ``eventBody`` (the task JSON), base64; and
    ``branchPrefix``, so the step names and accepts branches with the prefix the router used
    (``CODEX_BRANCH_PREFIX`` is the functions' setting; the step pod has no other way to see it);
    ``argoUiUrl`` when ``CODEX_ARGO_UI_URL`` is set (the details link of the run's check)."""
    parameters = {
        "rawEvent": b64json(raw_event_json(delivery)),
        "eventBody": b64json(tasks.to_json_dict(delivery.task)),
        "branchPrefix": branch_prefix,
    }
    if argo_ui_url:
        parameters["argoUiUrl"] = argo_ui_url
    return parameters


def task_attributes(stage: str, task: tasks.CodexTask) -> dict[str, Any]:
    """The spec's span attributes of one task."""
    return {
        telemetry.ATTR_STAGE: stage,
        telemetry.ATTR_REPOSITORY: task.repository,
        telemetry.ATTR_ISSUE: int(task.issue_number),
        telemetry.ATTR_DELIVERY: task.delivery_id,
    }


# ---------------------------------------------------------------- the store and the submitter


@dataclass(frozen=True)
class SubmissionResult:
    namespace: str
    name: str
    submitted_at: datetime
    duplicate: bool
    reason: str | None = None  # why a duplicate is one, when it is not a redelivery of the same task

    def body(self) -> dict[str, Any]:
        """The spec's answer: ``{namespace, name, submittedAt (RFC 3339), duplicate}`` (+ ``reason``)."""
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "name": self.name,
            "submittedAt": rfc3339(self.submitted_at),
            "duplicate": self.duplicate,
        }
        if self.reason:
            body["reason"] = self.reason
        return body


@dataclass(frozen=True)
class Submission:
    """What a function submits: its Workflow template, how runs are named and where they go."""

    source: str  # the reply CloudEvent's source
    stage: str
    template: str
    name_prefix: str
    namespace: str


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


def submit_once(
    store: Store,
    submitter: WorkflowSubmitter,
    spec: Submission,
    task: tasks.CodexTask,
    *,
    known: WorkflowRun | None,
    parameters: dict[str, str],
) -> SubmissionResult:
    """Submit ``spec.template`` for ``task`` at most once per (stage, delivery id); see module doc.

    ``known`` is the run the store holds for this delivery (the caller's one ``find_run``): a
    redelivery's is answered as a duplicate and nothing is recorded or submitted. The task must
    carry repository, issue number and delivery id (callers check with ``tasks.require`` and
    answer 400 first)."""
    if known is not None:
        return SubmissionResult(known.namespace, known.name, known.submitted_at, duplicate=True)
    stage, delivery, issue = spec.stage, task.delivery_id, int(task.issue_number)
    store.record_intake(
        TaskIntake(stage, delivery, task.repository, issue, tasks.to_protobuf(task), tasks.to_json(task).decode())
    )
    first = store.find_intake(stage, delivery)
    if first is not None and (first.repository, first.issue_number) != (task.repository, issue):
        raise Conflict(
            f"delivery {delivery} ({stage}) was first received for {first.repository}#"
            f"{first.issue_number}; this copy names {task.repository}#{issue} and is not "
            "submitted (one submission per delivery and stage)"
        )

    name = workflow_name(spec.name_prefix, task.repository, issue, delivery)
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
    workflow = build_workflow(
        spec.template,
        name,
        spec.namespace,
        parameters,
        workflow_labels(stage, task.repository, issue, delivery),
        annotations=annotations,
        mutex=issue_mutex(task.repository, issue) if stage in BRANCH_STAGES else None,
    )
    started = time.monotonic()
    try:
        submitted = submitter.submit(workflow)
    except Exception:
        metrics.submitted(time.monotonic() - started, stage=stage, outcome="failed")
        raise
    metrics.submitted(time.monotonic() - started, stage=stage, outcome="created" if submitted.created else "duplicate")
    run = store.record_run(
        WorkflowRun(
            submitted.namespace,
            submitted.name,
            spec.template,
            stage,
            task.repository,
            issue,
            delivery,
            submitted.submitted_at,
        )
    )
    return SubmissionResult(run.namespace, run.name, run.submitted_at, duplicate=not submitted.created)


def parameters_from(settings: Settings) -> Callable[[TaskDelivery], dict[str, str]]:
    """:func:`workflow_parameters` with what the functions' settings add (branch prefix, Argo UI link),
    for :func:`submit_delivery` in the effect functions that submit implementation and review."""
    return lambda delivery: workflow_parameters(
        delivery, branch_prefix=settings.branch_prefix, argo_ui_url=settings.argo_ui_url
    )


# ---------------------------------------------------------------- the one path


def submit_delivery(
    store: Store,
    submitter: WorkflowSubmitter,
    delivery: TaskDelivery,
    spec: Submission,
    *,
    parameters: Callable[[TaskDelivery], dict[str, str]],
    log: logging.Logger,
    enrich: Callable[[dict[str, Any]], Response | None] | None = None,
    before_submit: Callable[[str], None] | None = None,
) -> Response:
    """Submit ``spec.template`` for the delivery's task once, and answer (see module doc).

    ``enrich(log_fields)`` runs for a first delivery only: it completes the task (or returns the
    answer to give instead of submitting) and may add fields to the log line. ``parameters`` are
    taken from the completed task. ``before_submit(workflow)`` runs before the Workflow is created
    (so nothing the run does can come before it) and again for each redelivery: it must be
    idempotent (the run's queued check on the PR)."""
    task = delivery.task
    stage = spec.stage
    fields: dict[str, Any] = {
        "stage": stage,
        "repository": task.repository,
        "issue": task.issue_number,
        "delivery": task.delivery_id,
    }
    with telemetry.span(
        telemetry.SPAN_SERVER_TASKS,
        traceparent=delivery.traceparent,
        kind="server",
        attributes=task_attributes(stage, task),
    ) as server_span:
        known = store.find_run(stage, task.delivery_id)  # the one look-up of this delivery
        if known is None and enrich is not None:
            instead = enrich(fields)
            if instead is not None:
                return instead
        if before_submit is not None:
            before_submit(
                known.name
                if known is not None
                else workflow_name(spec.name_prefix, task.repository, int(task.issue_number), task.delivery_id)
            )
        with telemetry.span(telemetry.SPAN_ORCHESTRATOR_PLAN, attributes=task_attributes(stage, task)) as plan_span:
            result = submit_once(
                store, submitter, spec, task, known=known, parameters=parameters(delivery) if known is None else {}
            )
            for span in (plan_span, server_span):
                span.set_attribute(telemetry.ATTR_WORKFLOW, result.name)
                span.set_attribute(telemetry.ATTR_DUPLICATE, result.duplicate)
        run = known or WorkflowRun(
            result.namespace,
            result.name,
            spec.template,
            stage,
            task.repository,
            int(task.issue_number),
            task.delivery_id,
            result.submitted_at,
        )
        if stage in BRANCH_STAGES:
            superseded = take_over(store, submitter, run, created=known is None and not result.duplicate)
            if superseded is not None:
                fields["superseded"] = superseded.name
                logs.decision(
                    log,
                    "workflow superseded",
                    stage=stage.upper(),
                    workflow=superseded.name,
                    namespace=superseded.namespace,
                    by=result.name,
                    repository=task.repository,
                    issue=task.issue_number,
                    delivery=task.delivery_id,
                )
        elif known is None:
            store.set_active_run(run)  # the issue's planning run: what `cancel` stops
        logs.decision(
            log,
            f"workflow submitted: stage={stage.upper()}",
            workflow=result.name,
            namespace=result.namespace,
            duplicate=result.duplicate,
            **fields,
        )
        return submission_response(
            result,
            cloudevent=delivery.cloudevent,
            source=spec.source,
            task=task,
            traceparent=telemetry.current_traceparent() or delivery.traceparent,
        )


# ---------------------------------------------------------------- the answer


def reply_event(
    result: SubmissionResult, *, source: str, task: tasks.CodexTask, traceparent: str | None = None
) -> Event:
    """``codex.workflow.submitted``: id the workflow name, subject ``owner/repo#number``."""
    subject = tasks.partition_key(task.repository, int(task.issue_number))
    return Event(
        id=result.name,
        source=source,
        type=WORKFLOW_SUBMITTED_TYPE,
        subject=subject,
        datacontenttype="application/json",
        data=json.dumps(result.body(), separators=(",", ":"), sort_keys=True).encode(),
        extensions={key: value for key, value in (("partitionkey", subject), ("traceparent", traceparent)) if value},
    )


def submission_response(
    result: SubmissionResult, *, cloudevent: bool, source: str, task: tasks.CodexTask, traceparent: str | None = None
) -> Response:
    """202 with a reply CloudEvent (CloudEvent request) or the plain JSON body (raw replay)."""
    if cloudevent:
        response = event_response(reply_event(result, source=source, task=task, traceparent=traceparent), 202)
    else:
        response = json_response(202, result.body())
    return response.noted("duplicate") if result.duplicate else response
