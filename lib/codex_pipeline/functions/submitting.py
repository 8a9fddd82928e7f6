"""The submitting path promote-plan and request-review share: one task delivery -> one Workflow.

Both answer a redelivery from the store without asking GitHub again, enrich the task from
GitHub only for a first delivery, submit exactly once, and trace and log it with the spec's
names. What differs (how the task is enriched, or that it is answered without submitting) is
the ``enrich`` callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codex_pipeline import logs, tasks, telemetry
from codex_pipeline.functions.taskinput import TaskDelivery, workflow_parameters
from codex_pipeline.http import Response

if TYPE_CHECKING:
    from codex_pipeline.argo import WorkflowSubmitter
    from codex_pipeline.store import Store


def task_attributes(stage: str, task: tasks.CodexTask) -> dict[str, Any]:
    """The spec's span attributes of one task."""
    return {telemetry.ATTR_STAGE: stage, telemetry.ATTR_REPOSITORY: task.repository,
            telemetry.ATTR_ISSUE: int(task.issue_number), telemetry.ATTR_DELIVERY: task.delivery_id}


def submit_delivery(store: Store, submitter: WorkflowSubmitter, delivery: TaskDelivery, *, function: str,
                    stage: str, template: str, name_prefix: str, namespace: str, branch_prefix: str,
                    log: logging.Logger, enrich: Callable[[dict[str, Any]], Response | None],
                    before_submit: Callable[[str], None] | None = None,
                    argo_ui_url: str | None = None) -> Response:
    """Submit ``template`` for the delivery's task once; ``enrich(log_fields)`` completes the task
    (or returns the answer to give instead of submitting) and may add fields to the log line.
    ``before_submit(workflow)`` runs before the Workflow is created (so nothing the run does can
    come before it) and again for each redelivery: it must be idempotent (the run's queued check).
    The run then becomes the issue's active run of its stage, stopping the one it supersedes
    (redeliveries too, so a stop that failed with a 503 is done by the retry)."""
    from codex_pipeline.store import WorkflowRun
    from codex_pipeline.submission import BRANCH_STAGES, SubmissionResult, submission_response, submit_once, take_over

    task = delivery.task
    fields: dict[str, Any] = {"stage": stage, "repository": task.repository, "issue": task.issue_number,
                              "delivery": task.delivery_id}
    with telemetry.span(telemetry.SPAN_SERVER_TASKS, traceparent=delivery.traceparent,
                        attributes=task_attributes(stage, task)) as span:
        known = store.find_run(stage, task.delivery_id)
        if known is not None:  # a redelivery: answer it without asking GitHub again
            result = SubmissionResult(known.namespace, known.name, known.submitted_at, duplicate=True)
            if before_submit is not None:
                before_submit(known.name)
        else:
            instead = enrich(fields)
            if instead is not None:
                return instead
            if before_submit is not None:
                from codex_pipeline.argo import workflow_name

                before_submit(workflow_name(name_prefix, task.repository, int(task.issue_number), task.delivery_id))
            with telemetry.span(telemetry.SPAN_ORCHESTRATOR_PLAN, attributes={telemetry.ATTR_STAGE: stage}):
                result = submit_once(store, submitter, stage=stage, task=task, template=template,
                                     name_prefix=name_prefix, namespace=namespace,
                                     parameters=workflow_parameters(delivery, task, branch_prefix=branch_prefix,
                                                                     argo_ui_url=argo_ui_url))
        if stage in BRANCH_STAGES:
            run = known or WorkflowRun(result.namespace, result.name, template, stage, task.repository,
                                       int(task.issue_number), task.delivery_id, result.submitted_at)
            superseded = take_over(store, submitter, run, created=known is None and not result.duplicate)
            if superseded is not None:
                fields["superseded"] = superseded.name
                logs.decision(log, "workflow superseded", stage=stage.upper(), workflow=superseded.name,
                              namespace=superseded.namespace, by=result.name, repository=task.repository,
                              issue=task.issue_number, delivery=task.delivery_id)
        span.set_attribute(telemetry.ATTR_WORKFLOW, result.name)
        span.set_attribute(telemetry.ATTR_DUPLICATE, result.duplicate)
    logs.decision(log, f"workflow submitted: stage={stage.upper()}", workflow=result.name,
                  namespace=result.namespace, duplicate=result.duplicate, **fields)
    return submission_response(result, cloudevent=delivery.cloudevent, source=function, task=task,
                               traceparent=delivery.traceparent)
