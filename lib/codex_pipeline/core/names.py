"""The names the pipeline writes on GitHub and reads back: branches, markers, the mention.

The router puts a branch in a task, the step pushes it, request-review recognises it and the
review step reads the issue back out of it; the planner writes a marker that the router, the
policy and promote-plan look for. Each of these rules lives here once, so the router and the
steps can never build two different branches for one title again (they once did: NFKD and 48
characters in one, neither in the other).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from codex_pipeline.core import untrusted

DEFAULT_BRANCH_PREFIX = "codex/"
DEFAULT_BOT_MENTION = "@tuslagch"
DEFAULT_IMPLEMENTATION_TRIGGER = "execute plan"
# Discord REST base: a setting default (config) and what the REST client calls (discord.rest).
DEFAULT_DISCORD_API_URL = "https://discord.com/api/v10"
SLUG_LIMIT = 48

# Markers: HTML comments GitHub hides when rendering, so a comment is found again by its marker.
PLAN_MARKER = "<!-- codex:plan -->"
PROGRESS_MARKER = "<!-- codex:progress -->"
READY_MARKER = "<!-- codex:ready-to-merge -->"


def holds_plan_marker(text: str) -> bool:
    """Whether ``text`` carries the plan marker.

    Its first character is tested alone first, at memchr speed: the marker's letters fill
    ordinary text, so the plain substring test steps through a body nearly one position at a
    time (25 us for route-task's 11 KB bench issue, 0.1 us with the test first)."""
    return "<" in text and PLAN_MARKER in text


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/$")


def slug(title: str, limit: int = SLUG_LIMIT) -> str:
    """Lower-case ``a-z0-9`` and dashes from a title, at most ``limit`` long ('task' if empty).

    Invisible characters go first (as everywhere untrusted text is read), then accents are
    folded (NFKD: "Café" -> "cafe"); scripts without an ASCII form and emoji drop out."""
    cleaned = untrusted.clean(title[: limit * 8])
    # NFKD leaves ASCII as it is: most titles skip the Unicode tables (cold, they cost a delivery
    # more than the rest of the slug)
    folded = (
        cleaned
        if cleaned.isascii()
        else unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode("ascii")
    )
    value = _NOT_SLUG.sub("-", folded.lower()).strip("-")[:limit].rstrip("-")
    return value or "task"


def check_prefix(prefix: str) -> str:
    """A branch prefix git accepts and that ends with '/', or ValueError saying why not."""
    value = prefix.strip()
    if (
        not _PREFIX.match(value)
        or ".." in value
        or any(part.startswith(".") or part.endswith(".lock") for part in value.split("/") if part)
    ):
        raise ValueError(
            f"expected a branch prefix such as 'codex/' (letters, digits, '.', '_', '-' and "
            f"ending with '/'), got {prefix!r}"
        )
    return value


def head_branch(issue_number: int, title: str, prefix: str = DEFAULT_BRANCH_PREFIX) -> str:
    """The branch of new work for an issue: ``<prefix>issue-<n>-<slug>`` (default ``codex/``)."""
    return f"{prefix}issue-{int(issue_number)}-{slug(title)}"


def issue_of_branch(branch: str, prefix: str = DEFAULT_BRANCH_PREFIX) -> int | None:
    """The issue a branch of ours names (``codex/issue-9-…`` -> 9); None for any other branch."""
    if not branch.startswith(prefix):
        return None
    match = re.match(r"issue-([1-9][0-9]{0,17})(?:-|$)", branch[len(prefix) :])
    return int(match.group(1)) if match else None


def mention_of(value: str | None) -> str:
    """``tuslagch`` or ``@tuslagch`` -> ``@tuslagch`` (the default when empty)."""
    mention = (value or "").strip()
    if mention and not mention.startswith("@"):
        mention = "@" + mention
    return mention or DEFAULT_BOT_MENTION


def plan_digest(text: str) -> str:
    """SHA-256 (hex) of a plan comment's text: what an approval is pinned to."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
