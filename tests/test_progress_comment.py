"""The progress comment: checklist from the plan, rendering, and the ``progress-comment`` CLI over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_pipeline.steps.progress import PROGRESS_MARKER, Progress, replace_section, task_breakdown, with_marker
from tests.fakes.github import FakeGitHub

TOKEN = "ghp_progressTestToken0123456789abcdef"
CLI = str(Path(sys.executable).parent / "codex-pipeline")


@pytest.mark.parametrize(
    ("plan", "steps"),
    [
        ("## Task Breakdown\n1. one\n2. two\n\n## Deliverables\n- not a step\n", ["one", "two"]),
        ("**Task Breakdown**\n- [ ] first\n  - detail\n- [x] second\n### Next\n- x\n", ["first", "second"]),
        ("# Plan\n### 3. Task Breakdown:\n* a  b\n+ c\n", ["a b", "c"]),
        ("## Objective\n- only objective items\n", []),
        ("## Task Breakdown\n1. step <!-- hidden --> one\u200b\n", ["step one"]),
    ],
)
def test_task_breakdown_takes_top_level_items_only(plan: str, steps: list[str]) -> None:
    assert task_breakdown(plan) == steps


def test_render_marks_active_step_and_the_recap_checks_everything() -> None:
    progress = Progress(title="Codex implementation progress for #3", steps=["a", "b"], status=["started"])
    body = progress.render()
    assert body.splitlines()[0] == PROGRESS_MARKER
    assert "- [ ] a ← in progress" in body and "- [ ] b\n" in body and "#### Status" in body
    progress.finish()
    progress.status, progress.summary = [], "All done."
    body = progress.render()
    assert "- [x] a\n- [x] b" in body and "← in progress" not in body and "#### Summary\n\nAll done." in body


def test_marker_is_first_and_never_doubled_and_sections_replace() -> None:
    assert with_marker("hello", PROGRESS_MARKER) == f"{PROGRESS_MARKER}\nhello"
    assert with_marker(f"\n{PROGRESS_MARKER}\nhello", PROGRESS_MARKER) == f"{PROGRESS_MARKER}\nhello"
    once = replace_section("recap", "pass 1")
    twice = replace_section(once, "pass 2")
    assert "pass 1" not in twice and twice.count("pass 2") == 1 and twice.startswith("recap")


def _cli(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_TOKEN", "GH_TOKEN", "CODEX_GITHUB_TOKEN", "ISSUE_REPO", "ISSUE_NUMBER")
    }
    return subprocess.run(
        [CLI, "progress-comment", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def test_cli_creates_then_edits_the_one_marked_comment(tmp_path: Path) -> None:
    gh = FakeGitHub(tokens=(TOKEN,))
    with gh:
        gh.add_repo("acme/widgets")
        gh.add_comment("acme/widgets", 5, "unrelated comment")
        log = tmp_path / "progress.log"
        env = {
            "GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": gh.url,
            "ISSUE_REPO": "acme/widgets",
            "ISSUE_NUMBER": "5",
            "CODEX_PROGRESS_COMMENT_LOG_PATH": str(log),
        }
        first = _cli([], "- [ ] step one\n", env)
        body_file = tmp_path / "body.md"
        body_file.write_text(f"{PROGRESS_MARKER}\n- [x] step one\n")
        second = _cli(["--body-file", str(body_file)], "", env)
        comments = gh.comments[("acme/widgets", 5)]
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert len(comments) == 2
    assert comments[1]["body"] == f"{PROGRESS_MARKER}\n- [x] step one\n"
    assert "created https://github.com/acme/widgets/issues/5#issuecomment-" in first.stdout
    assert second.stdout.startswith("progress-comment: updated ")
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and " created " in lines[0] and " updated " in lines[1]
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr + log.read_text()


def test_cli_custom_marker_and_dry_run_change_nothing(tmp_path: Path) -> None:
    gh = FakeGitHub(tokens=(TOKEN,))
    with gh:
        gh.add_repo("acme/widgets")
        existing = gh.add_comment("acme/widgets", 9, "<!-- codex:custom -->\nold", login="codex-bot")
        env = {
            "CODEX_GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": gh.url,
            "CODEX_PROGRESS_COMMENT_MARKER": "<!-- codex:custom -->",
        }
        done = _cli(["--repo", "acme/widgets", "--issue", "9", "--dry-run"], "new body\n", env)
        writes = [r for r in gh.requests if r.method != "GET" and r.path != "/graphql"]  # GraphQL here: a read
        body = gh.comments[("acme/widgets", 9)][0]["body"]
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"progress-comment (dry run): would update comment {existing['id']} on acme/widgets#9 "
        "(marker <!-- codex:custom -->)\n---\n<!-- codex:custom -->\nnew body\n"
    )
    assert writes == [] and body == "<!-- codex:custom -->\nold"


def test_cli_dry_run_without_credentials_does_not_call_github() -> None:
    done = _cli(
        ["--repo", "acme/widgets", "--issue", "1", "--dry-run"],
        "hello\n",
        {"CODEX_GITHUB_API_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 0, done.stderr
    assert "not looked up" in done.stdout and done.stdout.endswith(f"{PROGRESS_MARKER}\nhello\n")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ([], "body", "set --repo/--issue or ISSUE_REPO/ISSUE_NUMBER"),
        (["--repo", "a/b", "--issue", "1"], "  \n", "the body is empty"),
    ],
)
def test_cli_refuses_incomplete_input(args: list[str], stdin: str, message: str) -> None:
    done = _cli(args, stdin, {})
    assert done.returncode == 2 and message in done.stderr
