"""A GitHub API stand-in: a real HTTP server holding repositories, issues, comments, pull requests,
check runs, commit statuses and review threads in memory.

Answers have the shapes api.github.com returns (ids and node_ids, html_url, user.login,
author_association, ``Link`` headers paginated by ``per_page``/``page``, rate-limit headers,
GraphQL ``{"data": {"repository": {"pullRequest": {"reviewThreads": {...}}}}}``). Faults are
injected with :meth:`FakeGitHub.fail_next` (any status, optional headers, matched by path)
and :meth:`FakeGitHub.rate_limit`. Tokens: ``valid_tokens``; GitHub App JWTs are verified
with the App's public key and exchanged for installation tokens with a chosen lifetime.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from codex_pipeline.dev.fakehttp import Answer, FakeServer, Recorded
from codex_pipeline.dev.hook_deliveries import DeliveryLog, FakeHook

DOCS = "https://docs.github.com/rest"


def _now_iso(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return kind + "_" + base64.b64encode(f"{kind}{number}".encode()).decode().rstrip("=")


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    path_contains: str | None
    remaining: int
    method: str | None = None


@dataclass
class FakeRepo:
    full_name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    installation_id: int = 1


@dataclass
class FakeApp:
    app_id: str
    public_key: str
    token_lifetime: float = 3600.0
    issued: list[str] = field(default_factory=list)


class FakeGitHub(FakeServer):
    """``with FakeGitHub() as gh:``; seed with ``add_repo``/``add_comment``/``add_pull``/..."""

    def __init__(self, *, tokens: tuple[str, ...] = ("test-token",), latency: float = 0.0) -> None:
        super().__init__()
        self.valid_tokens: set[str] = set(tokens)
        self.latency = latency
        self.repos: dict[str, FakeRepo] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.check_runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.threads: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.app: FakeApp | None = None
        self.rate_limit_remaining = 5000
        self.hooks: dict[int, FakeHook] = {}  # webhooks; the App's has repository None
        self.deliveries = DeliveryLog()
        self.token_login = "codex-bot"  # noqa: S105 -- a login, not a secret: who a token's comments, issues and pull requests are by
        self._faults: list[Fault] = []
        self._ids = 1000
        self._state = threading.RLock()
        # Shut down within 50 ms instead of serve_forever's default 0.5 s poll.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FakeGitHub:
        super().__enter__()
        return self

    # ------------------------------------------------------------------ seeding

    def _next_id(self) -> int:
        with self._state:
            self._ids += 1
            return self._ids

    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False) -> FakeRepo:
        repo = FakeRepo(full_name, self._next_id(), default_branch, private)
        self.repos[full_name.lower()] = repo
        return repo

    def _user(self, login: str, kind: str = "User") -> dict[str, Any]:
        uid = sum(login.encode()) + 10_000
        return {"login": login, "id": uid, "node_id": _node_id("U", uid), "type": kind,
                "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
                "html_url": f"https://github.com/{login}", "url": f"{self.url}/users/{login}",
                "site_admin": False}

    def add_comment(self, repo: str, number: int, body: str, *, login: str = "octocat",
                    association: str = "OWNER", kind: str = "User") -> dict[str, Any]:
        with self._state:
            cid = self._next_id()
            stamp = _now_iso()
            comment = {
                "id": cid, "node_id": _node_id("IC", cid),
                "url": f"{self.url}/repos/{repo}/issues/comments/{cid}",
                "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{cid}",
                "issue_url": f"{self.url}/repos/{repo}/issues/{number}",
                "body": body, "user": self._user(login, kind), "created_at": stamp, "updated_at": stamp,
                "author_association": association, "performed_via_github_app": None,
                "reactions": {"url": f"{self.url}/repos/{repo}/issues/comments/{cid}/reactions", "total_count": 0},
            }
            self.comments.setdefault((repo.lower(), number), []).append(comment)
            return comment

    def _next_number(self, key: str) -> int:
        """Issues and pull requests share one sequence of numbers per repository, as on GitHub."""
        return max([n for (k, n) in [*self.pulls, *self.issues] if k == key] + [0]) + 1

    def add_issue(self, repo: str, title: str, body: str, *, login: str = "codex-bot",
                  labels: list[str] | None = None) -> dict[str, Any]:
        with self._state:
            key = repo.lower()
            number = self._next_number(key)
            iid = self._next_id()
            stamp = _now_iso()
            issue = {
                "id": iid, "node_id": _node_id("I", iid), "number": number, "title": title, "body": body,
                "url": f"{self.url}/repos/{repo}/issues/{number}",
                "html_url": f"https://github.com/{repo}/issues/{number}",
                "comments_url": f"{self.url}/repos/{repo}/issues/{number}/comments",
                "user": self._user(login), "labels": [{"name": name} for name in labels or []], "state": "open",
                "locked": False, "assignee": None, "assignees": [], "milestone": None, "comments": 0,
                "created_at": stamp, "updated_at": stamp, "closed_at": None, "author_association": "NONE",
                "active_lock_reason": None, "state_reason": None, "reactions": {"total_count": 0},
            }
            self.issues[(key, number)] = issue
            return issue

    def add_pull(self, repo: str, number: int, *, head: str = "codex/issue-1-fix", base: str = "main",
                 head_sha: str = "a" * 40, draft: bool = True, mergeable: bool | None = True,
                 mergeable_state: str = "clean", login: str = "codex-bot", title: str = "Fix it") -> dict[str, Any]:
        owner = repo.split("/", 1)[0]
        pid = self._next_id()
        repo_obj = {"full_name": repo, "name": repo.split("/", 1)[1], "owner": self._user(owner, "Organization")}
        pull = {
            "url": f"{self.url}/repos/{repo}/pulls/{number}", "id": pid, "node_id": _node_id("PR", pid),
            "html_url": f"https://github.com/{repo}/pull/{number}", "number": number, "state": "open",
            "locked": False, "title": title, "body": "Closes #1", "user": self._user(login, "Bot"),
            "draft": draft, "merged": False, "mergeable": mergeable, "mergeable_state": mergeable_state,
            "rebaseable": True, "created_at": _now_iso(), "updated_at": _now_iso(),
            "head": {"label": f"{owner}:{head}", "ref": head, "sha": head_sha, "repo": repo_obj,
                     "user": self._user(owner, "Organization")},
            "base": {"label": f"{owner}:{base}", "ref": base, "sha": "b" * 40, "repo": repo_obj,
                     "user": self._user(owner, "Organization")},
            "author_association": "CONTRIBUTOR", "requested_reviewers": [],
        }
        self.pulls[(repo.lower(), number)] = pull
        return pull

    def add_check_run(self, repo: str, sha: str, name: str, *, status: str = "completed",
                      conclusion: str | None = "success") -> dict[str, Any]:
        rid = self._next_id()
        run = {
            "id": rid, "node_id": _node_id("CR", rid), "head_sha": sha, "external_id": "", "name": name,
            "url": f"{self.url}/repos/{repo}/check-runs/{rid}",
            "html_url": f"https://github.com/{repo}/runs/{rid}",
            "details_url": f"https://ci.example.test/{repo}/runs/{rid}",
            "status": status, "conclusion": conclusion if status == "completed" else None,
            "started_at": _now_iso(-60), "completed_at": _now_iso() if status == "completed" else None,
            "output": {"title": f"{name}: {conclusion}", "summary": "", "text": None, "annotations_count": 0},
            "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
            "check_suite": {"id": rid + 1}, "pull_requests": [],
        }
        self.check_runs.setdefault((repo.lower(), sha), []).append(run)
        return run

    def add_status(self, repo: str, sha: str, context: str, state: str) -> dict[str, Any]:
        sid = self._next_id()
        status = {
            "url": f"{self.url}/repos/{repo}/statuses/{sha}", "id": sid, "node_id": _node_id("SC", sid),
            "state": state, "description": f"{context} {state}", "target_url": f"https://ci.example.test/{sid}",
            "context": context, "created_at": _now_iso(), "updated_at": _now_iso(),
            "avatar_url": None, "creator": self._user("ci-bot", "Bot"),
        }
        self.statuses.setdefault((repo.lower(), sha), []).append(status)
        return status

    def add_thread(self, repo: str, number: int, body: str, *, resolved: bool = False,
                   login: str = "reviewer", path: str = "src/app.py", line: int | None = 10) -> dict[str, Any]:
        tid = self._next_id()
        thread = {
            "id": _node_id("PRRT", tid), "isResolved": resolved, "isOutdated": False, "path": path, "line": line,
            "comments": {"nodes": [{
                "body": body, "author": {"login": login},
                "url": f"https://github.com/{repo}/pull/{number}#discussion_r{tid}",
            }]},
        }
        self.threads.setdefault((repo.lower(), number), []).append(thread)
        return thread

    def enable_app(self, app_id: str, public_key_pem: str, *, token_lifetime: float = 3600.0) -> FakeApp:
        self.app = FakeApp(app_id, public_key_pem, token_lifetime)
        return self.app

    def add_hook(self, repo: str | None, url: str, secret: str, *, hook_id: int | None = None) -> FakeHook:
        """A repository webhook (``repo``), or the GitHub App's webhook (``repo`` None)."""
        found = self.repos.get(repo.lower()) if repo else None
        hook = FakeHook(hook_id or self._next_id(), url, secret, found.full_name if found else repo,
                        found.id if found else None, None if repo else 1)
        self.hooks[hook.id] = hook
        return hook

    def deliver(self, hook: FakeHook, event: str, payload: dict[str, Any] | bytes,
                guid: str | None = None) -> dict[str, Any]:
        """Send one delivery to the hook now, as GitHub does (one attempt, no retry), and log it."""
        return self.deliveries.send(hook, event, payload, guid=guid)

    # ------------------------------------------------------------------ faults

    def fail_next(self, status: int, *, count: int = 1, headers: dict[str, str] | None = None,
                  path_contains: str | None = None, message: str | None = None, method: str | None = None) -> None:
        """The next ``count`` requests (whose path contains ``path_contains``, of ``method``) get ``status``."""
        body = {"message": message or {401: "Bad credentials", 404: "Not Found", 403: "Forbidden",
                                       500: "Server Error", 502: "Bad Gateway"}.get(status, "Error"),
                "documentation_url": DOCS, "status": str(status)}
        with self._state:
            self._faults.append(Fault(status, dict(headers or {}), body, path_contains, count, method))

    def rate_limit(self, *, reset_in: float, count: int = 1, path_contains: str | None = None) -> None:
        """Primary rate limit: 403 with ``X-RateLimit-Remaining: 0`` until ``reset_in`` seconds from now."""
        self.fail_next(403, count=count, path_contains=path_contains,
                       message="API rate limit exceeded for installation ID 1.",
                       headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000",
                                "X-RateLimit-Reset": str(int(time.time() + reset_in)),
                                "X-RateLimit-Resource": "core"})

    def secondary_rate_limit(self, *, retry_after: int, count: int = 1, status: int = 403) -> None:
        """Secondary rate limit: 403 (or 429) with ``Retry-After``."""
        self.fail_next(status, count=count, headers={"Retry-After": str(retry_after)},
                       message="You have exceeded a secondary rate limit. Please wait a few minutes before you "
                               "try again.")

    def revoke_all_tokens(self) -> None:
        """Every installation token issued so far stops working (as when one expires early)."""
        with self._state:
            if self.app:
                self.valid_tokens -= set(self.app.issued)

    # ------------------------------------------------------------------ queries for tests

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # ------------------------------------------------------------------ answering

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        with self._state:
            if 200 <= status < 300:
                self.rate_limit_remaining = max(0, self.rate_limit_remaining - 1)
            remaining = self.rate_limit_remaining
        base = {"content-type": "application/json; charset=utf-8", "x-github-media-type": "github.v3; format=json",
                "x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-used": str(5000 - remaining),
                "x-ratelimit-resource": "core", "x-github-request-id": f"FAKE:{self._next_id()}"}
        base.update({k.lower(): v for k, v in (headers or {}).items()})
        return status, base, json.dumps(payload).encode()

    def _error(self, status: int, message: str) -> Answer:
        return self._json(status, {"message": message, "documentation_url": DOCS, "status": str(status)})

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._state:
            for fault in self._faults:
                if (fault.path_contains is None or fault.path_contains in path) and fault.method in (None, method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _bearer(self, recorded: Recorded) -> str:
        value = recorded.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token if scheme.lower() in ("bearer", "token") else ""

    def _verify_app_jwt(self, token: str) -> bool:
        import jwt

        if self.app is None:
            return False
        try:
            claims = jwt.decode(token, self.app.public_key, algorithms=["RS256"], options={"require": ["exp", "iat"]})
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == self.app.app_id and claims["exp"] - claims["iat"] <= 660

    def _page(self, recorded: Recorded, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        parts = urlsplit(recorded.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, (len(items) + per_page - 1) // per_page)
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{parts.path}?{urlencode({**query, "page": number})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        return chunk, ({"link": ", ".join(links)} if links else {})

    def answer(self, recorded: Recorded) -> Answer:
        if self.latency:
            time.sleep(self.latency)
        path = urlsplit(recorded.path).path
        if path.startswith("/api/v3/"):  # GitHub Enterprise Server's REST prefix
            path = path[len("/api/v3"):]
        fault = self._take_fault(recorded.method, path)
        if fault is not None:
            return self._json(fault.status, fault.body, fault.headers)
        if path == "/_standin/deliveries" and recorded.method == "POST":
            return self._send_delivery(json.loads(recorded.body or b"{}"))
        token = self._bearer(recorded)
        if path.startswith("/app/hook/"):
            if not self._verify_app_jwt(token):
                return self._error(401, "A JSON web token could not be decoded")
            app_hook = next((h for h in self.hooks.values() if h.repository is None), None)
            if app_hook is None:
                return self._error(404, "Not Found")
            return self._hook_call(recorded, app_hook, path[len("/app/hook"):])
        if path.startswith("/app/") or re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path):
            if not self._verify_app_jwt(token):
                return self._error(401, "A JSON web token could not be decoded")
            return self._app_call(recorded, path)
        if token not in self.valid_tokens:
            return self._error(401, "Bad credentials")
        if path == "/graphql" or path == "/api/graphql":
            return self._graphql(json.loads(recorded.body or b"{}"), recorded.headers.get("authorization", ""))
        return self._rest(recorded, path)

    def _app_call(self, recorded: Recorded, path: str) -> Answer:
        assert self.app is not None
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/installation", path)
        if match:
            repo = self.repos.get(match.group(1).lower())
            if repo is None:
                return self._error(404, "Not Found")
            return self._json(200, {"id": repo.installation_id, "app_id": int(self.app.app_id),
                                    "target_type": "Organization", "account": self._user(match.group(1).split("/")[0])})
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match and recorded.method == "POST":
            token = f"ghs_{self._next_id()}fake"
            with self._state:
                self.app.issued.append(token)
                self.valid_tokens.add(token)
            return self._json(201, {"token": token, "expires_at": _now_iso(self.app.token_lifetime),
                                    "permissions": {"issues": "write", "pull_requests": "write", "checks": "read"},
                                    "repository_selection": "all"})
        return self._error(404, "Not Found")

    def _rest(self, recorded: Recorded, path: str) -> Answer:
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not match:
            return self._error(404, "Not Found")
        full = f"{match.group(1)}/{match.group(2)}"
        repo = self.repos.get(full.lower())
        if repo is None:
            return self._error(404, "Not Found")
        key = repo.full_name.lower()
        rest = match.group(3) or ""
        method = recorded.method
        body = json.loads(recorded.body) if recorded.body else {}
        if rest == "" and method == "GET":
            return self._json(200, {"id": repo.id, "node_id": _node_id("R", repo.id), "full_name": repo.full_name,
                                    "name": repo.full_name.split("/")[1], "private": repo.private,
                                    "default_branch": repo.default_branch,
                                    "html_url": f"https://github.com/{repo.full_name}"})
        if rest == "/issues" and method == "POST":
            if not str(body.get("title") or "").strip():
                return self._json(422, {"message": "Validation Failed", "documentation_url": DOCS,
                                        "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                                        "status": "422"})
            login = "codex-app[bot]" if recorded.headers.get("authorization", "").startswith("Bearer ghs_") \
                else self.token_login
            return self._json(201, self.add_issue(repo.full_name, body["title"], str(body.get("body") or ""),
                                                  login=login, labels=list(body.get("labels") or [])))
        if rest == "/issues" and method == "GET":
            query = {k: v[-1] for k, v in parse_qs(urlsplit(recorded.path).query).items()}
            state = query.get("state", "open")
            with self._state:
                items = [i for (k, _), i in self.issues.items() if k == key and (state == "all" or i["state"] == state)]
            items.sort(key=lambda i: i["number"], reverse=query.get("direction", "desc") == "desc")
            chunk, headers = self._page(recorded, items)
            return self._json(200, chunk, headers)
        if (m := re.fullmatch(r"/issues/(\d+)", rest)) and method == "GET":
            found = self.issues.get((key, int(m.group(1))))
            return self._json(200, found) if found else self._error(404, "Not Found")
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(m.group(1))
            if method == "GET":
                with self._state:
                    items = list(self.comments.get((key, number), []))
                chunk, headers = self._page(recorded, items)
                return self._json(200, chunk, headers)
            if method == "POST":
                if not str(body.get("body") or "").strip():
                    return self._json(422, {"message": "Validation Failed", "documentation_url": DOCS,
                                            "errors": [{"resource": "IssueComment", "code": "missing_field",
                                                        "field": "body"}], "status": "422"})
                login = "codex-app[bot]" if recorded.headers.get("authorization", "").startswith("Bearer ghs_") \
                    else self.token_login
                return self._json(201, self.add_comment(repo.full_name, number, body["body"], login=login,
                                                        association="NONE"))
        if (m := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            cid = int(m.group(1))
            with self._state:
                for (owner_key, _), comments in self.comments.items():
                    for comment in comments:
                        if owner_key == key and comment["id"] == cid:
                            comment["body"] = body.get("body", comment["body"])
                            comment["updated_at"] = _now_iso()
                            return self._json(200, comment)
            return self._error(404, "Not Found")
        if rest == "/pulls":
            if method == "GET":
                query = {k: v[-1] for k, v in parse_qs(urlsplit(recorded.path).query).items()}
                state = query.get("state", "open")
                head = query.get("head")
                items = [p for (k, _), p in sorted(self.pulls.items()) if k == key
                         and (state == "all" or p["state"] == state) and (head is None or p["head"]["label"] == head)]
                chunk, headers = self._page(recorded, items)
                return self._json(200, chunk, headers)
            if method == "POST":
                number = max([n for (k, n) in self.pulls if k == key] + [0]) + 1
                pull = self.add_pull(repo.full_name, number, head=body["head"], base=body["base"],
                                     draft=bool(body.get("draft")), title=body.get("title", ""))
                pull["body"] = body.get("body", "")
                return self._json(201, pull)
        if m := re.fullmatch(r"/hooks/(\d+)(/.*)", rest):
            hook = self.hooks.get(int(m.group(1)))
            if hook is None or (hook.repository or "").lower() != key:
                return self._error(404, "Not Found")
            return self._hook_call(recorded, hook, m.group(2))
        if (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "GET":
            found = self.pulls.get((key, int(m.group(1))))
            return self._json(200, found) if found else self._error(404, "Not Found")
        if (m := re.fullmatch(r"/commits/([^/]+)/check-runs", rest)) and method == "GET":
            runs = list(self.check_runs.get((key, m.group(1)), []))
            chunk, headers = self._page(recorded, runs)
            return self._json(200, {"total_count": len(runs), "check_runs": chunk}, headers)
        if (m := re.fullmatch(r"/commits/([^/]+)/status", rest)) and method == "GET":
            sha = m.group(1)
            latest: dict[str, dict[str, Any]] = {}
            for status in self.statuses.get((key, sha), []):
                latest[status["context"]] = status  # the combined status keeps the latest per context
            items = list(latest.values())
            states = {s["state"] for s in items}
            combined = ("failure" if states & {"failure", "error"} else "pending" if "pending" in states or not items
                        else "success")
            chunk, headers = self._page(recorded, items)
            return self._json(200, {"state": combined, "statuses": chunk, "sha": sha, "total_count": len(items),
                                    "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
                                    "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}/status"}, headers)
        return self._error(404, "Not Found")

    def _hook_call(self, recorded: Recorded, hook: FakeHook, rest: str) -> Answer:
        """``/deliveries`` (cursor-paginated), ``/deliveries/{id}``, ``POST /deliveries/{id}/attempts``."""
        parts = urlsplit(recorded.path)
        if rest == "/deliveries" and recorded.method == "GET":
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            chunk, headers = self.deliveries.page(hook.id, self.url + parts.path, query)
            return self._json(200, chunk, headers)
        match = re.fullmatch(r"/deliveries/(\d+)(/attempts)?", rest)
        if match is None:
            return self._error(404, "Not Found")
        sent = self.deliveries.find(hook.id, int(match.group(1)))
        if sent is None:
            return self._error(404, "Not Found")
        if match.group(2) and recorded.method == "POST":
            self.deliveries.redeliver(hook, int(match.group(1)))
            return self._json(202, {})
        if not match.group(2) and recorded.method == "GET":
            answer = sent.response_body.decode("utf-8", "replace")
            return self._json(200, {**sent.item, "url": hook.url,
                                    "request": {"headers": sent.headers, "payload": json.loads(sent.body)},
                                    "response": {"headers": {}, "payload": answer}})
        return self._error(404, "Not Found")

    def _send_delivery(self, request: dict[str, Any]) -> Answer:
        """dev's way in (not a GitHub endpoint): send ``{event, payload | body_base64, guid?, hook_id?}`` through a
        hook, so the delivery is logged as GitHub would log it; answers the item and what came back."""
        hooks = [h for h in self.hooks.values() if not request.get("hook_id") or h.id == int(request["hook_id"])]
        if not hooks:
            return self._error(404, "no webhook configured on the stand-in")
        body = base64.b64decode(str(request["body_base64"])) if request.get("body_base64") else None
        item = self.deliver(hooks[0], str(request.get("event") or ""), body or request.get("payload") or {},
                            guid=str(request["guid"]) if request.get("guid") else None)
        sent = self.deliveries.find(hooks[0].id, int(item["id"]))
        answer = sent.response_body.decode("utf-8", "replace") if sent else ""
        return self._json(200, {"delivery": item, "response": answer})

    def _graphql(self, payload: dict[str, Any], authorization: str = "") -> Answer:
        query = str(payload.get("query") or "")
        variables = payload.get("variables") or {}
        if re.search(r"\bviewer\s*\{", query) and "repository" not in query:
            # the login comments are posted as, for the same credentials
            login = "codex-app[bot]" if authorization.startswith("Bearer ghs_") else self.token_login
            return self._json(200, {"data": {"viewer": {"login": login}}})
        if "markPullRequestReadyForReview" in query:
            node = variables.get("id")
            with self._state:
                for pull in self.pulls.values():
                    if pull["node_id"] == node:
                        pull["draft"] = False
                        return self._json(200, {"data": {"markPullRequestReadyForReview": {
                            "pullRequest": {"id": node, "isDraft": False}}}})
            return self._json(200, {"data": {"markPullRequestReadyForReview": None}, "errors": [{
                "type": "NOT_FOUND", "path": ["markPullRequestReadyForReview"], "locations": [{"line": 2, "column": 3}],
                "message": f"Could not resolve to a node with the global id of '{node}'"}]})
        if "reviewThreads" in query:
            owner, name = variables.get("owner", ""), variables.get("name", "")
            repo = self.repos.get(f"{owner}/{name}".lower())
            if repo is None:
                return self._json(200, {"data": {"repository": None}, "errors": [{
                    "type": "NOT_FOUND", "path": ["repository"], "locations": [{"line": 3, "column": 3}],
                    "message": f"Could not resolve to a Repository with the name '{owner}/{name}'."}]})
            number = int(variables.get("number", 0))
            if (repo.full_name.lower(), number) not in self.pulls:
                return self._json(200, {"data": {"repository": {"pullRequest": None}}, "errors": [{
                    "type": "NOT_FOUND", "path": ["repository", "pullRequest"], "locations": [{"line": 4, "column": 5}],
                    "message": f"Could not resolve to a PullRequest with the number of {number}."}]})
            first = int(variables.get("first", 100))
            if first > 100:
                return self._json(200, {"errors": [{"type": "ARGUMENT_LIMIT", "message": "first limit of 100"}]})
            threads = self.threads.get((repo.full_name.lower(), number), [])
            cursor = variables.get("cursor")
            start = int(base64.b64decode(cursor).decode().split(":")[1]) + 1 if cursor else 0
            nodes = threads[start:start + first]
            end = start + len(nodes) - 1
            end_cursor = base64.b64encode(f"cursor:{end}".encode()).decode() if nodes else None
            return self._json(200, {"data": {"repository": {"pullRequest": {"reviewThreads": {
                "nodes": nodes,
                "pageInfo": {"hasNextPage": start + first < len(threads), "endCursor": end_cursor}}}}}})
        return self._json(200, {"errors": [{"message": "Field is not defined", "type": "undefinedField"}]})
