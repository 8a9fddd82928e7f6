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

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from codex_pipeline.dev.github_loop import LoopGitHub, Send
    from codex_pipeline.dev.github_standin import FakeGitHub
    from codex_pipeline.dev.remotes import Remotes

TOKEN = "codex-dev-standin"  # noqa: S105 -- the stand-in's own token, not a credential
CONFIGURED_BY = frozenset({"CODEX_GITHUB_TOKEN", "CODEX_GITHUB_APP_ID", "CODEX_GITHUB_API_URL"})


def wanted(environ: Mapping[str, str]) -> bool:
    """Only when the caller configured no GitHub at all (a real one always wins), in the environment,
    a ``_FILE`` or the YAML file."""
    from codex_pipeline.config import configured_names

    return not (configured_names(environ) & CONFIGURED_BY)


def start(seed: Path, *, send: Send | None = None, remotes: Remotes | None = None, login: str | None = None,
          executing: bool = False, saved: Path | None = None) -> LoopGitHub:
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
        server.add_pull(str(pull["repository"]), int(pull["number"]), head=str(pull["head"]),
                        head_sha=str(pull["head_sha"]), draft=bool(pull.get("draft", True)),
                        mergeable_state=str(pull.get("mergeable_state", "clean")),
                        title=str(pull.get("title", "")))
    for run in data.get("check_runs") or []:
        server.add_check_run(str(run["repository"]), str(run["sha"]), str(run["name"]),
                             conclusion=run.get("conclusion", "success"))
    server.__enter__()
    return server


def env(server: FakeGitHub) -> dict[str, str]:
    return {"CODEX_GITHUB_API_URL": server.url, "CODEX_GITHUB_TOKEN": TOKEN}


def save(server: FakeGitHub, path: Path) -> dict[str, Any]:
    """What the functions and runs did on the stand-in: comments, pull requests, check runs."""
    with server._state:
        snapshot = {
            "issues": {f"{repo}#{number}": {"title": issue.get("title")}
                       for (repo, number), issue in sorted(server.issues.items())},
            "comments": {f"{repo}#{number}": [{"user": c["user"]["login"], "body": c["body"]} for c in items]
                         for (repo, number), items in sorted(server.comments.items()) if items},
            "pulls": {f"{repo}#{number}": {"draft": pull["draft"], "title": pull.get("title"),
                                           "head": pull["head"]["ref"], "head_sha": pull["head"]["sha"]}
                      for (repo, number), pull in sorted(server.pulls.items())},
            "check_runs": {f"{repo}@{sha[:12]}": [{"name": r["name"], "status": r["status"],
                                                   "conclusion": r["conclusion"]} for r in runs]
                           for (repo, sha), runs in sorted(server.check_runs.items())},
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, indent=2) + "\n")
    tmp.replace(path)
    dump = getattr(server, "dump", None)
    if dump is not None:
        full = state_file(path)
        tmp = full.with_suffix(".tmp")
        tmp.write_text(json.dumps(dump()) + "\n")
        tmp.replace(full)
    return snapshot


def state_file(snapshot: Path) -> Path:
    """Where the stand-in's full state is kept beside its readable snapshot."""
    return snapshot.with_name("github-standin.state.json")
