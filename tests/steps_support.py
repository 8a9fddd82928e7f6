"""Helpers for the workflow-step tests: a fake ``codex`` first on PATH and real bare git remotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAKE_CODEX = Path(__file__).resolve().parent / "fakes" / "codex.py"
FAKE_KNOBS = (
    "FAKE_CODEX_RECORD",
    "FAKE_CODEX_MODE",
    "FAKE_CODEX_EDITS",
    "FAKE_CODEX_COMMIT",
    "FAKE_CODEX_PRINT",
    "FAKE_CODEX_MESSAGE_FILE",
    "FAKE_CODEX_REPORT",
    "FAKE_CODEX_PROBE_PATHS",
    "FAKE_CODEX_STEPS",
)


def install_fake_codex(bin_dir: Path) -> Path:
    """Write an executable ``codex`` into ``bin_dir`` that runs tests/fakes/codex.py."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "codex"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CODEX}" "$@"\n')
    script.chmod(0o755)
    return script


def codex_env(
    bin_dir: Path,
    record: Path,
    *,
    mode: str = "ok",
    edits: dict[str, str] | None = None,
    message: str | None = None,
    tmp: Path | None = None,
    commit: str = "",
    steps: list[dict[str, object]] | None = None,
) -> dict[str, str]:
    """The environment that makes ``codex`` resolve to the fake and behave as asked."""
    install_fake_codex(bin_dir)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_CODEX_RECORD": str(record),
        "FAKE_CODEX_MODE": mode,
        "FAKE_CODEX_EDITS": json.dumps(edits or {}),
        "FAKE_CODEX_COMMIT": commit,
        # Codex's environment is an allowlist: the fake's own knobs are passed by name.
        "FAKE_CODEX_STEPS": json.dumps(steps or []),
        "CODEX_AGENT_ENV": ",".join(FAKE_KNOBS),
    }
    if message is not None:
        message_file = (tmp or record.parent) / f"codex-message-{len(message)}-{abs(hash(message))}.md"
        message_file.write_text(message)
        env["FAKE_CODEX_MESSAGE_FILE"] = str(message_file)
    return env


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.test",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.test",
        },
    )
    return done.stdout


def bare_remote(tmp: Path, name: str = "remote.git", files: dict[str, str] | None = None) -> Path:
    """A real bare repository with one commit on ``main`` (what GitHub holds)."""
    remote = tmp / name
    git("init", "--bare", "--initial-branch=main", str(remote), cwd=tmp)
    seed = tmp / f"{name}-seed"
    git("init", "--initial-branch=main", str(seed), cwd=tmp)
    for rel, content in (files or {"README.md": "# demo\n", "app.py": "print('hi')\n"}).items():
        path = seed / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git("add", "--all", cwd=seed)
    git("commit", "-m", "initial", cwd=seed)
    git("remote", "add", "origin", str(remote), cwd=seed)
    git("push", "origin", "main", cwd=seed)
    return remote


def remote_branches(remote: Path) -> list[str]:
    out = git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=remote)
    return sorted(out.split())


def remote_file(remote: Path, branch: str, path: str) -> str:
    return git("show", f"{branch}:{path}", cwd=remote)
