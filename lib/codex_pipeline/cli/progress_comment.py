"""``codex-pipeline progress-comment``: create or edit the one comment that carries a marker.

Body from stdin or ``--body-file``; issue from ``--repo``/``--issue`` or ``ISSUE_REPO``/``ISSUE_NUMBER``;
marker from ``--marker`` or ``CODEX_PROGRESS_COMMENT_MARKER`` (default ``<!-- codex:progress -->``);
each action is appended to ``CODEX_PROGRESS_COMMENT_LOG_PATH`` when set. ``--dry-run`` prints
the resolved action and body and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from codex_pipeline.core.names import PROGRESS_MARKER as DEFAULT_MARKER  # the one home of the marker

if TYPE_CHECKING:
    from codex_pipeline.shell.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=os.environ.get("ISSUE_REPO"), help="owner/name (default: $ISSUE_REPO)")
    parser.add_argument(
        "--issue", type=int, default=_int(os.environ.get("ISSUE_NUMBER")), help="issue number (default: $ISSUE_NUMBER)"
    )
    parser.add_argument(
        "--marker",
        help=f"marker of the comment (default: the setting CODEX_PROGRESS_COMMENT_MARKER, else {DEFAULT_MARKER})",
    )
    parser.add_argument("--body-file", help="read the body from this file instead of stdin")
    parser.add_argument("--dry-run", action="store_true", help="print the action and body; change nothing")


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _has_credentials(settings: Settings) -> bool:
    from codex_pipeline.steps.context import github_token

    return bool(settings.github_token or settings.github_app_id or github_token(os.environ))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from codex_pipeline.shell.config import load_settings
    from codex_pipeline.steps.progress import with_marker

    settings = load_settings()
    args.marker = args.marker or settings.progress_marker

    if not args.repo or not args.issue:
        print("progress-comment: set --repo/--issue or ISSUE_REPO/ISSUE_NUMBER", file=sys.stderr)
        return 2
    raw = Path(args.body_file).read_text() if args.body_file else sys.stdin.read()
    if not raw.strip():
        print("progress-comment: the body is empty", file=sys.stderr)
        return 2
    body = with_marker(raw, args.marker)
    log_path = settings.progress_log_path

    from codex_pipeline.errors import PipelineError
    from codex_pipeline.steps.context import github_access
    from codex_pipeline.steps.progress import find_own, upsert

    try:
        if args.dry_run and not _has_credentials(settings):
            print(
                f"progress-comment (dry run): would create or update the comment carrying {args.marker} on "
                f"{args.repo}#{args.issue} (no GitHub credentials, not looked up)\n---\n{body}",
                end="",
            )
            return 0
        github = github_access(os.environ)
        if args.dry_run:
            existing = find_own(github.client, args.repo, args.issue, args.marker, author=github.planner_login)
            action = f"update comment {existing.id}" if existing is not None else "create a comment"
            print(
                f"progress-comment (dry run): would {action} on {args.repo}#{args.issue} "
                f"(marker {args.marker})\n---\n{body}",
                end="" if body.endswith("\n") else "\n",
            )
            return 0
        action, comment = upsert(
            github.client, args.repo, args.issue, body, marker=args.marker, author=github.planner_login
        )
    except PipelineError as exc:
        print(f"progress-comment: {exc}", file=sys.stderr)
        return 1
    line = f"{action} {comment.html_url or comment.id} ({args.repo}#{args.issue})"
    print(f"progress-comment: {line}")
    if log_path:
        import time

        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
    return 0
