"""Typed views of the GitHub objects the pipeline reads.

Only the fields a decision needs are kept; ``raw`` keeps the full payload for the rare caller
that needs more (and for events that forward it unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Check-run conclusions that mean "this check failed" (the spec's failing checks).
FAILING_CONCLUSIONS = frozenset({"failure", "timed_out", "cancelled", "action_required", "startup_failure"})
# Commit status states that mean failure; "pending" is reported separately.
FAILING_STATUS_STATES = frozenset({"failure", "error"})


def split_repo(repo: str) -> tuple[str, str]:
    """``owner/name`` -> (owner, name); anything else can never address a repository."""
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return owner, name


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    html_url: str
    author: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Issue:
        return cls(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            html_url=str(data.get("html_url") or ""),
            author=str((data.get("user") or {}).get("login") or ""),
        )


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_association: str
    html_url: str
    created_at: str
    updated_at: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Comment:
        return cls(
            id=int(data["id"]),
            body=str(data.get("body") or ""),
            author=str((data.get("user") or {}).get("login") or ""),
            author_association=str(data.get("author_association") or "NONE"),
            html_url=str(data.get("html_url") or ""),
            created_at=str(data.get("created_at") or ""),
            updated_at=str(data.get("updated_at") or ""),
            raw=data,
        )


@dataclass(frozen=True)
class PullRequest:
    number: int
    node_id: str
    html_url: str
    title: str
    body: str
    state: str
    # GitHub's description does not require ``draft``: None means "not said", and the client asks
    # GraphQL's non-null ``isDraft`` before acting on it.
    draft: bool | None
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    mergeable: bool | None
    mergeable_state: str
    author: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PullRequest:
        head = data.get("head") or {}
        base = data.get("base") or {}
        mergeable = data.get("mergeable")
        return cls(
            number=int(data["number"]),
            node_id=str(data.get("node_id") or ""),
            html_url=str(data.get("html_url") or ""),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            state=str(data.get("state") or ""),
            draft=data["draft"] if isinstance(data.get("draft"), bool) else None,
            head_ref=str(head.get("ref") or ""),
            head_sha=str(head.get("sha") or ""),
            base_ref=str(base.get("ref") or ""),
            base_sha=str(base.get("sha") or ""),
            mergeable=None if mergeable is None else bool(mergeable),
            mergeable_state=str(data.get("mergeable_state") or "unknown"),
            author=str((data.get("user") or {}).get("login") or ""),
            raw=data,
        )


@dataclass(frozen=True)
class CheckRun:
    """A check run we created or found (issue 18: one per implementation or review run)."""

    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    html_url: str
    details_url: str
    external_id: str
    title: str
    summary: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CheckRun:
        output = data.get("output") or {}
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            head_sha=str(data.get("head_sha") or ""),
            status=str(data.get("status") or ""),
            conclusion=data.get("conclusion"),
            html_url=str(data.get("html_url") or ""),
            details_url=str(data.get("details_url") or ""),
            external_id=str(data.get("external_id") or ""),
            title=str(output.get("title") or ""),
            summary=str(output.get("summary") or ""),
        )


@dataclass(frozen=True)
class ReviewThread:
    """An unresolved review thread: its first comment summarises it."""

    id: str
    summary: str
    url: str
    author: str
    path: str = ""
    line: int | None = None
    outdated: bool = False


@dataclass(frozen=True)
class FailingCheck:
    name: str
    conclusion: str
    url: str
    kind: str = "check_run"  # or "status"
    details: str = ""


@dataclass(frozen=True)
class ChecksReport:
    """The failing and still-pending checks of one commit (check runs and commit statuses)."""

    sha: str
    failing: tuple[FailingCheck, ...] = ()
    pending: tuple[str, ...] = ()

    @property
    def green(self) -> bool:
        return not self.failing and not self.pending


# The checks the pipeline's own runs write (check runs, or commit statuses with a plain token).
OWN_CHECKS = frozenset({"codex / implementation", "codex / review"})


def combine_checks(sha: str, *results: tuple[list[FailingCheck], list[str]]) -> ChecksReport:
    """One report from check-run and commit-status results (fetched apart, maybe concurrently).

    The pipeline's own checks are left out: a review run still going or one that was cancelled
    is no work for a review pass and no reason to hold the handoff (the runs of one issue never
    overlap: they share a mutex)."""
    return ChecksReport(
        sha=sha,
        failing=tuple(f for failing, _ in results for f in failing if f.name not in OWN_CHECKS),
        pending=tuple(p for _, pending in results for p in pending if p not in OWN_CHECKS),
    )
