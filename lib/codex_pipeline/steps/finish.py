"""``step finish``: every WorkflowTemplate's ``onExit`` step, run whatever happened to the main step.

A step killed from outside (out of memory, eviction, the workflow's deadline, ``argo stop``)
never writes its own recap, so the progress comment would say "in progress" for ever and the
check run would stay open. This step runs after the workflow, reads ``{{workflow.status}}``
and ``{{workflow.failures}}`` (environment, never argv: failures may quote step output), and

- turns a stale progress comment (implementation: still "in progress"; review: its section
  still "Started") into a failure or cancellation recap;
- completes the run's check run (or commit status) when the step left it open (a cancelled run
  that never reported adds none);
- for planning, posts one failure note on the issue when no plan was posted.

When the pipeline stopped the run (``@<bot> cancel``, or a newer run of the issue superseding it)
the Workflow's ``codex.stop-reason`` annotation says who or what (read from
``CODEX_WORKFLOW_ANNOTATIONS``, Argo's ``{{workflow.annotations.json}}``; ``CODEX_STOP_REASON`` when
set directly), and the recap says "Cancelled by alice" or "Superseded by <newer workflow>" instead
of Argo's message.

It is idempotent: a second run finds the recap written and the check completed and changes
nothing. A workflow that succeeded with its recap written changes nothing either.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping

from codex_pipeline.effects.argo import ANNOTATION_STOP_REASON
from codex_pipeline.effects.checks import RunReport
from codex_pipeline.shell.logs import decision, get_logger
from codex_pipeline.steps import progress as progress_comment
from codex_pipeline.steps.checks import details_url
from codex_pipeline.steps.context import (
    branch_prefix,
    decode_task_json,
    environ_of,
    github_access,
    read_input,
    step_settings,
    workflow_name,
)
from codex_pipeline.wire import tasks

log = get_logger("codex_pipeline.steps.finish")
IN_PROGRESS = " ← in progress"
_STATUS_BLOCK = re.compile(r"#### Status\n.*?(?=\n#### |\n- (?:Pull request|Branch|Transcript)|\Z)", re.S)


def outcome(status: str, failures: str) -> str:
    """The check-run conclusion for Argo's ``workflow.status`` and ``workflow.failures``."""
    if status == "Succeeded":
        return "success"
    text = failures.lower()
    if any(word in text for word in ("terminated", "stopped", "shutdown", "cancel")):
        return "cancelled"
    if "deadline" in text:
        return "timed_out"
    return "failure"


def failure_reason(status: str, failures: str) -> str:
    """One line from ``workflow.failures`` (JSON list of {displayName, message, ...})."""
    try:
        items = json.loads(failures) if failures.strip() else []
    except json.JSONDecodeError:
        items = []
    messages = [
        f"{item.get('displayName') or item.get('templateName') or 'step'}: {item.get('message') or ''}"
        for item in items
        if isinstance(item, dict)
    ]
    text = "; ".join(m.strip() for m in messages if m.strip()) or f"the workflow ended {status or 'unexpectedly'}"
    return " ".join(text.split())[:500]


def stop_reason(environ: Mapping[str, str]) -> str:
    """The ``codex.stop-reason`` annotation from the annotations JSON ('' when absent or unreadable)."""
    if environ.get("CODEX_STOP_REASON"):
        return environ["CODEX_STOP_REASON"]
    try:
        annotations = json.loads(environ.get("CODEX_WORKFLOW_ANNOTATIONS") or "{}")
    except json.JSONDecodeError:
        return ""
    reason = annotations.get(ANNOTATION_STOP_REASON) if isinstance(annotations, dict) else None
    return reason if isinstance(reason, str) else ""


def stop_note(stop_reason: str, environ: Mapping[str, str]) -> str:
    """The recap's sentence for the pipeline's stop reason ('' when none): a superseding run named
    and linked to its Argo page when ``CODEX_ARGO_UI_URL`` is set. The reason is the pipeline's own
    text (a login, a workflow name); it is flattened and capped all the same."""
    reason = " ".join(stop_reason.split())[:300]
    if not reason:
        return ""
    newer = reason.removeprefix("superseded by ").strip() if reason.startswith("superseded by ") else ""
    if newer and " " not in newer:
        url = details_url(environ, newer)
        return f"Superseded by [`{newer}`]({url})." if url else f"Superseded by `{newer}`."
    return reason[0].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def stale_implementation(body: str) -> bool:
    return IN_PROGRESS in body or not any(h in body for h in ("#### Summary", "#### ❌ Failed", "#### ⏹"))


def implementation_recap(body: str, conclusion: str, reason: str, workflow: str) -> str:
    heading = "#### ⏹ Cancelled" if conclusion in ("cancelled", "timed_out") else "#### ❌ Failed"
    text = _STATUS_BLOCK.sub("", body.replace(IN_PROGRESS, "")).rstrip()
    return (
        f"{text}\n\n{heading}\n\n{reason}\n\nRecorded by the exit handler of workflow `{workflow}`: the step "
        "itself did not finish. The transcript is in the workflow's artifacts.\n"
    )


def stale_review(body: str) -> bool:
    start, end = body.find(progress_comment.REVIEW_START), body.find(progress_comment.REVIEW_END)
    if start == -1 or end < start:
        return False
    section = body[start:end]
    return "Started on" in section and not any(w in section for w in ("❌", "⏹", "Pushed", "changed nothing"))


def run(args: argparse.Namespace) -> int:
    environ = environ_of(args)
    stage = args.finish_stage
    workflow = workflow_name(args, environ)
    status = args.workflow_status or environ.get("WORKFLOW_STATUS", "")
    failures = environ.get("WORKFLOW_FAILURES", "")
    conclusion = outcome(status, failures)
    reason = failure_reason(status, failures)
    note = stop_note(stop_reason(environ), environ)
    if note and conclusion != "success":  # the pipeline stopped it: say who or what, not Argo's message
        conclusion, reason = "cancelled", note
    github = github_access(environ)
    client = github.client
    marker = step_settings(environ).progress_marker
    done: list[str] = []
    if stage == "plan":
        task, _ = decode_task_json(read_input(args.payload_file, "PAYLOAD", environ), base64_encoded=None)
        repo, number = task.repository, int(task.issue_number)
        if conclusion != "success":
            note = f"<!-- codex:plan-failed {workflow} -->"
            if progress_comment.find_own(client, repo, number, note, author=github.planner_login) is None:
                client.create_issue_comment(
                    repo,
                    number,
                    f"{note}\nCodex could not post a plan: {reason} (workflow `{workflow}`, {conclusion}).",
                )
                done.append("plan failure noted")
        return _report(done, stage, workflow, conclusion)
    task, _ = decode_task_json(read_input(args.event_body_file, "EVENT_BODY", environ), base64_encoded=True)
    repo, number = task.repository, int(task.issue_number)
    if stage == "review":
        from codex_pipeline.steps.review import issue_of_branch, review_section

        pull = client.get_pull(repo, tasks.pull_request_of(task))
        issue = issue_of_branch(task.head or pull.head_ref, number, branch_prefix(environ))
        sha: str | None = pull.head_sha
        existing = progress_comment.find_own(client, repo, issue, marker, author=github.planner_login)
        if existing is not None and stale_review(existing.body) and conclusion != "success":
            failed = ("cancelled: " if conclusion in ("cancelled", "timed_out") else "") + reason
            section = review_section(
                workflow, ["Recorded by the exit handler: the step did not finish."], failed=failed
            )
            progress_comment.upsert(
                client,
                repo,
                issue,
                progress_comment.replace_section(existing.body, section),
                marker=marker,
                author=github.planner_login,
            )
            done.append("review section recapped")
    else:
        from codex_pipeline.steps.implement import branch_for

        found = client.find_open_pull(repo, branch_for(task.head, number, task.issue_title, branch_prefix(environ)))
        sha = found.head_sha if found is not None else None
        existing = progress_comment.find_own(client, repo, number, marker, author=github.planner_login)
        if existing is not None and stale_implementation(existing.body) and conclusion != "success":
            progress_comment.upsert(
                client,
                repo,
                number,
                implementation_recap(existing.body, conclusion, reason, workflow),
                marker=marker,
                author=github.planner_login,
            )
            done.append("progress comment recapped")
    if sha:
        report = RunReport(github.checks, repo, sha, stage, workflow, details_url(environ, workflow))
        # A run stopped before it reported anything (superseded while queued) adds no check: the
        # newer run's check on this head is the one the PR should show.
        if not report.completed() and (conclusion != "cancelled" or report.exists()):
            title = {
                "success": "Codex run finished",
                "cancelled": "Codex run cancelled",
                "timed_out": "Codex run timed out",
            }.get(conclusion, "Codex run failed")
            done.append(
                report.update(
                    conclusion, title, reason if conclusion != "success" else f"Workflow `{workflow}` succeeded."
                )
            )
    return _report(done, stage, workflow, conclusion)


def _report(done: list[str], stage: str, workflow: str, conclusion: str) -> int:
    decision(
        log, "exit handler", stage=stage, workflow=workflow, conclusion=conclusion, changed=", ".join(done) or "nothing"
    )
    print(f"step finish ({stage}, {conclusion}): {', '.join(done) or 'nothing to change'}")
    return 0
