"""``step plan``: the task becomes one ``<!-- codex:plan -->`` comment on the issue.

The comment's first line is the plan marker (promote-plan acts on it) and its second line
names the workflow that wrote it, so a retried step (same workflow name) edits its own
earlier comment instead of posting a second plan.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codex_pipeline.core.names import PLAN_MARKER, PROGRESS_MARKER
from codex_pipeline.shell.logs import decision, get_logger
from codex_pipeline.steps.context import (
    Transcript,
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
from codex_pipeline.steps.progress import find_own

OUTPUT_FILE = ".codex-plan-output.md"
LOG_FILE = ".codex-plan.log"

log = get_logger("codex_pipeline.steps.plan")


def run_marker(workflow: str) -> str:
    return f"<!-- codex:workflow {workflow} -->"


def plan_comment(message: str, workflow: str) -> str:
    """The comment body: marker, run marker, then Codex's plan without any marker of its own."""
    text = message.replace(PLAN_MARKER, "").replace(PROGRESS_MARKER, "").strip()
    return f"{PLAN_MARKER}\n{run_marker(workflow)}\n\n{text}\n"


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.core.prompts import planning_prompt

    environ = environ_of(args)
    task, _ = decode_task_json(read_input(args.payload_file, "PAYLOAD", environ), base64_encoded=None)
    workflow = workflow_name(args, environ)
    workdir = Path(args.workdir)
    output = Path(args.output or workdir / OUTPUT_FILE)
    if args.dry_run:
        return print_dry_run(
            "plan",
            {
                "repository": task.repository,
                "issue": task.issue_number,
                "base": task.base or "(the default branch)",
                "workflow": workflow,
                "comment": f"{PLAN_MARKER} + {run_marker(workflow)}, edited on retry",
                "output": output,
            },
            codex_options(args, environ),
            planning_prompt(task),
        )
    github = github_access(environ)
    repo, number = task.repository, int(task.issue_number)
    base = task.base or github.client.default_branch(repo)

    token = github.git_token(repo)
    with (
        discord_tee("planning", repo, number, workflow, environ) as discord,
        Transcript(
            Path(args.log or workdir / LOG_FILE), [t for t in (discord,) if t], secrets_of(environ, token)
        ) as transcript,
    ):
        git = Git(workdir, token=token)
        git.clone_or_fetch(args.remote_url or remote_url(repo, step_settings(environ).git_url))
        git.checkout_detached(base)
        transcript.line(f"[step] planning {repo}#{number} at {base} (workflow {workflow})")
        result = transcript.run_codex(planning_prompt(task), workdir, codex_options(args, environ), environ=environ)
        if output.is_symlink():  # planted by the agent in the tree: never write through it
            output.unlink()
        if not result.ok:
            reason = result.failure_reason()
            output.write_text(f"Planning failed for {repo}#{number}: {reason}\n")
            decision(log, "planning failed", repository=repo, issue=number, workflow=workflow, reason=reason)
            print(f"codex-pipeline step plan: {reason}", file=sys.stderr)
            return 1

        body = plan_comment(result.final_message, workflow)
        existing = find_own(
            github.client, repo, number, PLAN_MARKER, containing=run_marker(workflow), author=github.planner_login
        )
        if existing is not None:
            comment = github.client.update_issue_comment(repo, existing.id, body)
            action = "updated"
        else:
            comment = github.client.create_issue_comment(repo, number, body)
            action = "created"
        transcript.line(f"[step] plan comment {action}: {comment.html_url}")
    output.write_text(body + f"\n<!-- {action} {comment.html_url} -->\n")
    decision(log, "plan posted", repository=repo, issue=number, workflow=workflow, action=action, comment=comment.id)
    return 0
