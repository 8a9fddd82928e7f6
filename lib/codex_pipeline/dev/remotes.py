"""The git remotes of a laptop run: one bare repository per GitHub repository, under the state folder.

The steps clone from and push to ``CODEX_GIT_URL`` (``file://<state>/git/{repo}.git``) instead of
github.com. A new remote is seeded with a small project (a README, a module and its test) on
the repository's default branch. Each bare repository has a ``post-receive`` hook that tells the
GitHub stand-in which branches moved, as GitHub learns of a push: the stand-in then updates the
pull request of that branch and sends ``pull_request.synchronize``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SEED = {
    "README.md": "# {name}\n\nA small project the codex-pipeline demo works on (seeded by `codex-pipeline dev`).\n",
    "widgets/__init__.py": '"""Widgets."""\n\n\ndef export(items: list[str]) -> str:\n    return ",".join(items)\n',
    "tests/test_widgets.py": "from widgets import export\n\n\ndef test_export() -> None:\n"
    '    assert export(["a", "b"]) == "a,b"\n',
}
HOOK = """#!{python}
# Written by codex-pipeline dev: tells the GitHub stand-in which branches this push moved.
import json, sys, urllib.request
updates = [line.split() for line in sys.stdin if line.strip()]
body = json.dumps({{"repository": {repository!r}, "updates": updates}}).encode()
request = urllib.request.Request({url!r}, data=body, headers={{"Content-Type": "application/json"}})
try:
    urllib.request.urlopen(request, timeout=10).read()
except Exception as exc:  # the push itself succeeded; say why the stand-in did not hear of it
    print(f"codex-pipeline dev: the GitHub stand-in was not told of this push: {{exc}}", file=sys.stderr)
"""
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "codex-pipeline dev",
    "GIT_AUTHOR_EMAIL": "dev@codex-pipeline.local",
    "GIT_COMMITTER_NAME": "codex-pipeline dev",
    "GIT_COMMITTER_EMAIL": "dev@codex-pipeline.local",
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


class Remotes:
    """Bare repositories under ``root``; ``push_url`` is where their hooks report pushes."""

    def __init__(self, root: Path, push_url: str | None = None) -> None:
        self.root = root
        self.push_url = push_url
        self._lock = threading.Lock()

    @property
    def url_template(self) -> str:
        """What steps read as ``CODEX_GIT_URL`` (``{repo}`` is ``owner/name``)."""
        return f"file://{self.root.resolve()}/{{repo}}.git"

    def path_of(self, repository: str) -> Path:
        owner, _, name = repository.lower().partition("/")
        return self.root / owner / f"{name}.git"

    def ensure(self, repository: str, default_branch: str = "main") -> Path:
        """The bare repository of ``repository``, created and seeded on first use; its hook (re)written."""
        path = self.path_of(repository)
        with self._lock:
            if not (path / "HEAD").is_file():
                self._create(path, repository, default_branch)
            if self.push_url:
                hook = path / "hooks" / "post-receive"
                hook.write_text(HOOK.format(python=sys.executable, repository=repository, url=self.push_url))
                hook.chmod(0o755)
        return path

    def _create(self, path: Path, repository: str, default_branch: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
        with tempfile.TemporaryDirectory(prefix="codex-seed-") as folder:
            work = Path(folder)
            _git("init", "--quiet", f"--initial-branch={default_branch}", cwd=work)
            for name, text in SEED.items():
                target = work / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text.format(name=repository))
            _git("add", "--all", cwd=work)
            _git("commit", "--quiet", "-m", "Seed project for the codex-pipeline demo", cwd=work)
            _git("push", "--quiet", str(path), f"HEAD:refs/heads/{default_branch}", cwd=work)

    def head(self, repository: str, branch: str) -> str | None:
        """The commit ``branch`` points at in the remote, None when it has no such branch."""
        path = self.path_of(repository)
        if not (path / "HEAD").is_file():
            return None
        try:
            return _git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=path) or None
        except RuntimeError:
            return None
