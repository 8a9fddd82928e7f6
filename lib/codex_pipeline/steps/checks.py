"""A step's check run: in progress when the step starts, its conclusion when it ends.

The report itself (check run or commit status, its texts) is :mod:`codex_pipeline.effects.checks`,
shared with the effect functions that queue it at submission; this module adds what only a step
knows: its settings from the environment and its transcript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codex_pipeline.effects.checks import RunReport, details_link, files_line, run_summary

if TYPE_CHECKING:
    from codex_pipeline.effects.github import GitHubClient
    from codex_pipeline.steps.context import Transcript
    from codex_pipeline.steps.tracker import Tracker


def details_url(environ: Mapping[str, str], workflow: str) -> str | None:
    """:func:`details_link` from the settings (``_FILE`` and the YAML file included, as the functions read them)."""
    from codex_pipeline.shell.config import load_settings

    settings = load_settings(environ)
    return details_link(settings.argo_ui_url, settings.workflow_namespace, workflow)


@dataclass
class StepChecks:
    """A step's check: opened on the head it starts from, completed there and on the head it pushed.

    GitHub shows a PR the checks of its current head: a run that pushes a new head completes its
    check on the head it started from and reports the same result on the new head."""

    client: GitHubClient
    repo: str
    stage: str
    workflow: str
    details: str | None
    transcript: Transcript
    start: RunReport | None = None

    def started(self, sha: str | None, title: str, summary: str) -> None:
        if sha:
            self.start = RunReport(self.client, self.repo, sha, self.stage, self.workflow, self.details)
            report_check(self.start, self.transcript, "in_progress", title, summary)

    def finished(self, conclusion: str, title: str, summary: str, head: str | None = None) -> None:
        reports = [self.start] if self.start is not None else []
        if head and (self.start is None or head != self.start.sha):
            reports.append(RunReport(self.client, self.repo, head, self.stage, self.workflow, self.details))
        for report in reports:
            report_check(report, self.transcript, conclusion, title, summary)

    def failed(self, title: str, tracker: Tracker, error: Exception) -> None:
        """The check of a run that failed: what changed and ran before it did, and the error as its blocker."""
        summary = run_summary(
            changed=files_line(tracker.changed),
            commands=tracker.tests,
            blockers=[str(error)],
            workflow=self.workflow,
            details=self.details,
        )
        self.finished("failure", title, summary)


def report_check(report: RunReport, transcript: Transcript, status: str, title: str, summary: str) -> None:
    """Update the run's check; a check GitHub refuses never fails the run (the exit handler tries again)."""
    from codex_pipeline.errors import PipelineError

    try:
        transcript.line(f"[step] {report.name}: {report.update(status, title, summary[:60_000])}")
    except PipelineError as exc:
        transcript.line(f"[step] {report.name} not updated: {exc}")
