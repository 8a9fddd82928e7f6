"""A prompt-injected Codex, run by a real step as a second uid, finds no credential and pushes nothing.

The step (``codex-pipeline step implement``, its own process) reads its secrets from files mode 0400
and also holds a token in its environment, as the old templates set it. The fake ``codex``
(tests/fakes/codex.py, mode ``probe``) then tries every path an injected agent would: its
environment, every ``/proc/<pid>/environ`` (PID 1 and its parent first), the secret files, ``git
config``, the credential helper, ``.git/config``, planting a hook, moving ``.git``, pushing through
the token-guarded git remote, leaving a daemon behind. The step must still push, open the PR and
post its comments exactly as before, and the model must have been reached through the step's
loopback proxy with the key the agent never saw.

Needs root (to start a second uid); elsewhere it skips and says so.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.git_http import GitHTTPRemote
from tests.fakes.github import FakeGitHub
from tests.fakes.model_api import FakeModelAPI
from tests.steps_support import FAKE_CODEX, FAKE_KNOBS, bare_remote, remote_branches, remote_file

AGENT_UID = 43210  # no user of this machine: a uid only the agent runs as
SYSTEM_PYTHON = Path("/usr/bin/python3")  # the test interpreter may live where another uid cannot reach
TOKEN = "ghp_isolationTestToken0123456789abcdefAB"
MODEL_KEY = "sk-proj-isolationModelKey0123456789"
DISCORD = "MTIzNDU2Nzg5.discord-isolation-token-0123456789"
REPO = "acme/widgets"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_SETUID, CAP_SETGID, CAP_CHOWN) to run the fake codex as a second uid"
    if not SYSTEM_PYTHON.exists():
        return f"needs {SYSTEM_PYTHON} (an interpreter the second uid can execute) for the fake codex"
    done = subprocess.run(["true"], user=AGENT_UID, group=AGENT_UID, extra_groups=[], check=False, capture_output=True)
    if done.returncode != 0:
        return f"cannot start a process as uid {AGENT_UID} here: {done.stderr.decode().strip()}"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A folder both users can traverse (pytest's tmp_path is root's alone, 0700)."""
    root = Path(tempfile.mkdtemp(prefix="codex-isolation-"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _secret_file(folder: Path, name: str, value: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / name
    path.write_text(value + "\n")
    path.chmod(0o400)
    return path


def _b64(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def _process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def test_a_prompt_injected_codex_finds_no_credential_and_pushes_nothing(tmp_path: Path, shared_root: Path) -> None:
    # Mounted as a Secret volume is: folders anyone can list, files mode 0400 owned by the step.
    secrets = shared_root / "secrets"
    files = [
        _secret_file(secrets / "github", "token", TOKEN),
        _secret_file(secrets / "openai", "api-key", MODEL_KEY),
        _secret_file(secrets / "discord", "bot-token", DISCORD),
    ]
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    remote = bare_remote(remotes)
    bin_dir = shared_root / "bin"
    bin_dir.mkdir()
    codex = bin_dir / "codex"
    codex.write_text(f'#!/bin/sh\nexec "{SYSTEM_PYTHON}" "{FAKE_CODEX}" "$@"\n')
    codex.chmod(0o755)
    report_dir = shared_root / "report"
    report_dir.mkdir()
    os.chown(report_dir, AGENT_UID, AGENT_UID)
    report_file = report_dir / "report.json"
    workdir = shared_root / "work"
    plan = "## Task Breakdown\n1. Add greet()\n"
    task = {
        "stage": "implementation",
        "prompt": "Add a greeting helper",
        "repository": REPO,
        "issueNumber": 12,
        "base": "main",
        "head": "",
        "issueTitle": "Add a greeting helper",
        "issueBody": "Please.",
        "deliveryId": "d-iso",
        "planCommentBody": plan,
    }

    with FakeGitHub(tokens=(TOKEN,)) as gh, FakeModelAPI(MODEL_KEY) as model, GitHTTPRemote(remotes, TOKEN) as git:
        gh.add_repo(REPO)
        env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TMPDIR": str(shared_root),
            "CODEX_AGENT_USER": str(AGENT_UID),
            "CODEX_GITHUB_TOKEN_FILE": str(files[0]),
            "OPENAI_API_KEY_FILE": str(files[1]),
            "DISCORD_BOT_TOKEN_FILE": str(files[2]),
            "GH_TOKEN": TOKEN,  # a credential in the step's own environment: /proc/<ppid>/environ holds it
            "CODEX_GITHUB_API_URL": gh.url,
            "CODEX_PLANNER_LOGIN": "codex-bot",
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
            "CODEX_MODEL_API_URL": f"{model.url}/v1",
            "EVENT_BODY": _b64(task),
            "RAW_EVENT": _b64({}),
            "FAKE_CODEX_MODE": "probe",
            "FAKE_CODEX_REPORT": str(report_file),
            "FAKE_CODEX_PROBE_PATHS": f"{secrets},{secrets / 'github' / 'token'}",
            "FAKE_CODEX_EDITS": json.dumps({"greet.py": "def greet():\n    return 'hi'\n"}),
            "CODEX_AGENT_ENV": ",".join(FAKE_KNOBS),
        }
        step = Path(sys.executable).parent / "codex-pipeline"
        done = subprocess.run(
            [
                str(step),
                "step",
                "implement",
                "--workdir",
                str(workdir),
                "--workflow-name",
                "wf-iso",
                "--remote-url",
                git.repo_url("remote.git"),
                "--timeout",
                "60",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

        report = json.loads(report_file.read_text())
        blob = json.dumps(report)
        basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        for value in (TOKEN, MODEL_KEY, DISCORD, basic):
            assert value not in blob, f"the agent found {value[:12]}…"

        assert report["uid"] == AGENT_UID
        assert not {"GH_TOKEN", "CODEX_GITHUB_TOKEN_FILE", "OPENAI_API_KEY_FILE", "EVENT_BODY"} & set(report["environ"])
        proc = report["proc_environ"]
        assert proc["1"].startswith("DENIED")
        assert proc[str(report["ppid"])].startswith("DENIED")  # its parent: the step itself
        assert all(
            value.startswith("DENIED")
            for pid, value in proc.items()
            if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}").stat().st_uid != AGENT_UID
        )
        assert all(report["files"][str(path)].startswith("DENIED") for path in files)
        assert report["credential_fill"].startswith("exit ") and not report["credential_fill"].startswith("exit 0")
        assert (
            report["git_dir_config"].startswith("READ")
            and "url = " + git.repo_url("remote.git") in report["git_dir_config"]
        )
        assert report["plant_hook"].startswith("DENIED") and report["move_git"].startswith("DENIED")
        assert not report["push"].startswith("exit 0") and "agent-pushed" not in remote_branches(remote)
        assert git.refused >= 1  # the agent's push reached the remote without a credential

        # The daemon it left behind is gone before the step touched git.
        assert _process_state(int(report["lingering_pid"])) in (None, "Z")
        # It reached the model only through the step's proxy, which added the key it never held.
        assert report["model_base_url"].startswith("http://127.0.0.1:")
        assert report["model_call"].startswith("200") and "hello from the model" in report["model_call"]
        assert model.requests and all(r.headers["authorization"] == f"Bearer {MODEL_KEY}" for r in model.requests)

        # The step's own behaviour toward GitHub is unchanged: branch pushed, draft PR, comments.
        branch = "codex/issue-12-add-a-greeting-helper"
        assert branch in remote_branches(remote)
        assert "def greet" in remote_file(remote, branch, "greet.py")
        assert [pull["draft"] for (repo, _), pull in gh.pulls.items() if repo == REPO] == [True]
        bodies = [c["body"] for c in gh.comments.get((REPO, 12), [])]
        assert any("<!-- codex:progress -->" in body for body in bodies)
        assert all(TOKEN not in body and MODEL_KEY not in body for body in bodies)
        # And the tree is the step's again.
        assert (workdir / "greet.py").stat().st_uid == 0 and workdir.stat().st_uid == 0
