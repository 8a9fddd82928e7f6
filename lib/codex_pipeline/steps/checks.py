"""Where a run shows on the pull request: a check run, or a commit status with a plain token.

GitHub lets only GitHub Apps write check runs; with a personal or workflow token the run is
reported as a commit status with the same context instead (README "Check runs on the PR").
One report per (stage, workflow): a check run is found again by its name and ``external_id``
(the workflow name), so a retried step or the exit handler edits the same run, and completing
an already completed run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codex_pipeline.github import CheckRun, GitHubClient
    from codex_pipeline.steps.context import Transcript

CHECK_NAMES = {"implement": "codex / implementation", "review": "codex / review"}
# Check-run conclusions a run ends with, and the commit-status state each becomes.
STATUS_OF = {"queued": "pending", "in_progress": "pending", "success": "success", "failure": "failure",
             "cancelled": "error", "timed_out": "error", "neutral": "success"}


def details_url(environ: Mapping[str, str], workflow: str) -> str | None:
    """``CODEX_ARGO_UI_URL`` with ``{namespace}`` and ``{workflow}`` filled in (the Argo UI's workflow page)."""
    from codex_pipeline.config import load_settings

    settings = load_settings(environ)  # the same settings the functions read, _FILE and YAML file included
    template = (settings.argo_ui_url or "").strip()
    if not template or not workflow:
        return None
    namespace = settings.workflow_namespace
    return template.replace("{namespace}", namespace).replace("{workflow}", workflow)


def uses_check_runs(client: GitHubClient) -> bool:
    from codex_pipeline.github import AppAuth

    return isinstance(client.auth, AppAuth)


@dataclass
class RunReport:
    """The check run (or commit status) of one workflow's run on one commit."""

    client: GitHubClient
    repo: str
    sha: str
    stage: str
    workflow: str
    details: str | None = None

    @property
    def name(self) -> str:
        return CHECK_NAMES[self.stage]

    def _find(self) -> CheckRun | None:
        found = self.client.find_check_run(self.repo, self.sha, self.name)
        return found if found is not None and found.external_id == self.workflow else None

    def update(self, status: str, title: str, summary: str) -> str:
        """``status`` is queued, in_progress or a conclusion; returns what was done (for logs and tests)."""
        conclusion = status if status not in ("queued", "in_progress") else None
        if not uses_check_runs(self.client):
            self.client.create_commit_status(self.repo, self.sha, state=STATUS_OF[status], context=self.name,
                                             description=title, target_url=self.details)
            return f"status {STATUS_OF[status]}"
        existing = self._find()
        if existing is None:
            self.client.create_check_run(
                self.repo, head_sha=self.sha, name=self.name, status=status if conclusion is None else "completed",
                conclusion=conclusion, details_url=self.details, external_id=self.workflow, title=title,
                summary=summary)
            return f"check run created {status}"
        if existing.status == "completed":
            return "check run already completed"  # the exit handler after the step: nothing to change
        self.client.update_check_run(self.repo, existing.id, status=None if conclusion else status,
                                     conclusion=conclusion, details_url=self.details, title=title, summary=summary)
        return f"check run {status}"

    def completed(self) -> bool:
        """Whether this run's report is final: its check run completed, or its commit status no longer pending."""
        if not uses_check_runs(self.client):
            owner, name = self.repo.split("/", 1)
            data = self.client.rest("GET", f"/repos/{owner}/{name}/commits/{self.sha}/status", repo=self.repo,
                                    what=f"commit status of {self.sha[:12]}")
            states = [s.get("state") for s in (data or {}).get("statuses") or [] if s.get("context") == self.name]
            return bool(states) and states[-1] != "pending"
        existing = self._find()
        return existing is not None and existing.status == "completed"


def report_check(report: RunReport, transcript: Transcript, status: str, title: str, summary: str) -> None:
    """Update the run's check; a check GitHub refuses never fails the run (the exit handler tries again)."""
    from codex_pipeline.errors import PipelineError

    try:
        transcript.line(f"[step] {report.name}: {report.update(status, title, summary[:60_000])}")
    except PipelineError as exc:
        transcript.line(f"[step] {report.name} not updated: {exc}")
