"""The GitHub ``codex-pipeline dev`` talks to when none is configured.

promote-plan and request-review read GitHub (the plan comment, the PR, its threads and checks)
and write to it (replies, the ready-to-merge handoff). With no token and no API URL, a laptop
run would dead-letter those deliveries, so dev serves the library's GitHub stand-in instead,
seeded from ``examples/github-standin.yaml`` (the repository and pull request the examples
name). Whatever the functions post is saved to ``<state>/github-standin.json`` on stop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from codex_pipeline.dev.github_standin import FakeGitHub

TOKEN = "codex-dev-standin"  # noqa: S105 -- the stand-in's own token, not a credential
CONFIGURED_BY = ("CODEX_GITHUB_TOKEN", "CODEX_GITHUB_TOKEN_FILE", "CODEX_GITHUB_APP_ID", "CODEX_GITHUB_API_URL")


def wanted(environ: Mapping[str, str]) -> bool:
    """Only when the caller configured no GitHub at all (a real one always wins)."""
    return not any(environ.get(name) for name in CONFIGURED_BY)


def start(seed: Path) -> FakeGitHub:
    from codex_pipeline.dev.github_standin import FakeGitHub

    server = FakeGitHub(tokens=(TOKEN,))
    data: Any = yaml.safe_load(seed.read_text()) if seed.is_file() else {}
    data = data or {}
    for repo in data.get("repositories") or []:
        server.add_repo(str(repo["name"]), default_branch=str(repo.get("default_branch", "main")))
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
    """What the functions did on the stand-in: comments posted and pull requests' draft flags."""
    snapshot = {
        "comments": {f"{repo}#{number}": [{"user": c["user"]["login"], "body": c["body"]} for c in items]
                     for (repo, number), items in sorted(server.comments.items()) if items},
        "pulls": {f"{repo}#{number}": {"draft": pull["draft"]}
                  for (repo, number), pull in sorted(server.pulls.items())},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, indent=2) + "\n")
    tmp.replace(path)
    return snapshot
