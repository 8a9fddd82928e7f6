"""promote-plan: an approved plan in, one ``github-codex-implementation`` Workflow out.

Implementation tasks come from route-task in two kinds:

- the planner's own ``<!-- codex:plan -->`` comment: the task carries the plan body;
- an authorised ``execute plan`` comment: the task has no plan body, so the latest plan comment
  on the issue written by the planner login (``CODEX_PLANNER_LOGIN``, as the trust policy
  decides) is fetched from GitHub. When there is none, one short reply says so on the issue
  (once per delivery) and nothing is submitted.

The task is pinned to the plan's text: ``plan_sha256`` is the SHA-256 of the plan comment (set by
route-task for the planner's comment, here for the fetched plan, which a reply on the issue names
by link and hash, once per delivery); ``step implement`` refuses a plan edited since.

Then the implementation Workflow is submitted at most once per delivery (see
``codex_pipeline.handlers.submitting``), with the spec's parameters ``rawEvent`` and ``eventBody``
(base64 JSON; ``eventBody`` is the task JSON with ``planCommentBody``).

Answers: 202 with a ``codex.workflow.submitted`` reply CloudEvent (plain JSON for a bare
replay); an empty 200 when no plan was found (the reply was posted); 400 for a task that can
never run; 422 when GitHub refuses for good (no such repository); 503 for transient faults
(database, Kubernetes API, GitHub down or rate limited) so the broker retries.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from codex_pipeline.core.names import PLAN_MARKER, head_branch, plan_digest
from codex_pipeline.core.policy import Policy
from codex_pipeline.effects.github import ClientOnFirstUse, UsesGitHub
from codex_pipeline.effects.store.once import do_once
from codex_pipeline.errors import BadRequest
from codex_pipeline.handlers.effects import effect_app
from codex_pipeline.handlers.queued_check import queue_check
from codex_pipeline.handlers.submitting import Submission, parameters_from, read_task, submit_delivery
from codex_pipeline.shell import logs
from codex_pipeline.shell.app import FunctionApp
from codex_pipeline.shell.config import Settings, read_by
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES
from codex_pipeline.wire.http import Request, Response, empty_response
from codex_pipeline.wire.pb import codex_task_pb2 as pb

if TYPE_CHECKING:
    from codex_pipeline.effects.argo import WorkflowSubmitter
    from codex_pipeline.effects.github import Comment, GitHubClient
    from codex_pipeline.effects.store import Store

NAME = "promote-plan"
STAGE = "implementation"
TEMPLATE = "github-codex-implementation"
NAME_PREFIX = "github-codex-implementation"
PARAMETERS = ("rawEvent", "eventBody")
HANDLES = frozenset({TASK_TYPES["implementation"]})
# The codex.workflow.submitted reply is an audit trail on the broker's topic; nothing routes it.
EMITS: frozenset[str] = frozenset()
SETTINGS_READ = read_by(NAME)  # the settings table's readers column
NO_PLAN_REPLY = (
    "Codex could not find an approved plan on this issue (a `<!-- codex:plan -->` comment by the planner), "
    "so no implementation was started. Wait for the planning run to post its plan, then comment `execute plan`."
)
_log = logging.getLogger("codex_pipeline.promote_plan")


def branch_of(task: tasks.CodexTask, prefix: str) -> str:
    """The branch the implementation step pushes (``steps.implement.branch_for``, the same rule)."""
    head = task.head
    return (
        head
        if head.startswith(prefix) and len(head) > len(prefix)
        else head_branch(int(task.issue_number), task.issue_title, prefix)
    )


def latest_plan(comments: list[Comment], policy: Policy) -> Comment | None:
    """The newest comment the trust policy accepts as the planner's plan (others are ignored)."""
    return policy.latest_plan(comments)


class PromotePlan(UsesGitHub):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        submitter: WorkflowSubmitter,
        github: GitHubClient | ClientOnFirstUse,
        policy: Policy | None = None,
        checks: GitHubClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.submitter = submitter
        self._github = github if isinstance(github, ClientOnFirstUse) else ClientOnFirstUse(settings, github, checks)
        self.policy = policy or Policy(planner_login=settings.planner_login)

    def __call__(self, request: Request) -> Response:
        # decode
        delivery = read_task(request, function=NAME, handles=HANDLES)
        task = delivery.task
        if task.stage not in (pb.CODEX_TASK_STAGE_IMPLEMENTATION, pb.CODEX_TASK_STAGE_UNSPECIFIED):
            raise BadRequest(f"promote-plan takes implementation tasks, not {tasks.stage_name(task.stage)}")
        tasks.require(task, "repository", "issue_number", "delivery_id")
        task.stage = pb.CODEX_TASK_STAGE_IMPLEMENTATION

        def enrich(fields: dict[str, Any]) -> Response | None:
            # decide: the plan comes with the task, or is the planner's latest plan comment
            if not task.HasField("plan_comment_body") or PLAN_MARKER not in task.plan_comment_body:
                plan = latest_plan(
                    self.github.list_issue_comments(task.repository, int(task.issue_number)), self.policy
                )
                if plan is None:
                    self._reply_no_plan(task)
                    logs.decision(_log, "no approved plan: nothing submitted", **fields)
                    return empty_response(200).noted("ignored", "no-plan")
                task.plan_comment_id = plan.id
                task.plan_comment_url = plan.html_url
                task.plan_comment_body = plan.body
                task.plan_sha256 = plan_digest(plan.body)
                self._reply_approved(task)
            elif not task.plan_sha256:
                task.plan_sha256 = plan_digest(task.plan_comment_body)
            fields["plan_sha256"] = task.plan_sha256
            return None

        def queued(workflow: str) -> None:
            """Queued on the head of the branch's open PR; a first run has no PR yet (the step
            reports on the PR it opens)."""
            branch = branch_of(task, self.settings.branch_prefix)

            def head() -> str | None:
                pull = self.github.find_open_pull(task.repository, branch)
                return pull.head_sha if pull is not None else None

            queue_check(
                self.store,
                self.checks,
                self.settings,
                stage="implement",
                repository=task.repository,
                workflow=workflow,
                head_sha=head,
                log=_log,
            )

        # act and answer
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

    def _reply_approved(self, task: tasks.CodexTask) -> None:
        """Name the plan an ``execute plan`` approved, by link and hash, once per delivery."""
        body = (
            f"Implementing the plan {task.plan_comment_url or f'comment {task.plan_comment_id}'} "
            f"(SHA-256 `{task.plan_sha256}`), approved by {task.sender or 'an allowed login'}. "
            "The run implements exactly this text: if the plan comment is edited before the run starts, "
            "the run refuses it; comment the trigger again to approve the new text."
        )
        do_once(
            self.store,
            f"promote-plan:approved:{task.delivery_id}",
            lambda: self.github.create_issue_comment(task.repository, int(task.issue_number), body),
        )

    def _reply_no_plan(self, task: tasks.CodexTask) -> None:
        """Post the "no approved plan" reply once per delivery (a leased claim in the store)."""
        do_once(
            self.store,
            f"promote-plan:no-plan:{task.delivery_id}",
            lambda: self.github.create_issue_comment(task.repository, int(task.issue_number), NO_PLAN_REPLY),
        )


def create_app(settings: Settings | None = None) -> FunctionApp:
    return effect_app(
        NAME,
        settings,
        lambda settings, store, submitter, _: PromotePlan(settings, store, submitter, ClientOnFirstUse(settings)),
    )
