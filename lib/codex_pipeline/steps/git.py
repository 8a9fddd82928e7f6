"""git through subprocess argument lists: no shell, untrusted text only as data after ``--``.

Authentication over HTTPS: the token travels to git in the environment as an
``http.extraheader`` (``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_0``/``GIT_CONFIG_VALUE_0``), so it
is never in argv (visible in ``ps``), never in ``.git/config`` or the remote URL (visible in
``git remote -v`` and in the uploaded workspace), and every message we raise or log has the
token replaced by ``***`` in case git echoes it back.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from codex_pipeline.core.names import DEFAULT_BRANCH_PREFIX, head_branch
from codex_pipeline.errors import GitError
from codex_pipeline.shell import spans

# Files the steps write into the working tree that must never be committed.
LOCAL_EXCLUDES = (".codex-*",)
SPAN_CHECKOUT = "step.checkout"
SPAN_PUSH = "step.push"


def issue_branch(issue_number: int, title: str, prefix: str = DEFAULT_BRANCH_PREFIX) -> str:
    """``codex/issue-<n>-<slug>``: the spec's branch name, built by :mod:`codex_pipeline.core.names`
    exactly as the router builds it, so the step pushes the branch the task names."""
    return head_branch(issue_number, title, prefix)


def auth_env(token: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that makes git send ``token`` to HTTPS remotes, without writing it anywhere."""
    env = dict(os.environ if base is None else base)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang on a credential prompt in a pod
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        index = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        env[f"GIT_CONFIG_KEY_{index}"] = "http.extraheader"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"Authorization: Basic {basic}"
        env["GIT_CONFIG_COUNT"] = str(index + 1)
    return env


@dataclass
class Git:
    """One working tree. ``secrets`` are redacted from every error message."""

    workdir: Path
    token: str | None = None
    author_name: str = field(default_factory=lambda: os.environ.get("GIT_AUTHOR_NAME") or "codex-pipeline")
    author_email: str = field(
        default_factory=lambda: os.environ.get("GIT_AUTHOR_EMAIL") or "codex-pipeline@users.noreply.github.com"
    )

    def _redact(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            text = text.replace(basic, "***")
        return text

    def run(
        self, *args: str, check: bool = True, cwd: Path | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = auth_env(self.token)
        env.update(
            {
                "GIT_AUTHOR_NAME": self.author_name,
                "GIT_AUTHOR_EMAIL": self.author_email,
                "GIT_COMMITTER_NAME": self.author_name,
                "GIT_COMMITTER_EMAIL": self.author_email,
            }
        )
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.workdir,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            check=False,
            input=stdin,
        )
        if check and done.returncode != 0:
            shown = " ".join(args[:3])
            said = done.stderr.strip() or done.stdout.strip()
            raise GitError(self._redact(f"git {shown} failed ({done.returncode}): {said}"))
        return done

    # -- set-up -------------------------------------------------------------------------

    def clone_or_fetch(self, remote_url: str) -> None:
        """Make ``workdir`` a checkout of ``remote_url`` (fetched, nothing checked out yet)."""
        # init + fetch rather than clone: the step's own log files may already be in the directory.
        with spans.span(SPAN_CHECKOUT):
            self._clone_or_fetch(remote_url)

    def _clone_or_fetch(self, remote_url: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / ".git").exists():
            self.run("init", "--quiet")
            self.run("remote", "add", "origin", "--", remote_url)
        else:
            self.run("remote", "set-url", "origin", "--", remote_url)
        self.run("fetch", "--no-tags", "--prune", "origin")
        exclude = self.workdir / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        existing = exclude.read_text() if exclude.exists() else ""
        missing = [pattern for pattern in LOCAL_EXCLUDES if pattern not in existing.splitlines()]
        if missing:
            exclude.write_text(existing + "".join(f"{pattern}\n" for pattern in missing))

    def remote_branch_exists(self, branch: str) -> bool:
        done = self.run("ls-remote", "--heads", "origin", f"refs/heads/{branch}", check=False)
        if done.returncode != 0:
            raise GitError(self._redact(f"git ls-remote failed: {done.stderr.strip()}"))
        return bool(done.stdout.strip())

    def checkout_branch(self, branch: str, base: str) -> bool:
        """Check out ``branch`` from origin if it exists (a retried step), else create it from ``base``.

        Returns True when the branch already existed on the remote.
        """
        if self.remote_branch_exists(branch):
            self.run("fetch", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
            self.run("checkout", "-B", branch, f"refs/remotes/origin/{branch}")
            return True
        self.run("fetch", "origin", f"+refs/heads/{base}:refs/remotes/origin/{base}")
        self.run("checkout", "-B", branch, f"refs/remotes/origin/{base}")
        return False

    def checkout_detached(self, ref: str) -> None:
        self.run("fetch", "origin", f"+refs/heads/{ref}:refs/remotes/origin/{ref}")
        self.run("checkout", "--detach", f"refs/remotes/origin/{ref}")

    # -- changes ------------------------------------------------------------------------

    def has_changes(self) -> bool:
        return bool(self.run("status", "--porcelain").stdout.strip())

    def commit_all(self, message: str) -> str | None:
        """Commit every change (the step's own ``.codex-*`` files excluded); None when nothing changed."""
        if not self.has_changes():
            return None
        self.run("add", "--all", "--", ".")
        self.run("commit", "--no-verify", "--file", "-", stdin=message)
        return self.head()

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").stdout.strip()

    def commits_ahead(self, base: str) -> int:
        """Commits on HEAD that ``origin/<base>`` lacks (0 when that ref is unknown)."""
        done = self.run("rev-list", "--count", f"refs/remotes/origin/{base}..HEAD", check=False)
        return int(done.stdout.strip() or 0) if done.returncode == 0 else 0

    def push(self, branch: str) -> None:
        with spans.span(SPAN_PUSH, attributes={"git.branch": branch}):
            self.run("push", "origin", f"HEAD:refs/heads/{branch}")

    def log_subjects(self, base: str, limit: int = 20) -> list[str]:
        done = self.run(
            "log", f"--max-count={limit}", "--format=%h %s", f"refs/remotes/origin/{base}..HEAD", check=False
        )
        return done.stdout.splitlines() if done.returncode == 0 else []


def remote_url(repository: str, base_url: str = "https://github.com") -> str:
    """``https://github.com/owner/repo.git`` (no credentials in it), or a template with ``{repo}``."""
    if "{repo}" in base_url:
        return base_url.replace("{repo}", repository)
    return f"{base_url.rstrip('/')}/{repository}.git"
