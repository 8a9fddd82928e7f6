"""The ``<!-- codex:progress -->`` comment: one per issue, edited in place from kickoff to recap.

Kickoff seeds a checklist from the plan's Task Breakdown and marks the active step; the final
recap checks the list and replaces the status block with the summary and validation notes. A
review pass adds (or replaces, when retried) its own section delimited by HTML comments, so
the implementation recap above it stays intact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from codex_pipeline.core.names import PROGRESS_MARKER as PROGRESS_MARKER  # one home: codex_pipeline.core.names
from codex_pipeline.core.untrusted import clean

REVIEW_START = "<!-- codex:review-pass -->"
REVIEW_END = "<!-- /codex:review-pass -->"

_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s+|\*\*)(?P<title>[^*#\n]+?)(?:\*\*)?\s*:?\s*$")
_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(?P<text>\S.*)$")


class CommentLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def html_url(self) -> str: ...


class AuthoredComment(CommentLike, Protocol):
    @property
    def author(self) -> str: ...


class CommentsClient(Protocol):
    """The three calls the progress comment needs (GitHubClient has them)."""

    def list_issue_comments(self, repo: str, number: int) -> Sequence[AuthoredComment]: ...
    def create_issue_comment(self, repo: str, number: int, body: str) -> CommentLike: ...
    def update_issue_comment(self, repo: str, comment_id: int, body: str) -> CommentLike: ...


def task_breakdown(plan: str, limit: int = 20) -> list[str]:
    """The top-level items under the plan's Task Breakdown heading (Markdown or bold heading)."""
    items: list[str] = []
    inside = False
    base_indent: int | None = None
    for line in clean(plan).splitlines():
        heading = _HEADING.match(line)
        if heading and not _ITEM.match(line):
            if inside:
                break
            inside = "task breakdown" in heading.group("title").lower()
            continue
        if not inside:
            continue
        item = _ITEM.match(line)
        if not item:
            continue
        indent = len(item.group("indent").expandtabs(4))
        if base_indent is None:
            base_indent = indent
        if indent == base_indent:
            text = " ".join(item.group("text").split())
            items.append(text[:200])
    return items[:limit]


@dataclass
class Progress:
    """What the comment shows; :meth:`render` turns it into the comment body."""

    title: str
    steps: list[str]
    done: set[int] = field(default_factory=set)
    active: int | None = 0
    status: list[str] = field(default_factory=list)
    summary: str = ""
    validation: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    failed: str | None = None
    marker: str = PROGRESS_MARKER

    def finish(self) -> None:
        self.done = set(range(len(self.steps)))
        self.active = None

    def render(self) -> str:
        lines = [self.marker, f"### {self.title}", ""]
        for index, step in enumerate(self.steps):
            box = "x" if index in self.done else " "
            suffix = " ← in progress" if index == self.active and index not in self.done and not self.failed else ""
            lines.append(f"- [{box}] {step}{suffix}")
        lines.append("")
        if self.failed:
            lines += ["#### ❌ Failed", "", self.failed, ""]
        if self.status:
            lines += ["#### Status", "", *[f"- {entry}" for entry in self.status], ""]
        if self.validation:
            lines += ["#### Validation", "", *[f"- {entry}" for entry in self.validation], ""]
        if self.summary:
            lines += ["#### Summary", "", self.summary.strip(), ""]
        if self.links:
            lines += [*[f"- {entry}" for entry in self.links], ""]
        return "\n".join(lines).rstrip() + "\n"


def with_marker(body: str, marker: str) -> str:
    """The body with ``marker`` as its first line (added when missing, never doubled)."""
    stripped = body.lstrip("\n")
    if stripped.startswith(marker):
        return stripped
    return f"{marker}\n{stripped.replace(marker, '')}"


def replace_section(body: str, section: str) -> str:
    """``body`` with its review-pass section replaced by ``section`` (appended when absent)."""
    block = f"{REVIEW_START}\n{section.strip()}\n{REVIEW_END}"
    start, end = body.find(REVIEW_START), body.find(REVIEW_END)
    if start != -1 and end > start:
        return body[:start] + block + body[end + len(REVIEW_END) :]
    return body.rstrip() + "\n\n" + block + "\n"


def find_own(
    client: CommentsClient,
    repo: str,
    number: int,
    marker: str,
    *,
    author: str | None = None,
    containing: str | None = None,
) -> AuthoredComment | None:
    """The latest comment whose body *starts* with ``marker`` (and holds ``containing``), by ``author`` if given.

    Our comments always open with their marker; a user's comment that merely mentions or quotes
    a marker is never taken for ours (so it is never edited, nor does it stop us posting).
    """
    wanted = author.lower() if author else None
    found = None
    for comment in client.list_issue_comments(repo, number):
        body = comment.body.lstrip()
        if not body.startswith(marker) or (containing is not None and containing not in body):
            continue
        if wanted is None or comment.author.lower() == wanted:
            found = comment
    return found


def upsert(
    client: CommentsClient,
    repo: str,
    number: int,
    body: str,
    *,
    marker: str = PROGRESS_MARKER,
    author: str | None = None,
) -> tuple[str, CommentLike]:
    """Edit the one comment carrying ``marker``, or create it; returns (``updated``|``created``, comment)."""
    existing = find_own(client, repo, number, marker, author=author)
    body = with_marker(body, marker)
    if existing is not None:
        if existing.body == body:
            return "unchanged", existing
        return "updated", client.update_issue_comment(repo, existing.id, body)
    return "created", client.create_issue_comment(repo, number, body)


def command_lines(commands: Sequence[tuple[str, int | None]], limit: int = 12) -> list[str]:
    shown = [
        f"`{command[:120]}` → {'exit ' + str(code) if code is not None else 'no exit code'}"
        for command, code in commands[-limit:]
    ]
    return shown or ["no commands were reported by Codex"]
