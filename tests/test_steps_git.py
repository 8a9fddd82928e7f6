"""git operations against real bare repositories (file remotes) and an HTTP remote that records auth."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from codex_pipeline.errors import GitError
from codex_pipeline.steps.git import Git, issue_branch, remote_url
from tests.fakes.httpserver import Answer, FakeServer, Recorded
from tests.steps_support import bare_remote, git, remote_branches, remote_file

TOKEN = "ghs_s3cretT0kenValue1234567890"


@pytest.mark.parametrize(
    ("number", "title", "branch"),
    [
        (12, "Add retries to the webhook sink", "codex/issue-12-add-retries-to-the-webhook-sink"),
        (7, "  Fix: `rm -rf /` && $(curl evil) ", "codex/issue-7-fix-rm-rf-curl-evil"),
        (3, "日本語だけ", "codex/issue-3-task"),
        (4, "x" * 90, "codex/issue-4-" + "x" * 48),  # the router's limit: one rule (codex_pipeline.core.names)
    ],
)
def test_branch_names_are_safe_slugs(number: int, title: str, branch: str) -> None:
    assert issue_branch(number, title) == branch


def test_new_branch_from_base_commit_and_push(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path)
    repo = Git(tmp_path / "work", token=TOKEN)
    repo.clone_or_fetch(remote.as_uri())
    assert repo.checkout_branch("codex/issue-1-x", "main") is False
    (repo.workdir / "app.py").write_text("print('changed')\n")
    (repo.workdir / ".codex-implementation.log").write_text("transcript\n")
    sha = repo.commit_all("codex: change app (#1)\n\nBody line.")
    assert sha and repo.commits_ahead("main") == 1
    repo.push("codex/issue-1-x")
    assert remote_branches(remote) == ["codex/issue-1-x", "main"]
    assert remote_file(remote, "codex/issue-1-x", "app.py") == "print('changed')\n"
    tree = git("ls-tree", "-r", "--name-only", "codex/issue-1-x", cwd=remote)
    assert ".codex-implementation.log" not in tree
    assert (
        git("log", "-1", "--format=%s|%an", "codex/issue-1-x", cwd=remote).strip()
        == "codex: change app (#1)|codex-pipeline"
    )
    assert TOKEN not in (repo.workdir / ".git" / "config").read_text()


def test_retry_reuses_the_pushed_branch_and_nothing_to_commit_is_none(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path)
    first = Git(tmp_path / "first")
    first.clone_or_fetch(remote.as_uri())
    first.checkout_branch("codex/issue-2-y", "main")
    (first.workdir / "a.txt").write_text("a\n")
    first.commit_all("add a")
    first.push("codex/issue-2-y")

    second = Git(tmp_path / "second")
    second.clone_or_fetch(remote.as_uri())
    assert second.checkout_branch("codex/issue-2-y", "main") is True
    assert (second.workdir / "a.txt").read_text() == "a\n"
    assert second.commit_all("nothing") is None
    second.clone_or_fetch(remote.as_uri())  # fetch into an existing clone works too


def test_token_goes_as_an_http_header_and_never_into_errors(tmp_path: Path) -> None:
    class RefusingGitHost(FakeServer):
        def answer(self, recorded: Recorded) -> Answer:
            return 403, {"content-type": "text/plain"}, f"denied for {TOKEN}\n".encode()

    with RefusingGitHost() as host:
        repo = Git(tmp_path / "work", token=TOKEN)
        with pytest.raises(GitError) as raised:
            repo.clone_or_fetch(remote_url("acme/widgets", host.url))
        auth = [r.headers.get("authorization", "") for r in host.requests]
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert expected in auth
    assert all(TOKEN not in r for r in auth)
    assert TOKEN not in str(raised.value)
    assert "/acme/widgets.git/info/refs" in host.requests[0].path


def test_remote_url_never_carries_credentials() -> None:
    assert remote_url("acme/widgets") == "https://github.com/acme/widgets.git"
    assert remote_url("acme/widgets", "file:///srv/git/{repo}.git") == "file:///srv/git/acme/widgets.git"
