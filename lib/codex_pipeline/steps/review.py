"""``step review``: one Codex pass over review threads, failing checks and merge conflicts.

It reuses the PR branch (never opens a PR), pushes what Codex changed, and writes its own
review-pass section into the issue's progress comment (the issue is the one in the branch name
``codex/issue-<n>-…``; the PR itself when the branch does not say). A retried pass replaces
that section instead of adding another. The PR is the task's ``pull_request_number``
(``issue_number`` in a task from before that field existed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from codex_pipeline.core.names import issue_of_branch as _issue_of_branch
from codex_pipeline.effects.checks import files_line, run_summary
from codex_pipeline.errors import PipelineError, StepError, StepFailed
from codex_pipeline.shell.logs import decision, get_logger
from codex_pipeline.steps import progress as progress_comment
from codex_pipeline.steps.checks import StepChecks, details_url
from codex_pipeline.steps.context import (
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
from codex_pipeline.steps.git import Git, remote_url
from codex_pipeline.steps.tracker import Tracker
from codex_pipeline.wire import tasks

if TYPE_CHECKING:
    from codex_pipeline.steps.codex import CodexResult

LOG_FILE = ".codex-review.log"
log = get_logger("codex_pipeline.steps.review")


def issue_of_branch(branch: str, fallback: int, prefix: str) -> int:
    return _issue_of_branch(branch, prefix) or fallback


def review_section(workflow: str, lines: list[str], summary: str = "", failed: str | None = None) -> str:
    out = [f"#### Review pass (workflow `{workflow}`)", ""]
    if failed:
        out += [f"❌ {failed}", ""]
    out += [f"- {line}" for line in lines]
    if summary.strip():
        out += ["", summary.strip()]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.core.prompts import review_prompt

    environ = environ_of(args)
    task, raw = decode_task_json(read_input(args.event_body_file, "EVENT_BODY", environ), base64_encoded=True)
    workflow = workflow_name(args, environ)
    workdir = Path(args.workdir)
    repo = task.repository
    pr_number = tasks.pull_request_of(task)
    prefix = branch_prefix(environ)
    branch, base = task.head, task.base
    raw_context = raw.get("reviewContext") if isinstance(raw.get("reviewContext"), dict) else {}
    if args.dry_run:
        shown = branch or "(the pull request's head branch)"
        return print_dry_run(
            "review",
            {
                "repository": repo,
                "pull request": pr_number,
                "branch": shown,
                "progress comment on issue": issue_of_branch(branch, pr_number, prefix),
                "workflow": workflow,
                "log": args.log or workdir / LOG_FILE,
            },
            codex_options(args, environ),
            review_prompt(task, shown, raw_context or {}),
        )
    github = github_access(environ)
    client = github.client
    pull = client.get_pull(repo, pr_number)  # its head is where the run's check is
    branch, base = branch or pull.head_ref, base or pull.base_ref
    issue = issue_of_branch(branch, pr_number, prefix)
    marker = step_settings(environ).progress_marker

    def publish(section: str) -> None:
        existing = progress_comment.find_own(client, repo, issue, marker, author=github.planner_login)
        current = existing.body if existing is not None else f"{marker}\n### Codex progress for #{issue}\n"
        progress_comment.upsert(
            client,
            repo,
            issue,
            progress_comment.replace_section(current, section),
            marker=marker,
            author=github.planner_login,
        )

    context = task.review_context
    started = [
        f"Started on `{branch}`: {len(context.review_threads)} unresolved thread(s), "
        f"{len(context.failing_checks)} failing check(s)."
    ]
    token = github.git_token(repo)
    with (
        discord_tee("review", repo, pr_number, workflow, environ) as discord,
        Transcript(
            Path(args.log or workdir / LOG_FILE), [t for t in (discord,) if t], secrets_of(environ, token)
        ) as transcript,
    ):
        publish(review_section(workflow, started))
        checks = StepChecks(github.checks, repo, "review", workflow, details_url(environ, workflow), transcript)
        checks.started(
            pull.head_sha,
            "Codex is working the review feedback",
            run_summary(
                changed="nothing yet",
                commands=[],
                blockers=[context.summary] if context.summary else [],
                workflow=workflow,
                details=checks.details,
            ),
        )
        tracker = Tracker([], after_last="push the fixes to the pull request branch")

        def on_progress(kind: str, result: CodexResult) -> None:
            """The review section follows Codex at milestones (a test run, a blocker)."""
            from codex_pipeline.steps.implement import relative

            if tracker.update(
                kind,
                todo=result.todo,
                files=relative(result.changed_files, workdir),
                commands=[(c.command, c.exit_code) for c in result.commands],
            ):
                try:
                    publish(review_section(workflow, [*started, *tracker.status()[1:]]))
                except PipelineError as exc:  # a missed progress update never stops the run
                    transcript.line(f"[step] progress update skipped: {exc}")

        try:
            git = Git(workdir, token=token)
            git.clone_or_fetch(args.remote_url or remote_url(repo, step_settings(environ).git_url))
            if not git.checkout_branch(branch, base):
                raise StepFailed(f"the pull request branch `{branch}` does not exist on the remote")
            transcript.line(f"[step] review pass on {repo}#{pr_number} ({branch})")
            result = transcript.run_codex(
                review_prompt(task, branch, raw_context or {}),
                workdir,
                codex_options(args, environ),
                environ=environ,
                on_progress=on_progress,
            )
            validation = progress_comment.command_lines([(c.command, c.exit_code) for c in result.commands])
            if not result.ok:
                raise StepFailed(f"Codex did not complete: {result.failure_reason()}")
            git.commit_all(f"codex: address review feedback on #{pr_number}\n\nCodex workflow: {workflow}\n")
            # Codex may have committed on its own: push whatever HEAD has that the remote branch lacks.
            sha = git.head() if git.commits_ahead(branch) else None
            if sha:
                git.push(branch)
                transcript.line(f"[step] pushed {sha} to {branch}")
            outcome = f"Pushed `{sha[:12]}` to `{branch}`." if sha else "Codex changed nothing; nothing pushed."
        except (StepError, PipelineError) as exc:
            transcript.line(f"[step] failed: {exc}")
            try:
                publish(review_section(workflow, [f"Transcript: `{LOG_FILE}` artifact."], failed=str(exc)))
            except PipelineError as again:  # GitHub itself is down: the exit status still tells Argo
                transcript.line(f"[step] could not write the failure recap: {again}")
            checks.failed("Codex could not finish the review pass", tracker, exc)
            decision(log, "review failed", repository=repo, pull=pr_number, workflow=workflow, reason=str(exc))
            print(f"codex-pipeline step review: {exc}", file=sys.stderr)
            return 1
        publish(
            review_section(
                workflow, [outcome, *[f"Validation: {line}" for line in validation]], summary=result.final_message
            )
        )
        changed = files_line(tracker.changed) + (f"; pushed `{sha[:12]}` to `{branch}`" if sha else "; nothing pushed")
        checks.finished(
            "success" if sha else "neutral",
            "Codex pushed a review pass" if sha else "Codex found nothing to change",
            run_summary(
                changed=changed,
                commands=tracker.tests,
                blockers=tracker.blockers(),
                workflow=workflow,
                details=checks.details,
            ),
            head=sha,
        )
    decision(log, "review pass done", repository=repo, pull=pr_number, workflow=workflow, pushed=bool(sha))
    return 0
