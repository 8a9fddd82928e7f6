"""``step implement``: the approved plan becomes a pushed branch, a draft PR and a progress recap.

Every effect is safe to repeat, because Argo retries steps: the branch is reused when it is
already on the remote, the open PR for the branch is reused, the PR is linked from the issue
once (a marker per PR number), and the progress comment is found by its marker and edited.
A failure anywhere after kickoff turns the progress comment into a failure recap and exits
non-zero. Before kickoff, an approval pinned to a plan (``plan_sha256``) is checked against the
plan comment as it is now: an edited or deleted plan is refused, said once on the issue, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from codex_pipeline.core.names import plan_digest
from codex_pipeline.core.untrusted import clean
from codex_pipeline.effects.checks import files_line, run_summary
from codex_pipeline.errors import PipelineError, StepError, StepFailed
from codex_pipeline.shell.logs import decision, get_logger
from codex_pipeline.steps import progress as progress_comment
from codex_pipeline.steps.checks import StepChecks, details_url
from codex_pipeline.steps.codex import CodexResult
from codex_pipeline.steps.context import (
    GitHubAccess,
    Transcript,
    branch_prefix,
    codex_options,
    decode_task_json,
    discord_tee,
    environ_of,
    github_access,
    print_dry_run,
    read_input,
    secrets_of,
    step_settings,
    workflow_name,
)
from codex_pipeline.steps.git import Git, issue_branch, remote_url
from codex_pipeline.steps.tracker import Tracker
from codex_pipeline.wire.pb import codex_task_pb2 as pb

LOG_FILE = ".codex-implementation.log"
log = get_logger("codex_pipeline.steps.implement")


def pr_link_marker(pr_number: int) -> str:
    return f"<!-- codex:pr-link {pr_number} -->"


def commit_message(title: str, issue: int, workflow: str, summary: str) -> str:
    subject = " ".join(clean(title).split())[:64] or f"issue {issue}"
    first = next((line.strip("# ").strip() for line in summary.splitlines() if line.strip()), "")
    return f"codex: {subject} (#{issue})\n\n{first[:200]}\n\nCodex workflow: {workflow}\nRefs #{issue}\n"


def plan_changed_marker(workflow: str) -> str:
    return f"<!-- codex:plan-changed {workflow} -->"


def plan_changed(github: GitHubAccess, task: pb.CodexTask) -> str | None:
    """Why the approved plan can no longer be implemented (its text changed since approval), or None.

    The approval is the task's ``plan_sha256``: the SHA-256 of the plan comment when it was promoted.
    Both the text the task carries and the comment as it is on GitHub now must still hash to it."""
    if not task.plan_sha256:
        return None
    if plan_digest(task.plan_comment_body) != task.plan_sha256:
        return "the plan this task carries does not match its approved SHA-256; nothing was implemented"
    if not task.plan_comment_id:
        return None
    comments = github.client.list_issue_comments(task.repository, int(task.issue_number))
    current = next((c for c in comments if c.id == task.plan_comment_id), None)
    if current is None:
        return (
            f"the approved plan comment {task.plan_comment_url or task.plan_comment_id} was deleted "
            "after approval; nothing was implemented"
        )
    if plan_digest(current.body) != task.plan_sha256:
        return (
            f"the approved plan comment {task.plan_comment_url or task.plan_comment_id} was edited after "
            f"approval (approved SHA-256 `{task.plan_sha256[:12]}…`, now `{plan_digest(current.body)[:12]}…`); "
            "nothing was implemented"
        )
    return None


def refuse_changed_plan(github: GitHubAccess, task: pb.CodexTask, workflow: str, reason: str) -> None:
    """Say so on the issue, once per workflow (a retried step finds its own comment)."""
    marker = plan_changed_marker(workflow)
    repo, number = task.repository, int(task.issue_number)
    if progress_comment.find_own(github.client, repo, number, marker, author=github.planner_login) is None:
        github.client.create_issue_comment(
            repo,
            number,
            f"{marker}\nCodex did not start workflow `{workflow}`: {reason}. Review the plan as it "
            "is now and approve it again (comment the trigger phrase) to implement it.\n",
        )


def branch_for(head: str, issue: int, title: str, prefix: str) -> str:
    """The task's branch when it is one of ours (the router built it), else the one built from the title."""
    return head if head.startswith(prefix) and len(head) > len(prefix) else issue_branch(issue, title, prefix)


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.core.prompts import implementation_prompt

    environ = environ_of(args)
    task, _ = decode_task_json(read_input(args.event_body_file, "EVENT_BODY", environ), base64_encoded=True)
    workflow = workflow_name(args, environ)
    workdir = Path(args.workdir)
    repo, number = task.repository, int(task.issue_number)
    branch = branch_for(task.head, number, task.issue_title, branch_prefix(environ))
    if args.dry_run:
        seeded = kickoff(
            progress_comment.task_breakdown(task.plan_comment_body) or ["Implement the approved plan"],
            number,
            workflow,
            branch,
        )[1].render()
        return print_dry_run(
            "implement",
            {
                "repository": repo,
                "issue": number,
                "branch": branch,
                "base": task.base or "(the default branch)",
                "workflow": workflow,
                "log": args.log or workdir / LOG_FILE,
            },
            codex_options(args, environ),
            implementation_prompt(task, branch, task.plan_comment_body),
            f"--- progress comment at kickoff ---\n{seeded}",
        )
    github = github_access(environ)
    changed = plan_changed(github, task)
    if changed:
        refuse_changed_plan(github, task, workflow, changed)
        decision(log, "implementation refused", repository=repo, issue=number, workflow=workflow, reason=changed)
        print(f"codex-pipeline step implement: {changed}", file=sys.stderr)
        return 1
    base = task.base or github.client.default_branch(repo)
    plan = task.plan_comment_body
    tracker, progress = kickoff(
        progress_comment.task_breakdown(plan) or ["Implement the approved plan"], number, workflow, branch
    )
    marker = step_settings(environ).progress_marker
    progress.marker = marker

    def publish() -> None:
        progress_comment.upsert(
            github.client, repo, number, progress.render(), marker=marker, author=github.planner_login
        )

    token = github.git_token(repo)
    with (
        discord_tee("implementation", repo, number, workflow, environ) as discord,
        Transcript(
            Path(args.log or workdir / LOG_FILE), [t for t in (discord,) if t], secrets_of(environ, token)
        ) as transcript,
    ):
        publish()
        checks = StepChecks(github.checks, repo, "implement", workflow, details_url(environ, workflow), transcript)
        try:
            return _implement(
                args,
                environ,
                task,
                github,
                transcript,
                progress,
                publish,
                workflow,
                workdir,
                base,
                branch,
                implementation_prompt(task, branch, plan),
                tracker,
                checks,
            )
        except (StepError, PipelineError) as exc:
            transcript.line(f"[step] failed: {exc}")
            progress.failed = f"{exc}\n\nThe full transcript is in the workflow's `{LOG_FILE}` artifact."
            progress.status = [f"Workflow `{workflow}` stopped."]
            try:
                publish()
            except PipelineError as again:  # GitHub itself is down: the exit status still tells Argo
                transcript.line(f"[step] could not write the failure recap: {again}")
            checks.failed("Codex could not implement the plan", tracker, exc)
            decision(log, "implementation failed", repository=repo, issue=number, workflow=workflow, reason=str(exc))
            print(f"codex-pipeline step implement: {exc}", file=sys.stderr)
            return 1


def kickoff(steps: list[str], number: int, workflow: str, branch: str) -> tuple[Tracker, progress_comment.Progress]:
    """The checklist (nothing started yet) and the status block the progress comment starts with."""
    tracker = Tracker(steps)
    progress = progress_comment.Progress(
        title=f"Codex implementation progress for #{number}",
        steps=steps,
        active=None,
        status=[f"Workflow `{workflow}` started on branch `{branch}`.", *tracker.status()],
    )
    return tracker, progress


def progress_interval(environ: Mapping[str, str]) -> float:
    """``CODEX_PROGRESS_INTERVAL_SECONDS``: the least time between edits that are not milestones."""
    return step_settings(environ).progress_interval


def following(
    tracker: Tracker,
    progress: progress_comment.Progress,
    publish: Callable[[], None],
    transcript: Transcript,
    workdir: Path,
    interval: float,
    first: list[str],
) -> Callable[[str, CodexResult], None]:
    """What Codex reports, fed to the tracker; the comment is edited at each milestone, and for
    other changes at most every ``interval`` seconds."""
    last = [time.monotonic()]

    def on_progress(kind: str, result: CodexResult) -> None:
        milestone = tracker.update(
            kind,
            todo=result.todo,
            files=relative(result.changed_files, workdir),
            commands=[(c.command, c.exit_code) for c in result.commands],
        )
        now = time.monotonic()
        if not milestone and now - last[0] < interval:
            return
        last[0] = now
        progress.done, progress.active = set(tracker.done), tracker.active
        progress.status = [*first, *tracker.status()]
        try:
            publish()
        except PipelineError as exc:  # a missed progress update never stops the run
            transcript.line(f"[step] progress update skipped: {exc}")

    return on_progress


def relative(paths: list[str], workdir: Path) -> list[str]:
    """Paths as Codex reported them, relative to the working tree (no machine paths on GitHub)."""
    root = os.path.realpath(workdir)
    shown = []
    for path in paths:
        full = os.path.realpath(os.path.join(root, path))
        shown.append(os.path.relpath(full, root) if full.startswith(root + os.sep) else os.path.basename(path))
    return shown


def _implement(
    args: argparse.Namespace,
    environ: dict[str, str],
    task: pb.CodexTask,
    github: GitHubAccess,
    transcript: Transcript,
    progress: progress_comment.Progress,
    publish: Callable[[], None],
    workflow: str,
    workdir: Path,
    base: str,
    branch: str,
    prompt: str,
    tracker: Tracker,
    checks: StepChecks,
) -> int:
    repo, number = task.repository, int(task.issue_number)
    git = Git(workdir, token=github.git_token(repo))
    git.clone_or_fetch(args.remote_url or remote_url(repo, step_settings(environ).git_url))
    reused = git.checkout_branch(branch, base)
    transcript.line(f"[step] implementing {repo}#{number} on {branch} ({'reused' if reused else 'new'} branch)")
    client = github.client
    existing = client.find_open_pull(repo, branch)  # a run on a branch with a PR reports on its head
    checks.started(
        existing.head_sha if existing else None,
        "Codex is implementing the approved plan",
        run_summary(changed="nothing yet", commands=[], blockers=[], workflow=workflow, details=checks.details),
    )

    first = [f"Workflow `{workflow}` is running Codex on branch `{branch}`."]
    on_progress = following(tracker, progress, publish, transcript, workdir, progress_interval(environ), first)
    result = transcript.run_codex(
        prompt, workdir, codex_options(args, environ), environ=environ, on_progress=on_progress
    )
    progress.validation = progress_comment.command_lines([(c.command, c.exit_code) for c in result.commands])
    if not result.ok:
        tracker.errors.append(result.failure_reason())
        raise StepFailed(f"Codex did not complete: {result.failure_reason()}")

    sha = git.commit_all(commit_message(task.issue_title, number, workflow, result.final_message))
    if git.commits_ahead(base) == 0:
        raise StepFailed("Codex finished without changing any file, so there is nothing to push or review.")
    git.push(branch)
    transcript.line(f"[step] pushed {branch} ({sha or 'no new commit'})")

    pull = client.find_open_pull(repo, branch)
    if pull is None:
        title = " ".join(clean(task.issue_title).split())[:200] or f"Codex changes for #{number}"
        body = (
            f"Closes #{number}\n\nDraft opened by Codex workflow `{workflow}` from the approved plan.\n\n"
            f"{result.final_message.strip()}\n"
        )
        pull = client.create_pull(repo, head=branch, base=base, title=title, body=body, draft=True)
        transcript.line(f"[step] opened draft PR #{pull.number}: {pull.html_url}")
    else:
        transcript.line(f"[step] reusing open PR #{pull.number}: {pull.html_url}")
    link = pr_link_marker(pull.number)
    if progress_comment.find_own(client, repo, number, link, author=github.planner_login) is None:
        client.create_issue_comment(
            repo, number, f"{link}\nCodex opened draft pull request #{pull.number}: {pull.html_url}\n"
        )

    progress.finish()
    progress.status = []
    progress.summary = result.final_message
    progress.links = [
        f"Pull request: #{pull.number} {pull.html_url}",
        f"Branch: `{branch}`",
        *[f"Commit {line}" for line in git.log_subjects(base, limit=5)],
        f"Transcript: `{LOG_FILE}` artifact of workflow `{workflow}`",
    ]
    publish()
    head = git.head()
    checks.finished(
        "success",
        f"Codex implemented the plan ({len(progress.steps)} item"
        f"{'s' if len(progress.steps) != 1 else ''}), draft PR #{pull.number}",
        run_summary(
            changed=f"{files_line(tracker.changed)}; pushed `{head[:12]}` to `{branch}`",
            commands=tracker.tests,
            blockers=[],
            workflow=workflow,
            details=checks.details,
        ),
        head=head,
    )
    decision(
        log, "implementation pushed", repository=repo, issue=number, workflow=workflow, branch=branch, pull=pull.number
    )
    return 0
