"""dispatch-planning's side of Discord ``/plan``: open the issue once, plan it, answer on Discord.

Order and what each step promises:

1. **the issue, once per interaction id**: the store's record (:meth:`Store.find_created_issue`)
   is looked up first, so a redelivery finds the issue a previous attempt opened; otherwise the
   key is claimed with a lease (:meth:`Store.claim_once`), the issue is opened and its number
   recorded before the claim completes. A concurrent delivery finds the claim busy and answers
   503 (the broker retries it and then finds the record). A process that dies between GitHub's
   201 and the insert leaves no record: so before opening, the holder of the claim looks for the
   request's hidden marker (``<!-- codex:discord-interaction <id> -->``) among the 50 newest issues
   of the repository and records that issue instead. A GitHub 5xx or rate limit raises 503 with
   the claim released, so the retry opens it.
2. **planning** through the one submitting path (:mod:`codex_pipeline.handlers.submitting`) with delivery id
   ``discord-<interaction id>``: at most one ``facteur-dispatch`` Workflow however often the
   event comes. The issue is opened by the pipeline's own login, which is never a trigger login,
   so its ``issues.opened`` delivery is ignored by route-task and never plans it a second time.
3. **the follow-up message** with the issue link, once (a once marker): a Discord failure is
   logged and never undoes or fails the submission; Discord accepts follow-ups for 15 minutes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from codex_pipeline.core.prompts import issue_planning_prompt
from codex_pipeline.core.routing import head_branch
from codex_pipeline.discord.plan_requests import PlanRequest, issue_body
from codex_pipeline.effects.store import CreatedIssue, Store
from codex_pipeline.effects.store.once import do_once
from codex_pipeline.errors import PermanentFailure, PipelineError, Unavailable
from codex_pipeline.shell import logs
from codex_pipeline.wire.pb import codex_task_pb2 as pb

if TYPE_CHECKING:
    from codex_pipeline.effects.github import GitHubClient

FOLLOWUP_TIMEOUT_SECONDS = 5.0
FOLLOWUP_MAX_RETRY_WAIT_SECONDS = 5.0  # a rate-limited follow-up waits this long at most
_log = logging.getLogger("codex_pipeline.discord_plan")


def open_issue_once(store: Store, github: GitHubClient, request: PlanRequest) -> tuple[CreatedIssue, bool]:
    """The issue of this request and whether this call opened it (see module doc, step 1)."""
    key = request.once_key
    known = store.find_created_issue(key)
    if known is not None:
        return known, False
    outcome: list[tuple[CreatedIssue, bool]] = []

    def open_and_record() -> None:
        issue = github.find_recent_issue_with(request.repository, request.marker)
        opened = issue is None
        if issue is None:
            issue = github.create_issue(request.repository, title=request.title, body=issue_body(request))
        outcome.append(
            (store.record_created_issue(CreatedIssue(key, request.repository, issue.number, issue.html_url)), opened)
        )

    if do_once(store, key, open_and_record):
        return outcome[0]
    known = store.find_created_issue(key)  # completed by a run that recorded the issue after our lookup
    if known is None:
        raise PermanentFailure(f"{key} is marked done but no issue is recorded for it")
    return known, False


def planning_task(request: PlanRequest, issue: CreatedIssue, branch_prefix: str | None = None) -> pb.CodexTask:
    """The planning task of the opened issue, as route-task would have built it from issues.opened."""
    task = pb.CodexTask(
        stage=pb.CODEX_TASK_STAGE_PLANNING,
        repository=issue.repository,
        issue_number=issue.issue_number,
        issue_url=issue.issue_url,
        issue_title=request.title,
        issue_body=request.body,
        prompt=issue_planning_prompt(issue.repository, issue.issue_number, request.title, request.body),
        head=head_branch(issue.issue_number, request.title, branch_prefix),
        sender=f"discord:{request.requester_id}",
        delivery_id=request.delivery_id,
    )
    return task


def post_followup(api_url: str, request: PlanRequest, content: str) -> None:
    """``POST {api}/webhooks/{application}/{token}``: an ephemeral message to the requester.

    The interaction token is the credential and sits in the path, so errors never repeat the URL."""
    import requests

    from codex_pipeline.discord.rest import call
    from codex_pipeline.errors import DiscordError

    url = f"{api_url.rstrip('/')}/webhooks/{request.application_id}/{request.interaction_token}"
    with requests.Session() as session:
        try:
            call(
                session,
                "POST",
                url,
                {"content": content[:2000], "flags": 64, "allowed_mentions": {"parse": []}},
                what="webhooks (follow-up)",
                timeout=FOLLOWUP_TIMEOUT_SECONDS,
                max_retry_wait=FOLLOWUP_MAX_RETRY_WAIT_SECONDS,
            )
        except DiscordError as exc:
            raise Unavailable(f"Discord follow-up failed: {exc}") from None


def followup_once(store: Store, api_url: str, request: PlanRequest, content: str) -> bool:
    """Post the follow-up once; a failure is logged and reported as False, never raised."""
    try:
        return do_once(
            store, f"discord-followup:{request.interaction_id}", lambda: post_followup(api_url, request, content)
        )
    except PipelineError as exc:
        logs.decision(
            _log,
            "discord follow-up not posted",
            level=logging.WARNING,
            interaction=request.interaction_id,
            reason=exc.message,
        )
        return False
