"""The GitHub stand-in that answers back: what happens on it becomes webhook deliveries.

On GitHub the pipeline's own effects come back as deliveries (the planner's plan comment is an
``issue_comment`` that promotes the issue; a push to a PR branch is ``pull_request.synchronize``;
CI finishing is ``check_run.completed``). :class:`LoopGitHub` adds that to the API stand-in of
:mod:`codex_pipeline.dev.github_standin` for ``codex-pipeline dev``:

- comments created through the API send ``issue_comment.created``;
- ``POST /repos/{o}/{r}/pulls`` opens a pull request only from a branch that exists in the local
  git remote (:mod:`codex_pipeline.dev.remotes`), with the branch's real head commit, and sends
  ``pull_request.opened``; a push that moves the branch of an open PR (the remote's hook posts to
  ``/_standin/push``) sends ``pull_request.synchronize``; marking a draft ready sends
  ``pull_request.ready_for_review``;
- every new head commit of a PR gets the scripted CI (``ci`` in ``examples/github-standin.yaml``):
  a check run is queued, then completes with the next scripted conclusion and sends
  ``check_run.completed``;
- :meth:`LoopGitHub.learn` takes the deliveries ``replay`` sends (as the router sees them), so the
  repository, issue or pull request they name exists from then on with its number and title.

Payloads follow GitHub's webhook shapes (the same as ``tests/payloads/github.py`` builds, and as
docs.github.com "Webhook events and payloads" lists them for the REST API version 2022-11-28).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from codex_pipeline.dev.fakehttp import Answer, Recorded
from codex_pipeline.dev.github_standin import FakeGitHub, FakeRepo, _node_id, _now_iso
from codex_pipeline.dev.remotes import Remotes

PUSH_PATH = "/_standin/push"
COMMENT_PATH = "/_standin/comment"  # a person types a comment (``codex-pipeline dev comment``)
Send = Callable[[str, dict[str, Any]], object]


@dataclass
class ScriptedCI:
    """The CI of the stand-in: one check run per new head commit of a pull request.

    ``results`` are the conclusions for the first, second, ... head of each pull request (the
    last one repeats), so a demo can show a failing check that a review pass fixes.
    """

    name: str = "ci / test"
    results: tuple[str, ...] = ("success",)
    delay: float = 0.5
    per_pull: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def conclusion(self, number: int, push: int) -> str:
        script = self.per_pull.get(number) or self.results or ("success",)
        return script[min(push, len(script) - 1)]

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> ScriptedCI:
        if not data:
            return cls()
        results = tuple(str(item) for item in data.get("results") or ("success",))
        per_pull = {
            int(number): tuple(str(item) for item in items) for number, items in (data.get("pulls") or {}).items()
        }
        return cls(str(data.get("name") or "ci / test"), results, float(data.get("delay", 0.5)), per_pull)


class LoopGitHub(FakeGitHub):
    """The API stand-in plus webhooks back (``send(event, payload)``) and a local git remote."""

    def __init__(
        self,
        *,
        tokens: tuple[str, ...],
        send: Send | None = None,
        remotes: Remotes | None = None,
        ci: ScriptedCI | None = None,
    ) -> None:
        super().__init__(tokens=tokens)
        self.send = send
        self.remotes = remotes
        self.ci = ci or ScriptedCI()
        self.first_number: dict[str, int] = {}  # repository -> the number its next issue or PR gets at least
        self.repo_payloads: dict[str, dict[str, Any]] = {}  # learned from deliveries (ids, html_url, owner)
        self.installations: dict[str, dict[str, Any]] = {}
        self.pushes: dict[tuple[str, int], int] = {}  # PR -> how many heads it has had (for the CI script)
        self._timers: list[threading.Timer] = []
        self._ready_sent: set[str] = set()  # GitHub sends ready_for_review once per draft -> ready change

    def __enter__(self) -> LoopGitHub:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        super().__exit__(*exc)

    # ------------------------------------------------------------------ surviving a restart

    def dump(self) -> dict[str, Any]:
        """Everything the stand-in holds, as JSON, so a restarted dev finds its issues, PRs and comments."""

        def pairs(table: Mapping[tuple[str, Any], Any]) -> list[list[Any]]:
            return [[key[0], key[1], value] for key, value in sorted(table.items())]

        with self._state:
            return copy.deepcopy(
                {
                    "url": self.url,
                    "ids": self._ids,
                    "repos": [vars(repo) for repo in self.repos.values()],
                    "issues": pairs(self.issues),
                    "comments": pairs(self.comments),
                    "pulls": pairs(self.pulls),
                    "check_runs": pairs(self.check_runs),
                    "statuses": pairs(self.statuses),
                    "threads": pairs(self.threads),
                    "pushes": pairs(self.pushes),
                    "first_number": self.first_number,
                    "repo_payloads": self.repo_payloads,
                    "installations": self.installations,
                    "ready_sent": sorted(self._ready_sent),
                    "comment_edits": [[cid, bodies] for cid, bodies in sorted(self.comment_edits.items())],
                }
            )

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back what :meth:`dump` saved (the old server's URL in it becomes this one's)."""
        text = json.dumps(data).replace(str(data.get("url") or "\0"), self.url)
        loaded = json.loads(text)
        with self._state:
            self._ids = max(self._ids, int(loaded.get("ids") or 0))
            for repo in loaded.get("repos") or []:
                self.repos[repo["full_name"].lower()] = FakeRepo(**repo)
            for name in ("issues", "comments", "pulls", "check_runs", "statuses", "threads", "pushes"):
                table = getattr(self, name)
                for first, second, value in loaded.get(name) or []:
                    table[(first, second)] = value
            self.first_number.update(loaded.get("first_number") or {})
            self.repo_payloads.update(loaded.get("repo_payloads") or {})
            self.installations.update(loaded.get("installations") or {})
            self._ready_sent.update(loaded.get("ready_sent") or [])
            self.comment_edits.update({int(cid): list(bodies) for cid, bodies in loaded.get("comment_edits") or []})
        if self.remotes is not None:
            for repo in list(self.repos.values()):
                self.remotes.ensure(repo.full_name, repo.default_branch)

    # ------------------------------------------------------------------ seeding and learning

    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False) -> FakeRepo:
        repo = super().add_repo(full_name, default_branch=default_branch, private=private)
        if self.remotes is not None:
            self.remotes.ensure(full_name, default_branch)
        return repo

    def _next_number(self, key: str) -> int:
        return max(super()._next_number(key), self.first_number.get(key, 1))

    def learn(self, event: str, payload: Mapping[str, Any]) -> list[str]:
        """Take the repository, issue or pull request a delivery names; what was new, for the view."""
        learned: list[str] = []
        repository = payload.get("repository")
        if not isinstance(repository, dict) or not isinstance(repository.get("full_name"), str):
            return learned
        name = repository["full_name"]
        key = name.lower()
        with self._state:
            if key not in self.repos:
                self.add_repo(
                    name,
                    default_branch=str(repository.get("default_branch") or "main"),
                    private=bool(repository.get("private")),
                )
                learned.append(f"repository {name}")
            if isinstance(repository.get("id"), int):
                self.repos[key].id = repository["id"]
            self.repo_payloads[key] = copy.deepcopy(repository)
            for extra in ("installation", "organization"):
                if isinstance(payload.get(extra), dict):
                    self.installations.setdefault(key, {})[extra] = copy.deepcopy(payload[extra])
            issue = payload.get("issue")
            if isinstance(issue, dict) and isinstance(issue.get("number"), int) and "pull_request" not in issue:
                number = issue["number"]
                if (key, number) not in self.issues:
                    stored = copy.deepcopy(issue)
                    stored.pop("pull_request", None)
                    self.issues[(key, number)] = stored
                    learned.append(f"issue #{number} {str(issue.get('title') or '')!r}")
            pull = payload.get("pull_request")
            if (
                isinstance(pull, dict)
                and isinstance(pull.get("number"), int)
                and (key, pull["number"]) not in self.pulls
            ):
                self.pulls[(key, pull["number"])] = copy.deepcopy(pull)
                learned.append(f"pull request #{pull['number']}")
        return learned

    # ------------------------------------------------------------------ payload pieces

    def repository_payload(self, key: str) -> dict[str, Any]:
        repo = self.repos[key]
        known = self.repo_payloads.get(key)
        if known is not None:
            return copy.deepcopy(known)
        owner, name = repo.full_name.split("/", 1)
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user(owner, "Organization"),
            "html_url": f"https://github.com/{repo.full_name}",
            "fork": False,
            "url": f"{self.url}/repos/{repo.full_name}",
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
        }

    def _envelope(self, key: str, action: str, sender: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"action": action, "repository": self.repository_payload(key)}
        extras = self.installations.get(key, {})
        if "organization" in extras:
            payload["organization"] = copy.deepcopy(extras["organization"])
        payload["sender"] = self._user(sender, "Bot" if sender.endswith("[bot]") else "User")
        if "installation" in extras:
            payload["installation"] = copy.deepcopy(extras["installation"])
        return payload

    def _issue_of(self, key: str, number: int) -> dict[str, Any]:
        """The issue a comment is on; for a pull request, its issue side (with ``pull_request`` links)."""
        if (key, number) in self.issues:
            return copy.deepcopy(self.issues[(key, number)])
        name = self.repos[key].full_name
        pull = self.pulls.get((key, number))
        issue: dict[str, Any] = {
            "url": f"{self.url}/repos/{name}/issues/{number}",
            "number": number,
            "html_url": f"https://github.com/{name}/{'pull' if pull else 'issues'}/{number}",
            "title": pull["title"] if pull else "",
            "body": pull.get("body", "") if pull else "",
            "user": pull["user"] if pull else self._user("octocat"),
            "state": "open",
            "labels": [],
            "comments": len(self.comments.get((key, number), [])),
            "created_at": _now_iso(),
            "updated_at": _now_iso(),
            "author_association": "NONE",
        }
        if pull:
            issue["pull_request"] = {
                "url": pull["url"],
                "html_url": pull["html_url"],
                "diff_url": pull["html_url"] + ".diff",
                "patch_url": pull["html_url"] + ".patch",
                "merged_at": None,
            }
        return issue

    def _minimal_pull(self, key: str, pull: dict[str, Any]) -> dict[str, Any]:
        repo = self.repos[key]
        ref = {"id": repo.id, "url": f"{self.url}/repos/{repo.full_name}", "name": repo.full_name.split("/")[1]}
        return {
            "url": pull["url"],
            "id": pull["id"],
            "number": pull["number"],
            "head": {"ref": pull["head"]["ref"], "sha": pull["head"]["sha"], "repo": ref},
            "base": {"ref": pull["base"]["ref"], "sha": pull["base"]["sha"], "repo": ref},
        }

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        if self.send is not None:
            self.send(event, payload)

    # ------------------------------------------------------------------ events

    def comment_created(self, key: str, number: int, comment: dict[str, Any]) -> None:
        payload = self._envelope(key, "created", comment["user"]["login"])
        payload["issue"] = self._issue_of(key, number)
        payload["comment"] = copy.deepcopy(comment)
        self._emit("issue_comment", payload)

    def pull_event(self, key: str, pull: dict[str, Any], action: str, sender: str, before: str | None = None) -> None:
        payload = self._envelope(key, action, sender)
        payload["number"] = pull["number"]
        payload["pull_request"] = copy.deepcopy(pull)
        if action == "synchronize":
            payload["before"] = before
            payload["after"] = pull["head"]["sha"]
        self._emit("pull_request", payload)

    def run_ci(self, key: str, pull: dict[str, Any]) -> None:
        """Queue the scripted check run on the PR's head; it completes after ``ci.delay`` seconds."""
        number, sha = pull["number"], pull["head"]["sha"]
        with self._state:
            push = self.pushes.get((key, number), 0)
            self.pushes[(key, number)] = push + 1
        run = self.add_check_run(self.repos[key].full_name, sha, self.ci.name, status="in_progress")
        conclusion = self.ci.conclusion(number, push)
        timer = threading.Timer(self.ci.delay, self._complete_check, args=(key, pull, run, conclusion))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _complete_check(self, key: str, pull: dict[str, Any], run: dict[str, Any], conclusion: str) -> None:
        with self._state:
            run.update(
                {
                    "status": "completed",
                    "conclusion": conclusion,
                    "completed_at": _now_iso(),
                    "output": {
                        "title": f"{run['name']}: {conclusion}",
                        "summary": "scripted by the stand-in",
                        "text": None,
                        "annotations_count": 0,
                    },
                }
            )
            minimal = [self._minimal_pull(key, pull)]
            run["pull_requests"] = minimal
        payload = self._envelope(key, "completed", "github-actions[bot]")
        check_run = copy.deepcopy(run)
        check_run["check_suite"] = {
            "id": run["check_suite"]["id"],
            "head_branch": pull["head"]["ref"],
            "head_sha": run["head_sha"],
            "status": "completed",
            "conclusion": conclusion,
            "pull_requests": minimal,
            "app": run["app"],
            "created_at": run["started_at"],
            "updated_at": run["completed_at"],
        }
        payload["check_run"] = check_run
        self._emit("check_run", payload)

    def pushed(self, repository: str, updates: list[list[str]]) -> None:
        """The remote's hook: each ``[old, new, ref]`` that moves an open PR's branch synchronizes it."""
        key = repository.lower()
        for update in updates:
            if len(update) != 3 or not update[2].startswith("refs/heads/"):
                continue
            old, new, branch = update[0], update[1], update[2][len("refs/heads/") :]
            with self._state:
                pulls = [
                    p
                    for (k, _), p in self.pulls.items()
                    if k == key and p["state"] == "open" and p["head"]["ref"] == branch and p["head"]["sha"] != new
                ]
                for pull in pulls:
                    pull["head"]["sha"] = new
                    pull["updated_at"] = _now_iso()
            for pull in pulls:
                self.pull_event(key, pull, "synchronize", self.token_login, before=old)
                self.run_ci(key, pull)

    # ------------------------------------------------------------------ answering

    def answer(self, recorded: Recorded) -> Answer:
        path = urlsplit(recorded.path).path
        if path == PUSH_PATH and recorded.method == "POST":
            body = json.loads(recorded.body or b"{}")
            self.pushed(str(body.get("repository") or ""), list(body.get("updates") or []))
            return self._json(200, {"ok": True})
        if path == COMMENT_PATH and recorded.method == "POST":
            return self._typed_comment(json.loads(recorded.body or b"{}"))
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", path)
        if match and recorded.method == "POST" and self.remotes is not None:
            return self._open_pull(recorded, match.group(1))
        status, headers, payload = super().answer(recorded)
        if 200 <= status < 300 and recorded.method in ("POST", "PATCH"):
            self._after(recorded, path, payload)
        return status, headers, payload

    def _after(self, recorded: Recorded, path: str, answer: bytes) -> None:
        comment = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
        if comment and recorded.method == "POST":
            key = comment.group(1).lower()
            if key in self.repos:
                self.comment_created(self.repos[key].full_name.lower(), int(comment.group(2)), json.loads(answer))
            return
        if path in ("/graphql", "/api/graphql") and b"markPullRequestReadyForReview" in recorded.body:
            node = (json.loads(recorded.body).get("variables") or {}).get("id")
            result = json.loads(answer).get("data") or {}
            if not result.get("markPullRequestReadyForReview"):
                return
            for (key, _), pull in list(self.pulls.items()):
                if pull["node_id"] == node and pull["node_id"] not in self._ready_sent:
                    self._ready_sent.add(pull["node_id"])
                    self.pull_event(key, pull, "ready_for_review", self.token_login)

    def _typed_comment(self, body: Mapping[str, Any]) -> Answer:
        """A comment a person writes on an issue or PR (not through the API token): it is stored as
        theirs, with their author association, and comes back as ``issue_comment.created``."""
        repo = self.repos.get(str(body.get("repository") or "").lower())
        number, text = body.get("number"), str(body.get("body") or "")
        if repo is None or not isinstance(number, int) or not text.strip():
            return self._error(422, "repository (known to the stand-in), number and body are required")
        key = repo.full_name.lower()
        if (key, number) not in self.issues and (key, number) not in self.pulls:
            return self._error(404, f"{repo.full_name} has no issue or pull request #{number} in the stand-in")
        comment = self.add_comment(
            repo.full_name,
            number,
            text,
            login=str(body.get("login") or "octocat"),
            association=str(body.get("association") or "OWNER"),
        )
        self.comment_created(key, number, comment)
        return self._json(201, comment)

    def _open_pull(self, recorded: Recorded, full: str) -> Answer:
        """``POST /pulls`` from a branch of the local remote (GitHub refuses an unknown head with 422)."""
        assert self.remotes is not None
        if self._bearer(recorded) not in self.valid_tokens:
            return self._error(401, "Bad credentials")
        repo = self.repos.get(full.lower())
        if repo is None:
            return self._error(404, "Not Found")
        key = repo.full_name.lower()
        body = json.loads(recorded.body or b"{}")
        head = str(body.get("head") or "").split(":")[-1]
        base = str(body.get("base") or repo.default_branch)
        head_sha = self.remotes.head(repo.full_name, head)
        base_sha = self.remotes.head(repo.full_name, base)
        problems = [
            {"resource": "PullRequest", "field": field_name, "code": "invalid"}
            for field_name, sha in (("head", head_sha), ("base", base_sha))
            if sha is None
        ]
        with self._state:
            if not problems and any(
                k == key and p["state"] == "open" and p["head"]["ref"] == head for (k, _), p in self.pulls.items()
            ):
                return self._json(
                    422,
                    {
                        "message": "Validation Failed",
                        "status": "422",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {full.split('/')[0]}:{head}.",
                            }
                        ],
                        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                    },
                )
            if problems:
                return self._json(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": problems,
                        "status": "422",
                        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                    },
                )
            assert head_sha is not None and base_sha is not None
            number = self._next_number(key)
            pull = self.add_pull(
                repo.full_name,
                number,
                head=head,
                base=base,
                head_sha=head_sha,
                draft=bool(body.get("draft")),
                title=str(body.get("title") or ""),
                login=self.token_login,
            )
            pull["body"] = str(body.get("body") or "")
            pull["base"]["sha"] = base_sha
            pull["issue_url"] = f"{self.url}/repos/{repo.full_name}/issues/{number}"
        self.pull_event(key, pull, "opened", self.token_login)
        self.run_ci(key, pull)
        return self._json(201, pull)
