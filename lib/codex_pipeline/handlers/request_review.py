"""request-review: review tasks become ``github-codex-review`` Workflows; readiness checks
make a clean ``codex/*`` PR ready to merge.

- ``codex.task.review`` (an authorised ``@bot review`` comment): fetch the PR, its unresolved
  review threads (every page) and the failing and pending checks of its head commit, build the
  task's ``review_context`` (``codex_pipeline.core.review``), and submit the review Workflow at most
  once per delivery with the spec's ``rawEvent``/``eventBody``. The PR is the task's
  ``pull_request_number`` (``issue_number`` in tasks written before that field existed); the
  task's ``issue_number`` becomes the issue the PR's branch names (``codex/issue-9-…`` -> 9).
  A PR with nothing to work on (no unresolved thread, no failing check, no conflict) starts no
  run: it is handed off as a readiness check would (marked ready, handoff once) and the request
  gets one short reply comment (once per delivery); the answer is an empty 200.
- ``codex.command`` (route-task's answer to a mention it did not understand, a refused command,
  ``@<bot> cancel``, ``@<bot> retry``, or the acknowledgement of a command that became a task):
  post its reply on the issue or PR; for a cancel stop the issue's active runs
  (``spec.shutdown: Stop``, the reason "cancelled by <author>") and react 👀 on the comment (or
  reply that nothing runs); for a retry submit the issue's last failed or cancelled stage again
  (:mod:`codex_pipeline.handlers.retrying`) and react 👀 (or reply why nothing is retried); for an
  ack react 👀. Each exactly once per delivery (a leased claim in the store).
- ``codex.pr.readiness``: when no thread is unresolved, no check fails or is pending and the PR
  is mergeable, mark a draft PR ready for review and post the ready-to-merge handoff exactly once
  (a marker comment checked first, and a store marker recorded before posting). It never
  requests reviewers and never starts a review run by itself: review is opt-in.

Independent GitHub calls run concurrently (the PR and its threads, then the checks of its head).
Answers: 202 + ``codex.workflow.submitted`` reply (review); empty 200 (readiness, or nothing to
do); 400 for a task that can never run; 422 when GitHub refuses for good; 503 for transient
faults, and while GitHub is still computing mergeability.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from codex_pipeline.core import review
from codex_pipeline.core.commands import CANCEL, COMMAND_TYPE, REPLY, RETRY, CommandRequest
from codex_pipeline.core.names import READY_MARKER, issue_of_branch
from codex_pipeline.effects.github import ClientOnFirstUse, UsesGitHub
from codex_pipeline.effects.store import CANCELLED, OnceState, RunOutcome
from codex_pipeline.effects.store.once import do_once
from codex_pipeline.errors import BadRequest, Unavailable
from codex_pipeline.handlers.effects import effect_app
from codex_pipeline.handlers.queued_check import queue_check
from codex_pipeline.handlers.submitting import (
    Submission,
    TaskDelivery,
    parameters_from,
    read_task,
    submit_delivery,
)
from codex_pipeline.shell import logs, telemetry
from codex_pipeline.shell.app import FunctionApp
from codex_pipeline.shell.config import Settings, read_by
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES, decode_request, is_cloudevent
from codex_pipeline.wire.github import combine_checks
from codex_pipeline.wire.http import Request, Response, empty_response
from codex_pipeline.wire.pb import codex_task_pb2 as pb

if TYPE_CHECKING:
    from codex_pipeline.effects.argo import WorkflowSubmitter
    from codex_pipeline.effects.github import ChecksReport, GitHubClient, PullRequest, ReviewThread
    from codex_pipeline.effects.store import Store
    from codex_pipeline.handlers.retrying import Retried

NAME = "request-review"
STAGE = "review"
TEMPLATE = "github-codex-review"
NAME_PREFIX = "github-codex-review"
PARAMETERS = ("rawEvent", "eventBody")
HANDLES = frozenset({TASK_TYPES["review"], TASK_TYPES["readiness"], COMMAND_TYPE})
# The codex.workflow.submitted reply is an audit trail on the broker's topic; nothing routes it.
EMITS: frozenset[str] = frozenset()
SETTINGS_READ = read_by(NAME)  # the settings table's readers column
_log = logging.getLogger("codex_pipeline.request_review")


class RequestReview(UsesGitHub):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        submitter: WorkflowSubmitter,
        github: GitHubClient | ClientOnFirstUse,
        checks: GitHubClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.submitter = submitter
        self._github = github if isinstance(github, ClientOnFirstUse) else ClientOnFirstUse(settings, github, checks)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="github")

    def snapshot(self, repository: str, number: int) -> tuple[PullRequest, list[ReviewThread], ChecksReport]:
        """The PR, its unresolved threads and its head's checks, in two round trips: the threads
        run beside the PR lookup and the check runs beside the commit statuses of its head."""
        pending: list[Future[Any]] = []
        try:
            threads: Future[list[ReviewThread]] = self._pool.submit(
                self.github.unresolved_review_threads, repository, number
            )
            pending.append(threads)
            pull = self.github.get_pull(repository, number)
            statuses = self._pool.submit(self.github.commit_status_results, repository, pull.head_sha)
            pending.append(statuses)
            runs = self.github.check_run_results(repository, pull.head_sha)
            return pull, threads.result(), combine_checks(pull.head_sha, runs, statuses.result())
        except BaseException:
            for future in pending:
                future.cancel()
            wait(pending)  # never leave a call running past this delivery
            raise

    def __call__(self, request: Request) -> Response:
        event = decode_request(request) if is_cloudevent(request) else None
        if event is not None and event.type == COMMAND_TYPE:
            return self.answer_command(CommandRequest.from_json(event.data))
        delivery = read_task(request, function=NAME, handles=HANDLES, event=event)
        kind = delivery.type
        task = delivery.task
        if task.stage not in (pb.CODEX_TASK_STAGE_REVIEW, pb.CODEX_TASK_STAGE_UNSPECIFIED):
            raise BadRequest(f"request-review takes review tasks, not {tasks.stage_name(task.stage)}")
        # route-task sends readiness checks with stage UNSPECIFIED, so a KafkaSource record (no type)
        # or a bare replay of one is still told apart from a review request.
        readiness_check = kind == TASK_TYPES["readiness"] or (
            kind != TASK_TYPES["review"] and task.stage == pb.CODEX_TASK_STAGE_UNSPECIFIED
        )
        task.stage = pb.CODEX_TASK_STAGE_REVIEW
        if not task.HasField("pull_request_number") and task.issue_number:
            task.pull_request_number = task.issue_number  # a task from before the field existed
        if readiness_check:
            tasks.require(task, "repository", "pull_request_number")
            return self.check_readiness(delivery)
        tasks.require(task, "repository", "pull_request_number", "delivery_id")
        return self.submit_review(delivery)

    def answer_command(self, command: CommandRequest) -> Response:
        """Act on a command route-task accepted (authorisation was decided there), once per delivery:
        post its reply, or cancel: stop the issue's active runs and react 👀, or reply that none runs."""
        with telemetry.span(
            "request_review.command",
            attributes={telemetry.ATTR_REPOSITORY: command.repository, telemetry.ATTR_ISSUE: command.number},
        ):
            stopped: list[str] = []
            retried: str | None = None
            why: str | None = None
            reply = command.kind == REPLY  # an ACK only reacts
            text = command.reply
            if command.kind == CANCEL:
                stopped = self._cancel(command)
                reply = not stopped
            elif command.kind == RETRY:
                answer = self._retry(command)
                retried = answer.run.name if answer.run is not None else None
                reply, text, why = answer.run is None, answer.reason, answer.reason
            if reply:
                done = do_once(
                    self.store,
                    command.once_key,
                    lambda: self.github.create_issue_comment(command.repository, command.number, text),
                )
            else:
                done = do_once(self.store, command.once_key, lambda: self._react(command))
        logs.decision(
            _log,
            "command answered",
            kind=command.kind,
            repository=command.repository,
            issue=command.number,
            delivery=command.delivery_id,
            replied=reply,
            done=done,
            stopped=",".join(stopped) or None,
            retried=retried,
            retry=why,
            reason=command.reason,
        )
        return empty_response(200)

    def _react(self, command: CommandRequest) -> None:
        """👀 on the command's comment. A comment deleted since (404) has nothing left to acknowledge:
        that is done, not a failure to dead-letter (the command itself was acted on)."""
        from codex_pipeline.effects.github.client import GitHubPermanentError

        try:
            self.github.add_reaction(command.repository, command.comment_id, "eyes")
        except GitHubPermanentError as error:
            if error.github_status != 404:
                raise
            logs.decision(
                _log,
                "command comment gone; no reaction",
                repository=command.repository,
                comment=command.comment_id,
                delivery=command.delivery_id,
            )

    def _issue(self, command: CommandRequest) -> int:
        """The issue a command is about (on a PR: the issue its branch names, else the PR itself)."""
        if not command.pull_request:
            return command.number
        pull = self.github.get_pull(command.repository, command.number)
        return issue_of_branch(pull.head_ref, self.settings.branch_prefix) or pull.number

    def _retry(self, command: CommandRequest) -> Retried:
        from codex_pipeline.handlers.retrying import retry

        return retry(
            self.store,
            self.submitter,
            repository=command.repository,
            issue=self._issue(command),
            delivery_id=command.delivery_id,
            branch_prefix=self.settings.branch_prefix,
            argo_ui_url=self.settings.argo_ui_url,
        )

    def _cancel(self, command: CommandRequest) -> list[str]:
        """Stop every active run of the issue (a PR's issue is the one its branch names); their names.

        Stopped before forgotten, so a failed stop (503) is retried; a redelivery finds nothing
        left and still reacts (the reaction is once per delivery, not per stop). The stop says who
        asked (the exit handler's recap) and the outcome is recorded as cancelled (for retry)."""
        issue = self._issue(command)
        reason = f"cancelled by {command.author or 'an allowed user'}"
        stopped = []
        for stage in ("implementation", "review", "planning"):
            active = self.store.active_run(command.repository, issue, stage)
            if active is None:
                continue
            self.submitter.stop(active.namespace, active.name, reason)
            self.store.record_outcome(RunOutcome(active.namespace, active.name, CANCELLED, reason))
            self.store.clear_active_run(active)
            stopped.append(active.name)
        marker = f"{command.once_key}:stopped"  # a redelivery after the stops still reacts, never "nothing"
        if stopped:
            self.store.complete_once(marker)
            return stopped
        if self.store.claim_once(marker, owner=uuid.uuid4().hex, lease_seconds=0.0) is OnceState.DONE:
            return ["(stopped by an earlier attempt of this delivery)"]
        self.store.clear_once(marker)
        return []

    def submit_review(self, delivery: TaskDelivery) -> Response:
        task = delivery.task
        heads: list[str] = []

        def enrich(fields: dict[str, Any]) -> Response | None:
            pull, threads, checks = self.snapshot(task.repository, int(task.pull_request_number))
            heads.append(pull.head_sha)
            task.review_context.CopyFrom(review.build_review_context(pull, threads, checks))
            # The issue is the one the branch names; the PR itself when the branch names none.
            task.issue_number = issue_of_branch(pull.head_ref, self.settings.branch_prefix) or pull.number
            fields["issue"] = task.issue_number
            task.head = task.head or pull.head_ref
            task.base = task.base or pull.base_ref
            task.issue_url = task.issue_url or pull.html_url
            task.issue_title = task.issue_title or pull.title
            fields["summary"] = task.review_context.summary or None
            if review.clean_for_review(pull, threads, checks):
                return self.answer_clean_review(task, pull, threads, checks)
            return None

        def queued(workflow: str) -> None:
            queue_check(
                self.store,
                self.checks,
                self.settings,
                stage="review",
                repository=task.repository,
                workflow=workflow,
                log=_log,
                head_sha=lambda: (
                    heads[0] if heads else self.github.get_pull(task.repository, int(task.pull_request_number)).head_sha
                ),
            )

        spec = Submission(NAME, STAGE, TEMPLATE, NAME_PREFIX, self.settings.workflow_namespace)
        return submit_delivery(
            self.store,
            self.submitter,
            delivery,
            spec,
            log=_log,
            enrich=enrich,
            before_submit=queued,
            parameters=parameters_from(self.settings),
        )

    def check_readiness(self, delivery: TaskDelivery) -> Response:
        task = delivery.task
        repository, number = task.repository, int(task.pull_request_number)
        with telemetry.span(
            "request_review.readiness",
            traceparent=delivery.traceparent,
            attributes={telemetry.ATTR_REPOSITORY: repository, telemetry.ATTR_ISSUE: task.issue_number},
        ):
            pull, threads, checks = self.snapshot(repository, number)
            verdict = review.readiness(pull, threads, checks, self.settings.branch_prefix)
            if verdict.retry:
                raise Unavailable(f"PR #{number} in {repository}: {verdict.reason}", headers={"Retry-After": "10"})
            if not verdict:
                logs.decision(
                    _log,
                    "not ready to merge",
                    repository=repository,
                    pr=number,
                    reason=verdict.reason,
                    delivery=task.delivery_id or None,
                )
                return empty_response(200).noted("ignored", "not-ready")
            marked = self.github.mark_ready_for_review(repository, pull)
            posted = self._handoff_once(repository, pull)
        logs.decision(
            _log,
            "ready to merge",
            repository=repository,
            pr=number,
            marked_ready=marked,
            handoff_posted=posted,
            sha=pull.head_sha,
            delivery=task.delivery_id or None,
        )
        return empty_response(200)

    def answer_clean_review(
        self, task: tasks.CodexTask, pull: PullRequest, threads: list[ReviewThread], checks: ChecksReport
    ) -> Response:
        """A review request on a clean PR starts no Codex run: hand the PR off when it is ready (a
        ``codex/`` draft is marked ready, the handoff posted once) and answer with one short comment,
        once per delivery."""
        repository = task.repository
        verdict = review.readiness(pull, threads, checks, self.settings.branch_prefix)
        marked = posted = False
        if verdict:
            marked = self.github.mark_ready_for_review(repository, pull)
            posted = self._handoff_once(repository, pull)
        replied = do_once(
            self.store,
            f"request-review:clean:{task.delivery_id}",
            lambda: self.github.create_issue_comment(
                repository, pull.number, review.clean_review_reply(pull, verdict, marked=marked, handed_off=posted)
            ),
        )
        logs.decision(
            _log,
            "review not needed: pull request is clean",
            repository=repository,
            pr=pull.number,
            ready=bool(verdict),
            reason=verdict.reason,
            marked_ready=marked,
            handoff_posted=posted,
            replied=replied,
            delivery=task.delivery_id or None,
        )
        return empty_response(200)

    def _handoff_once(self, repository: str, pull: PullRequest) -> bool:
        """Post the handoff unless a marker comment exists or it was recorded as done (leased claim)."""
        return do_once(
            self.store,
            f"request-review:handoff:{repository.lower()}#{pull.number}",
            lambda: self.github.create_issue_comment(
                repository, pull.number, review.handoff_comment(pull, self.settings.bot_mention)
            ),
            already_done=lambda: (
                self.github.find_comment_with_marker(repository, pull.number, READY_MARKER) is not None
            ),
        )


def create_app(settings: Settings | None = None) -> FunctionApp:
    return effect_app(
        NAME,
        settings,
        lambda settings, store, submitter, _: RequestReview(settings, store, submitter, ClientOnFirstUse(settings)),
    )
