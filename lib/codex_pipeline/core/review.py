"""Pure decisions of request-review: the review context and whether a PR is ready to merge.

No I/O here: request-review fetches the pull request, its unresolved review threads and the
checks of its head commit, and these functions turn them into the task's ``review_context``
and a readiness verdict (table-tested in ``tests/test_review.py``).

Thread summaries are reviewers' text: they are cleaned here (HTML comments and invisible
Unicode removed) and fenced as data by the workflow step that builds the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from codex_pipeline.core import untrusted
from codex_pipeline.core.names import DEFAULT_BOT_MENTION, DEFAULT_BRANCH_PREFIX, READY_MARKER
from codex_pipeline.wire import tasks

if TYPE_CHECKING:
    from codex_pipeline.wire.github import ChecksReport, PullRequest, ReviewThread

# mergeable_state values GitHub reports for a PR that can merge (a draft reports "draft";
# "blocked" waits only for a human approval, which the handoff asks for).
MERGEABLE_STATES = frozenset({"clean", "has_hooks", "draft", "blocked"})


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def conflict_note(pull: PullRequest) -> str | None:
    if pull.mergeable_state != "dirty":
        return None
    return (
        f"mergeable_state=dirty: {pull.head_ref} conflicts with {pull.base_ref}; resolve the conflicts "
        "(or rebase) first so the review has a clean base"
    )


def build_review_context(
    pull: PullRequest, threads: list[ReviewThread], checks: ChecksReport
) -> tasks.CodexReviewContext:
    """The spec's ``reviewContext``: summary line, threads, failing checks, additional notes."""
    parts = [_plural(len(threads), "unresolved review thread"), _plural(len(checks.failing), "failing check")]
    if checks.pending:
        parts.append(_plural(len(checks.pending), "pending check"))
    if pull.mergeable_state == "dirty":
        parts.append("merge conflicts")
    context = tasks.CodexReviewContext(summary=f"PR #{pull.number}: " + ", ".join(parts))
    for thread in threads:
        item = context.review_threads.add(summary=untrusted.clean(thread.summary))
        if thread.url:
            item.url = thread.url
        if thread.author:
            item.author = thread.author
    for check in checks.failing:
        failing = context.failing_checks.add(name=check.name, conclusion=check.conclusion)
        if check.url:
            failing.url = check.url
        if check.details:
            failing.details = untrusted.clean(check.details)
    note = conflict_note(pull)
    if note:
        context.additional_notes.append(note)
    if checks.pending:
        context.additional_notes.append("pending checks: " + ", ".join(sorted(checks.pending)))
    return context


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    retry: bool = False  # GitHub has not computed mergeability yet: ask again later

    def __bool__(self) -> bool:
        return self.ready


def readiness(
    pull: PullRequest, threads: list[ReviewThread], checks: ChecksReport, prefix: str = DEFAULT_BRANCH_PREFIX
) -> Readiness:
    """Ready to merge: open ``codex/*`` PR (``CODEX_BRANCH_PREFIX``), no unresolved thread, no failing
    or pending check, mergeable."""
    if pull.state != "open":
        return Readiness(False, f"PR #{pull.number} is {pull.state}")
    if not pull.head_ref.startswith(prefix):
        return Readiness(False, f"head {pull.head_ref!r} is not a {prefix}* branch")
    if threads:
        return Readiness(False, _plural(len(threads), "unresolved review thread"))
    if checks.failing:
        return Readiness(
            False, _plural(len(checks.failing), "failing check") + ": " + ", ".join(c.name for c in checks.failing)
        )
    if checks.pending:
        return Readiness(False, _plural(len(checks.pending), "pending check"))
    if pull.mergeable is None:
        return Readiness(False, "GitHub has not computed mergeability yet", retry=True)
    if not pull.mergeable or pull.mergeable_state not in MERGEABLE_STATES:
        return Readiness(False, f"not mergeable (mergeable={pull.mergeable}, mergeable_state={pull.mergeable_state})")
    return Readiness(True, "no unresolved thread, checks green, mergeable")


def clean_for_review(pull: PullRequest, threads: list[ReviewThread], checks: ChecksReport) -> bool:
    """Nothing a review pass could work on: no unresolved thread, no failing check, no conflict,
    and no check still running.

    A pending check is not known to pass: answering "nothing to review" while CI still runs would
    drop the request if CI then fails (the readiness check only reports, it never starts a review),
    so the review run starts and sees the checks as they settle. A mergeability GitHub has not
    computed yet is not work for Codex: the readiness check hands the PR off once it is known."""
    conflicting = pull.mergeable_state == "dirty" or pull.mergeable is False
    return not threads and not checks.failing and not checks.pending and not conflicting


def clean_review_reply(pull: PullRequest, verdict: Readiness, *, marked: bool, handed_off: bool) -> str:
    """The one short answer to a review request on a clean PR (no Codex run was started)."""
    done = []
    if marked:
        done.append("marked it ready for review")
    if handed_off:
        done.append("posted the ready-to-merge handoff")
    if done:
        after = "Codex " + " and ".join(done) + "."
    elif verdict:
        after = "It is ready to merge; the handoff is above."
    else:
        after = f"Not handed off yet ({verdict.reason}); that happens when the readiness check passes."
    return (
        f"Nothing for Codex to review on #{pull.number}: no unresolved review threads, no failing or running checks, "
        f"no merge conflicts, so no review run was started. {after}"
    )


def handoff_comment(pull: PullRequest, mention: str = DEFAULT_BOT_MENTION) -> str:
    """The ready-to-merge handoff; the marker makes it findable, so it is posted once."""
    return (
        f"{READY_MARKER}\n"
        f"Codex: this pull request is ready to merge. Every review thread is resolved, the checks on "
        f"`{pull.head_sha[:12]}` are green and `{pull.head_ref}` merges cleanly into `{pull.base_ref}`.\n\n"
        f"A maintainer can merge it now. For another Codex pass, comment `{mention} review`."
    )
