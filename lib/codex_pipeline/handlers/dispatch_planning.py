"""dispatch-planning: planning tasks in, the ``facteur-dispatch`` Workflow submitted once each.

It accepts ``codex.task.planning`` CloudEvents (binary, structured, or a KafkaSource record
whose value is the task) and the spec's "Facteur Planner Replay": raw protobuf bytes POSTed with
``Content-Type: application/x-protobuf`` and no CloudEvent headers (any path, e.g.
``/codex/tasks``).

Answers:
- ``CODEX_PLANNING_ENABLED`` off: the delivery is logged (stage, repository, issue, delivery)
  and answered 202 ``{"deferred": true}``; nothing is recorded or submitted.
- on, but the issue already has the planner's plan comment (``CODEX_PLANNER_LOGIN``; the
  comments are asked of GitHub for a first delivery only): nothing is submitted, the reason is
  logged, and the answer is an empty 200 (``{"skipped": true, "reason": …}`` for a raw replay).
  route-task already skips an issue whose body holds the plan marker; route-task is pure, so
  the comments are read here.
- on, and the issue was planned before by another delivery (``issues.opened`` and
  ``issues.labeled`` of one issue, or a second label): 202 with the first run's metadata,
  ``duplicate: true`` and the ``reason``; nothing is submitted. The first delivery of an issue
  claims it in the store (``active_runs``) before submitting, so two arriving together plan once.
  A task with ``replan`` set plans again, and so does the spec's raw replay (an operator asking).
- on: intake recorded, ``facteur-dispatch`` submitted with parameter ``payload`` = the task's
  JSON (the spec's ``argo submit … -p payload=…``), run recorded, 202
  ``{namespace, name, submittedAt, duplicate}``. The same delivery again answers the first
  run's metadata with ``duplicate: true`` and submits nothing (see :mod:`codex_pipeline.handlers.submitting`).
- A CloudEvent request gets those JSON bodies as the data of a reply CloudEvent
  (``codex.workflow.submitted`` / ``codex.workflow.deferred``); the raw replay gets plain JSON.
- 400 (JSON error) for undecodable bytes, a stage other than planning, or a task missing
  repository, issue number or delivery id; 503 when the database or the Kubernetes API is
  unreachable (nothing is then recorded as submitted, so the redelivery submits).

It also accepts ``codex.plan.request`` (Discord ``/plan``, from route-task): the GitHub issue is
opened once per interaction id, planning is submitted for it as above, and the requester gets a
follow-up message with the link (see :mod:`codex_pipeline.discord.plan`). A GitHub 5xx or rate
limit answers 503 (retried), a GitHub refusal 422 (dead-lettered, and the requester is told).
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from codex_pipeline.core.policy import Policy
from codex_pipeline.discord.plan_requests import PLAN_REQUEST_TYPE, PlanRequest
from codex_pipeline.effects.argo import WorkflowSubmitter, workflow_name
from codex_pipeline.effects.store import Store, WorkflowRun
from codex_pipeline.errors import BadRequest, PermanentFailure
from codex_pipeline.handlers.effects import LazyMigration, effect_app
from codex_pipeline.handlers.submitting import (
    Submission,
    SubmissionResult,
    TaskDelivery,
    read_task,
    submission_response,
    submit_delivery,
)
from codex_pipeline.shell import logs, telemetry
from codex_pipeline.shell.app import FunctionApp
from codex_pipeline.shell.config import Settings, read_by
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import (
    TASK_TYPES,
    WORKFLOW_SUBMITTED_TYPE,
    Event,
    decode_request,
    event_response,
    is_cloudevent,
)
from codex_pipeline.wire.http import Request, Response, empty_response, json_response
from codex_pipeline.wire.pb import codex_task_pb2 as pb

if TYPE_CHECKING:
    from codex_pipeline.effects.github import GitHubClient

NAME = "dispatch-planning"
STAGE = "planning"
HANDLES = frozenset({TASK_TYPES[STAGE], PLAN_REQUEST_TYPE})
DEFERRED_TYPE = "codex.workflow.deferred"
# Replies to the broker (an audit trail no Trigger subscribes to), not emitted to a sink.
REPLIES = frozenset({WORKFLOW_SUBMITTED_TYPE, DEFERRED_TYPE})
TEMPLATE = "facteur-dispatch"
NAME_PREFIX = "codex-planning"
PARAMETERS = ("payload",)


def planning_parameters(task: tasks.CodexTask) -> dict[str, str]:
    """``payload``: base64 of the task JSON. The task carries issue text, and Argo substitutes a
    parameter's value and then the result again, so a plain ``{{workflow.name}}`` or ``{{= ...}}``
    typed in an issue would be expanded or evaluated; base64 text carries no ``{{``."""
    return {"payload": base64.b64encode(tasks.to_json(task)).decode("ascii")}


SOURCE = "codex-pipeline/dispatch-planning"
SETTINGS_READ = read_by(NAME)  # the settings table's readers column
_log = logging.getLogger("codex_pipeline.dispatch_planning")


class DispatchPlanning:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        submitter: WorkflowSubmitter,
        migration: LazyMigration | None = None,
        github: GitHubClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.submitter = submitter
        self._github = github
        # The deferral answer (planning disabled) needs no database, so the handler runs the
        # migration itself on the submitting path instead of behind LazyMigration.guard.
        self.migration = migration or LazyMigration(store, enabled=settings.migrate_on_start)

    @property
    def github(self) -> GitHubClient:
        """Built on the first Discord request: planning tasks never need it."""
        if self._github is None:
            from codex_pipeline.effects.github import client_from_settings

            self._github = client_from_settings(self.settings)
        return self._github

    def __call__(self, request: Request) -> Response:
        # decode: a CloudEvent, or the spec's raw replay (protobuf bytes, no CloudEvent headers)
        event = decode_request(request) if is_cloudevent(request) else None
        if event is not None and event.type == PLAN_REQUEST_TYPE:
            return self._plan_request(event)
        delivery = read_task(request, function=NAME, handles=HANDLES, event=event)
        task = delivery.task
        tasks.require(task, "repository", "issue_number", "delivery_id")
        if task.stage != pb.CODEX_TASK_STAGE_PLANNING:
            raise BadRequest(f"dispatch-planning handles planning tasks, not stage {tasks.stage_name(task.stage)!r}")
        # decide
        if not self.settings.planning_enabled:
            logs.decision(
                _log,
                "planning deferred",
                stage="PLANNING",
                repository=task.repository,
                issue=task.issue_number,
                delivery=task.delivery_id,
            )
            return self._deferred(task, event).noted("ignored", "planning-disabled")
        # act and answer
        self.migration.ensure()
        return self._submit(delivery, plan_once=True)

    def _submit(self, delivery: TaskDelivery, *, plan_once: bool) -> Response:
        """The one submitting path (:func:`submit_delivery`). For a first delivery of an issue's
        planning task (``plan_once``), the issue is claimed first and the planner's existing plan
        looked for; a replan, the spec's raw replay and a Discord request plan whatever exists."""
        task = delivery.task
        claimed: list[WorkflowRun] = []

        def enrich(fields: dict[str, Any]) -> Response | None:
            if not plan_once or task.replan:
                return None
            if delivery.cloudevent:
                holder = self._claim_issue(task)
                if holder.delivery_id != task.delivery_id:
                    reason = (
                        f"issue #{task.issue_number} is planned once: delivery {holder.delivery_id} planned it "
                        f"({holder.name}); comment `@<bot> replan` for a new plan"
                    )
                    logs.decision(_log, "planning duplicate", **fields, workflow=holder.name, reason=reason)
                    result = SubmissionResult(
                        holder.namespace, holder.name, holder.submitted_at, duplicate=True, reason=reason
                    )
                    return submission_response(
                        result, cloudevent=True, source=SOURCE, task=task, traceparent=telemetry.current_traceparent()
                    )
                claimed.append(holder)
            planned = self._existing_plan(task)
            if planned is None:
                return None
            logs.decision(_log, "planning skipped", **fields, reason=planned)
            if claimed:
                self.store.clear_active_run(claimed[0])
            skipped = (
                empty_response(200) if delivery.cloudevent else json_response(200, {"skipped": True, "reason": planned})
            )
            return skipped.noted("ignored", "already-planned")

        spec = Submission(SOURCE, STAGE, TEMPLATE, NAME_PREFIX, self.settings.workflow_namespace)
        try:
            return submit_delivery(
                self.store,
                self.submitter,
                delivery,
                spec,
                log=_log,
                enrich=enrich,
                parameters=lambda delivery: planning_parameters(delivery.task),
            )
        except PermanentFailure:
            if claimed:  # never submitted: the issue may be planned by a later delivery
                self.store.clear_active_run(claimed[0])
            raise

    def _claim_issue(self, task: pb.CodexTask) -> WorkflowRun:
        """The delivery that plans this issue: this one when it is the first (its run is recorded as
        the issue's planning run before it is submitted), else the earlier one. ``issues.opened`` and
        ``issues.labeled`` of one issue arrive together; the store's insert decides between them."""
        name = workflow_name(NAME_PREFIX, task.repository, int(task.issue_number), task.delivery_id)
        return self.store.claim_active_run(
            WorkflowRun(
                self.settings.workflow_namespace,
                name,
                TEMPLATE,
                STAGE,
                task.repository,
                int(task.issue_number),
                task.delivery_id,
                datetime.now(UTC),
            )
        )

    def _existing_plan(self, task: pb.CodexTask) -> str | None:
        """Why the issue needs no planning (it already has the planner's plan comment), or None.

        Asked for a first delivery only: a redelivery of a submitted task is answered from the store."""
        if not self.settings.planner_login:
            return None
        policy = Policy(planner_login=self.settings.planner_login)
        plan = policy.latest_plan(self.github.list_issue_comments(task.repository, int(task.issue_number)))
        if plan is None:
            return None
        return (
            f"issue #{task.issue_number} in {task.repository} already has a plan comment by the planner "
            f"{self.settings.planner_login} ({plan.html_url or plan.id})"
        )

    def _plan_request(self, event: Event) -> Response:
        from codex_pipeline.discord.plan import followup_once, open_issue_once, planning_task

        plan = PlanRequest.from_json(event.data)
        fields: dict[str, Any] = {
            "stage": "PLANNING",
            "repository": plan.repository,
            "interaction": plan.interaction_id,
            "requester": plan.requester_id,
        }
        with telemetry.span(
            telemetry.SPAN_SERVER_TASKS,
            traceparent=event.traceparent,
            kind="server",
            attributes={
                telemetry.ATTR_STAGE: STAGE,
                telemetry.ATTR_REPOSITORY: plan.repository,
                "discord.interaction": plan.interaction_id,
            },
        ):
            # decide
            if not self.settings.planning_enabled:
                logs.decision(_log, "discord plan request deferred", **fields)
                return event_response(_deferred_event(f"{plan.interaction_id}:deferred", plan.repository), 202).noted(
                    "ignored", "planning-disabled"
                )
            # act: the issue once, planning once, the follow-up once
            self.migration.ensure()
            try:
                issue, opened = open_issue_once(self.store, self.github, plan)
            except PermanentFailure as exc:
                followup_once(
                    self.store,
                    self.settings.discord_api_url,
                    plan,
                    f"Could not open the issue in {plan.repository}: {exc.message}",
                )
                raise
            logs.decision(
                _log,
                "discord plan issue opened" if opened else "discord plan issue found",
                **fields,
                issue=issue.issue_number,
            )
            task = planning_task(plan, issue, self.settings.branch_prefix)
            answer = self._submit(TaskDelivery(task, event), plan_once=False)
            followup_once(
                self.store,
                self.settings.discord_api_url,
                plan,
                f"Opened {issue.issue_url} ({plan.title}); planning has started.",
            )
            return answer

    def _deferred(self, task: pb.CodexTask, event: Event | None) -> Response:
        if event is None:
            return json_response(202, DEFERRED_BODY)
        subject = tasks.partition_key(task.repository, int(task.issue_number))
        return event_response(_deferred_event(tasks.task_event_id(task.delivery_id, "deferred"), subject), 202)


DEFERRED_BODY = {"deferred": True}


def _deferred_event(event_id: str, subject: str) -> Event:
    """The ``codex.workflow.deferred`` reply: planning is off, nothing was recorded or submitted."""
    return Event(
        id=event_id,
        source=SOURCE,
        type=DEFERRED_TYPE,
        subject=subject,
        datacontenttype="application/json",
        data=json.dumps(DEFERRED_BODY).encode(),
        extensions={"partitionkey": subject},
    )


def create_app(settings: Settings | None = None) -> FunctionApp:
    # planning tasks deferred while planning is off need no database: the handler migrates itself
    return effect_app(NAME, settings, DispatchPlanning, guarded=False)
