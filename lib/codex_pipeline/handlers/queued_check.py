"""The ``queued`` check of a run, written by the effect function that submits it (issue 18).

An implementation or review run shows on its pull request from the moment it is submitted (the
check is written just before the Workflow is created, so the step always finds it): a check run
``queued`` on the PR head (a commit status ``pending`` with a plain token), which the
step moves to ``in_progress`` and completes. It is written once per run: a store claim keyed by
the workflow answers a redelivery without asking GitHub, and the write itself looks for the
run's check first (a process that died between the write and the record does not write twice).

A check is a report, not the run: GitHub refusing it (no ``checks: write`` permission) or being
unreachable is logged and the submission goes on; the step opens the check when it starts. After
a transient fault the claim is released, so a redelivery of the task tries the queued check again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from codex_pipeline.effects.store import OnceState
from codex_pipeline.shell import logs

if TYPE_CHECKING:
    from codex_pipeline.effects.github import GitHubClient
    from codex_pipeline.effects.store import Store
    from codex_pipeline.shell.config import Settings

LEASE_SECONDS = 60.0


def queue_check(
    store: Store,
    client: GitHubClient,
    settings: Settings,
    *,
    stage: str,
    repository: str,
    workflow: str,
    head_sha: Callable[[], str | None],
    log: logging.Logger,
) -> None:
    """``queued`` on the head ``head_sha()`` names (nothing when it names none: no PR yet)."""
    from codex_pipeline.effects.checks import RunReport, details_link, run_summary
    from codex_pipeline.effects.github import GitHubPermanentError, GitHubUnavailableError

    key = f"check-queued:{workflow}"
    if store.claim_once(key, owner=uuid.uuid4().hex, lease_seconds=LEASE_SECONDS) is not OnceState.CLAIMED:
        return  # written already, or being written by a concurrent copy of this delivery
    try:
        sha = head_sha()
        done = "no pull request yet"
        if sha:
            details = details_link(settings.argo_ui_url, settings.workflow_namespace, workflow)
            report = RunReport(client, repository, sha, stage, workflow, details)
            done = report.queue(
                "Queued: waiting for the workflow to start",
                run_summary(changed="nothing yet", commands=[], blockers=[], workflow=workflow, details=details),
            )
    except GitHubPermanentError as exc:
        logs.decision(log, "queued check not written", workflow=workflow, repository=repository, reason=str(exc))
    except GitHubUnavailableError as exc:
        store.clear_once(key)
        logs.decision(log, "queued check not written", workflow=workflow, repository=repository, reason=str(exc))
        return
    except BaseException:
        store.clear_once(key)
        raise
    else:
        logs.decision(log, "queued check", workflow=workflow, repository=repository, done=done)
    store.complete_once(key)
