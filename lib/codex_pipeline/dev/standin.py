"""The GitHub ``codex-pipeline dev`` talks to when none is configured.

promote-plan and request-review read GitHub (the plan comment, the PR, its threads and checks)
and write to it (replies, the ready-to-merge handoff). With no token and no API URL, a laptop
run would dead-letter those deliveries, so dev serves the library's GitHub stand-in instead
(:class:`codex_pipeline.dev.github_loop.LoopGitHub`: it also sends webhooks back and serves the
local git remotes), seeded from ``examples/github-standin.yaml``. When workflows do not run here
(``--no-execute``), the seed's pull requests and check runs stand for what an implementation run
would have made, so the review examples still reach their Workflow. What the functions and steps
post is saved to ``<state>/github-standin.json`` as it happens and on stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from codex_pipeline.dev.github_loop import LoopGitHub, Send
    from codex_pipeline.dev.github_standin import FakeGitHub
    from codex_pipeline.dev.remotes import Remotes

TOKEN = "codex-dev-standin"  # noqa: S105 -- the stand-in's own token, not a credential
APP_ID = "4242"  # the stand-in's GitHub App (slug codex-app): it writes the runs' check runs
CONFIGURED_BY = frozenset({"CODEX_GITHUB_TOKEN", "CODEX_GITHUB_APP_ID", "CODEX_GITHUB_API_URL"})
_SAVING = threading.Lock()


def wanted(environ: Mapping[str, str]) -> bool:
    """Only when the caller configured no GitHub at all (a real one always wins), in the environment,
    a ``_FILE`` or the YAML file."""
    from codex_pipeline.shell.config import configured_names

    return not (configured_names(environ) & CONFIGURED_BY)


def start(
    seed: Path,
    *,
    send: Send | None = None,
    remotes: Remotes | None = None,
    login: str | None = None,
    executing: bool = False,
    saved: Path | None = None,
) -> LoopGitHub:
    from codex_pipeline.dev.github_loop import LoopGitHub, ScriptedCI

    data: Any = yaml.safe_load(seed.read_text()) if seed.is_file() else {}
    data = data or {}
    server = LoopGitHub(tokens=(TOKEN,), send=send, remotes=remotes, ci=ScriptedCI.from_config(data.get("ci")))
    if login:
        server.token_login = login
    if remotes is not None:
        from codex_pipeline.dev.github_loop import PUSH_PATH

        remotes.push_url = server.url + PUSH_PATH
    for repo in data.get("repositories") or []:
        server.add_repo(str(repo["name"]), default_branch=str(repo.get("default_branch", "main")))
        if repo.get("next_number"):
            server.first_number[str(repo["name"]).lower()] = int(repo["next_number"])
    if saved is not None and saved.is_file():  # what an earlier dev on this state folder left
        try:
            server.restore(json.loads(saved.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged file: start from the seed, as on a first run
        else:
            server.__enter__()
            return server
    if executing:  # the runs make the pull requests and the CI reports checks
        server.__enter__()
        return server
    for pull in data.get("pulls") or []:
        server.add_pull(
            str(pull["repository"]),
            int(pull["number"]),
            head=str(pull["head"]),
            head_sha=str(pull["head_sha"]),
            draft=bool(pull.get("draft", True)),
            mergeable_state=str(pull.get("mergeable_state", "clean")),
            title=str(pull.get("title", "")),
        )
    for run in data.get("check_runs") or []:
        server.add_check_run(
            str(run["repository"]), str(run["sha"]), str(run["name"]), conclusion=run.get("conclusion", "success")
        )
    server.__enter__()
    return server


def env(server: FakeGitHub) -> dict[str, str]:
    """The stand-in's token for everything, and its GitHub App (when enabled) for the check runs."""
    values = {"CODEX_GITHUB_API_URL": server.url, "CODEX_GITHUB_TOKEN": TOKEN}
    if server.app is not None and server.app_private_key:
        values.update(CODEX_GITHUB_APP_ID=server.app.app_id, CODEX_GITHUB_APP_PRIVATE_KEY=server.app_private_key)
    return values


def enable_app(server: FakeGitHub, state: Path) -> None:
    """Make the stand-in a GitHub App installation as well, so the runs write check runs (only Apps
    may) while everything else uses the token, as a deployment with both would. The App's key is
    made once per state folder (``github-app.pem``, mode 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = state / "github-app.pem"
    if path.is_file():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        key = loaded
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        state.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    server.enable_app(APP_ID, public)
    server.app_private_key = path.read_text()


def save(server: FakeGitHub, path: Path) -> dict[str, Any]:
    """What the functions and runs did on the stand-in: comments, pull requests, check runs.

    One save at a time, taken and written in turn, so the newest snapshot is the one on disk."""
    with _SAVING:
        return _save(server, path)


def _save(server: FakeGitHub, path: Path) -> dict[str, Any]:
    with server._state:
        snapshot = {
            "issues": {
                f"{repo}#{number}": {"title": issue.get("title")}
                for (repo, number), issue in sorted(server.issues.items())
            },
            "comments": {
                f"{repo}#{number}": [_comment(server, c) for c in items]
                for (repo, number), items in sorted(server.comments.items())
                if items
            },
            "pulls": {
                f"{repo}#{number}": {
                    "draft": pull["draft"],
                    "title": pull.get("title"),
                    "head": pull["head"]["ref"],
                    "head_sha": pull["head"]["sha"],
                }
                for (repo, number), pull in sorted(server.pulls.items())
            },
            "check_runs": {
                f"{repo}@{sha[:12]}": [_check_run(r) for r in runs]
                for (repo, sha), runs in sorted(server.check_runs.items())
            },
            "statuses": {
                f"{repo}@{sha[:12]}": [
                    {"context": st["context"], "state": st["state"], "description": st["description"]} for st in items
                ]
                for (repo, sha), items in sorted(server.statuses.items())
                if items
            },
        }
    _write_atomically(path, json.dumps(snapshot, indent=2) + "\n")
    dump = getattr(server, "dump", None)
    if dump is not None:
        _write_atomically(state_file(path), json.dumps(dump()) + "\n")
    return snapshot


def _write_atomically(path: Path, text: str) -> None:
    """Write beside ``path`` under a name of this write's own, then rename over it.

    dev saves from the webhook thread and the main loop at once: with one shared temporary
    name, one save renamed the other's file away and its rename failed (FileNotFoundError),
    which ended the stand-in's webhook thread and every webhook after it.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def _comment(server: FakeGitHub, comment: dict[str, Any]) -> dict[str, Any]:
    """A comment as saved: who and what, and for an edited one (the progress comment) every
    earlier body, oldest first, so the snapshot shows how it moved."""
    saved: dict[str, Any] = {"user": comment["user"]["login"], "body": comment["body"]}
    earlier = server.comment_edits.get(comment["id"])
    if earlier:
        saved["edits"] = len(earlier)
        saved["earlier_bodies"] = list(earlier)
    return saved


def _check_run(run: dict[str, Any]) -> dict[str, Any]:
    saved = {"name": run["name"], "status": run["status"], "conclusion": run["conclusion"]}
    if run.get("external_id"):  # the pipeline's own runs' checks: what they say
        output = run.get("output") or {}
        saved.update(
            external_id=run.get("external_id"),
            details_url=run.get("details_url"),
            title=output.get("title"),
            summary=output.get("summary"),
        )
    return saved


def state_file(snapshot: Path) -> Path:
    """Where the stand-in's full state is kept beside its readable snapshot."""
    return snapshot.with_name("github-standin.state.json")
