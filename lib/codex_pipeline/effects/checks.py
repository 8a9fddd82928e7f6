"""Where a run shows on the pull request: a check run, or a commit status with a plain token.

Shared by the effect functions (``queued`` at submission, handlers/queued_check) and the steps
(:mod:`codex_pipeline.steps.checks`: in progress, and the end), so it lives with the effects.

GitHub lets only GitHub Apps write check runs: with App credentials (``CODEX_GITHUB_APP_ID`` +
``CODEX_GITHUB_APP_PRIVATE_KEY``, also beside a token) the run is a check run; with a personal
or workflow token alone it is reported as a commit status with the same context instead (README
"Check runs on the PR").

The lifecycle of one run's check (implementation and review runs; planning reports on the issue):
``queued`` when the effect function submits the Workflow (on the PR head, when there is a PR),
``in_progress`` when the step starts, ``success``/``failure``/``neutral`` when it ends, and
``cancelled``/``timed_out``/``failure`` from the exit handler when the step never got there.
One report per (stage, workflow): a check run is found again by its name and ``external_id``
(the workflow name), so a redelivered submission, a retried step or the exit handler edits the
same run, and completing an already completed run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codex_pipeline.effects.github import CheckRun, GitHubClient

CHECK_NAMES = {"implement": "codex / implementation", "review": "codex / review"}  # github.models.OWN_CHECKS
# Check-run statuses and conclusions, and the commit-status state each becomes.
STATUS_OF = {
    "queued": "pending",
    "in_progress": "pending",
    "success": "success",
    "failure": "failure",
    "cancelled": "error",
    "timed_out": "error",
    "neutral": "success",
}
# A command Codex ran that runs tests (its result goes into the summary and the progress comment).
_TEST_COMMAND = re.compile(
    r"\b(pytest|py\.test|tox|nox|unittest|jest|vitest|mocha|rspec|phpunit|ctest"
    r"|(?:go|cargo|npm|pnpm|yarn|bun|mix|dotnet|gradle|mvn|deno|swift)\s+(?:run\s+)?test"
    r"|make\s+(?:test|check)\b)"
)


def details_link(template: str | None, namespace: str, workflow: str) -> str | None:
    """``CODEX_ARGO_UI_URL`` with ``{namespace}`` and ``{workflow}`` filled in (the Argo UI's workflow page)."""
    template = (template or "").strip()
    if not template or not workflow:
        return None
    return template.replace("{namespace}", namespace).replace("{workflow}", workflow)


def uses_check_runs(client: GitHubClient) -> bool:
    from codex_pipeline.effects.github import AppAuth

    return isinstance(client.auth, AppAuth)


def is_test_command(command: str) -> bool:
    return bool(_TEST_COMMAND.search(command))


def tests_line(commands: Sequence[tuple[str, int | None]]) -> str:
    """The test commands Codex ran and how they ended, newest last (``none`` when it ran none)."""
    tests = [(command, code) for command, code in commands if is_test_command(command)]
    if not tests:
        return "none reported by Codex"
    shown = [
        f"`{command[:100]}` {'passed' if code == 0 else 'failed' if code else 'ended without exit code'}"
        + (f" (exit {code})" if code else "")
        for command, code in tests[-3:]
    ]
    return "; ".join(shown)


def run_summary(
    *,
    changed: str,
    commands: Sequence[tuple[str, int | None]],
    blockers: Sequence[str],
    workflow: str,
    details: str | None = None,
) -> str:
    """A check run's summary: what changed, the tests Codex ran, what blocks the run (Markdown)."""
    lines = [
        f"**What changed:** {changed}",
        "",
        f"**Tests run:** {tests_line(commands)}",
        "",
        f"**Blockers:** {'; '.join(blockers) if blockers else 'none'}",
        "",
    ]
    run = f"[`{workflow}`]({details})" if details else f"`{workflow}`"
    lines.append(f"Workflow {run}; the transcript is in its artifacts.")
    return "\n".join(lines)


def files_line(files: Sequence[str], limit: int = 8) -> str:
    if not files:
        return "no files"
    shown = ", ".join(f"`{path}`" for path in files[:limit])
    more = f" and {len(files) - limit} more" if len(files) > limit else ""
    return f"{len(files)} file{'s' if len(files) != 1 else ''}: {shown}{more}"


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
        return self.client.find_check_run(self.repo, self.sha, self.name, external_id=self.workflow)

    def queue(self, title: str, summary: str) -> str:
        """``queued`` once per run: a check run (or status) that exists already is left as it is."""
        if uses_check_runs(self.client) and self._find() is not None:
            return "check run already there"
        return self.update("queued", title, summary)

    def update(self, status: str, title: str, summary: str) -> str:
        """``status`` is queued, in_progress or a conclusion; returns what was done (for logs and tests)."""
        conclusion = status if status not in ("queued", "in_progress") else None
        if not uses_check_runs(self.client):
            self.client.create_commit_status(
                self.repo,
                self.sha,
                state=STATUS_OF[status],
                context=self.name,
                description=title,
                target_url=self.details,
            )
            return f"status {STATUS_OF[status]}"
        existing = self._find()
        if existing is None:
            self.client.create_check_run(
                self.repo,
                head_sha=self.sha,
                name=self.name,
                status=status if conclusion is None else "completed",
                conclusion=conclusion,
                details_url=self.details,
                external_id=self.workflow,
                title=title,
                summary=summary,
            )
            return f"check run created {status}"
        if existing.status == "completed":
            return "check run already completed"  # the exit handler after the step: nothing to change
        self.client.update_check_run(
            self.repo,
            existing.id,
            status=None if conclusion else status,
            conclusion=conclusion,
            details_url=self.details,
            title=title,
            summary=summary,
        )
        return f"check run {status}"

    def exists(self) -> bool:
        """Whether this run reported anything on this commit (a check run of its own, or a status)."""
        if not uses_check_runs(self.client):
            return bool(self._statuses())
        return self._find() is not None

    def completed(self) -> bool:
        """Whether this run's report is final: its check run completed, or its commit status no longer pending."""
        if not uses_check_runs(self.client):
            states = self._statuses()
            return bool(states) and states[-1] != "pending"
        existing = self._find()
        return existing is not None and existing.status == "completed"

    def _statuses(self) -> list[str]:
        owner, name = self.repo.split("/", 1)
        data = self.client.rest(
            "GET",
            f"/repos/{owner}/{name}/commits/{self.sha}/status",
            repo=self.repo,
            what=f"commit status of {self.sha[:12]}",
        )
        return [str(s.get("state")) for s in (data or {}).get("statuses") or [] if s.get("context") == self.name]
