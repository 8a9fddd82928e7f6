"""A GitHub API stand-in: a real HTTP server holding repositories, issues, comments, pull requests,
check runs, commit statuses and review threads in memory.

Answers carry every field GitHub's REST description (API version 2022-11-28, as shipped in
githubkit-schemas-2022-11-28 26.10.21) marks required: see ``github_shapes``; a test validates
them against those generated models. It follows the documented semantics the pipeline depends
on: check runs are listed with ``filter=latest`` by default (the newest run per name), issues
and pull requests share one sequence of numbers, a second pull request from a head that already
has an open one is refused with 422, and the issues list includes pull requests (with a
``pull_request`` key). ``Link`` headers paginate by ``per_page``/``page``, rate-limit headers
are sent, GraphQL answers ``{"data": ...}`` or ``{"errors": [...]}``. Faults are
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
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from codex_pipeline.dev import github_shapes as shapes
from codex_pipeline.dev.fakehttp import Answer, FakeServer, Recorded
from codex_pipeline.dev.hook_deliveries import DeliveryLog, FakeHook

DOCS = "https://docs.github.com/rest"
_now_iso = shapes.now_iso
_node_id = shapes.node_id
# The App the stand-in's installation tokens belong to (check runs created with them show it).
APP_SLUG = "codex-app"


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    path_contains: str | None
    remaining: int
    method: str | None = None


@dataclass(frozen=True)
class Answered:
    method: str
    path: str
    status: int
    body: bytes


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
        # Earlier bodies of edited comments, oldest first (GitHub keeps an edit history too).
        self.comment_edits: dict[int, list[str]] = {}
        self.app: FakeApp | None = None
        self.app_private_key: str | None = None  # only for `codex-pipeline dev`: the key its runs sign with
        # Pull requests whose answers leave out ``draft`` (GitHub's description does not require it).
        self.draft_unsaid: set[tuple[str, int]] = set()
        self.answers: list[Answered] = []  # every answer sent, for checks against GitHub's description
        self.rate_limit_remaining = 5000
        self.hooks: dict[int, FakeHook] = {}  # webhooks; the App's has repository None
        self.deliveries = DeliveryLog()
        self.token_login = "codex-bot"  # noqa: S105 -- a login, not a secret: who a token's comments, issues and pull requests are by
        self._faults: list[Fault] = []
        self._ids = 1000
        self._state = threading.RLock()
        # Shut down within 50 ms instead of serve_forever's default 0.5 s poll.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

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
        return shapes.user(self.url, login, kind)

    def add_comment(
        self,
        repo: str,
        number: int,
        body: str,
        *,
        login: str = "octocat",
        association: str = "OWNER",
        kind: str = "User",
    ) -> dict[str, Any]:
        with self._state:
            comment = shapes.issue_comment(
                self.url,
                repo,
                comment_id=self._next_id(),
                number=number,
                body=body,
                author=self._user(login, kind),
                association=association,
                created_at=_now_iso(),
            )
            self.comments.setdefault((repo.lower(), number), []).append(comment)
            return comment

    def _next_number(self, key: str) -> int:
        """Issues and pull requests share one sequence of numbers per repository, as on GitHub."""
        return max([n for (k, n) in [*self.pulls, *self.issues] if k == key] + [0]) + 1

    def add_issue(
        self, repo: str, title: str, body: str, *, login: str = "codex-bot", labels: list[str] | None = None
    ) -> dict[str, Any]:
        with self._state:
            key = repo.lower()
            number = self._next_number(key)
            issue = shapes.issue(
                self.url,
                repo,
                issue_id=self._next_id(),
                number=number,
                title=title,
                body=body,
                author=self._user(login, "Bot" if login.endswith("[bot]") else "User"),
                labels=list(labels or []),
                created_at=_now_iso(),
            )
            self.issues[(key, number)] = issue
            return issue

    def add_pull(
        self,
        repo: str,
        number: int | None = None,
        *,
        head: str = "codex/issue-1-fix",
        base: str = "main",
        head_sha: str = "a" * 40,
        draft: bool | None = True,
        mergeable: bool | None = True,
        mergeable_state: str = "clean",
        login: str = "codex-bot",
        title: str = "Fix it",
        body: str = "Closes #1",
    ) -> dict[str, Any]:
        """A pull request, numbered from the issues' sequence unless ``number`` is given.

        ``draft=None`` stores a non-draft whose answers leave ``draft`` out (GitHub may)."""
        with self._state:
            key = repo.lower()
            if number is None:
                number = self._next_number(key)
            repo_id = self.repos[key].id if key in self.repos else self._next_id()
            pull = shapes.pull_request(
                self.url,
                repo,
                pull_id=self._next_id(),
                number=number,
                title=title,
                body=body,
                author=self._user(login, "Bot"),
                draft=bool(draft),
                mergeable=mergeable,
                mergeable_state=mergeable_state,
                created_at=_now_iso(),
                head=shapes.pull_ref(self.url, repo, ref=head, sha=head_sha, repo_id=repo_id),
                base=shapes.pull_ref(self.url, repo, ref=base, sha="b" * 40, repo_id=repo_id),
            )
            self.pulls[(key, number)] = pull
            if draft is None:
                self.draft_unsaid.add((key, number))
            return pull

    def _pull_answer(self, key: str, pull: dict[str, Any]) -> dict[str, Any]:
        if (key, pull["number"]) in self.draft_unsaid:
            return {k: v for k, v in pull.items() if k != "draft"}
        return pull

    def add_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = "success",
        details_url: str | None = None,
        external_id: str | None = "",
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
        app_slug: str = "github-actions",
    ) -> dict[str, Any]:
        """A check run; a later run of the same name supersedes it under ``filter=latest``."""
        with self._state:
            rid = self._next_id()
            done = status == "completed"
            run = shapes.check_run(
                self.url,
                repo,
                run_id=rid,
                sha=sha,
                name=name,
                status=status,
                conclusion=conclusion if done else None,
                app_shape=shapes.app(self.url, app_id=15368 if app_slug == "github-actions" else 4242, slug=app_slug),
                details_url=details_url or f"https://ci.example.test/{repo}/runs/{rid}",
                external_id=external_id,
                started_at=_now_iso(-60) if status != "queued" else None,
                completed_at=_now_iso() if done else None,
                title=title if title is not None else f"{name}: {conclusion if done else status}",
                summary=summary if summary is not None else "",
                text=text,
            )
            self.check_runs.setdefault((repo.lower(), sha), []).append(run)
            return run

    def add_status(
        self,
        repo: str,
        sha: str,
        context: str,
        state: str,
        *,
        description: str | None = None,
        target_url: str | None = None,
        login: str = "ci-bot",
    ) -> dict[str, Any]:
        with self._state:
            status = shapes.commit_status(
                self.url,
                repo,
                status_id=self._next_id(),
                sha=sha,
                context=context,
                state=state,
                description=description if description is not None else f"{context} {state}",
                target_url=target_url if target_url is not None else f"https://ci.example.test/{context}",
                creator=self._user(login, "Bot"),
                created_at=_now_iso(),
            )
            self.statuses.setdefault((repo.lower(), sha), []).append(status)
            return status

    def add_thread(
        self,
        repo: str,
        number: int,
        body: str,
        *,
        resolved: bool = False,
        login: str = "reviewer",
        path: str = "src/app.py",
        line: int | None = 10,
    ) -> dict[str, Any]:
        tid = self._next_id()
        thread = {
            "id": _node_id("PRRT", tid),
            "isResolved": resolved,
            "isOutdated": False,
            "path": path,
            "line": line,
            "comments": {
                "nodes": [
                    {
                        "body": body,
                        "author": {"login": login},
                        "url": f"https://github.com/{repo}/pull/{number}#discussion_r{tid}",
                    }
                ]
            },
        }
        self.threads.setdefault((repo.lower(), number), []).append(thread)
        return thread

    def enable_app(self, app_id: str, public_key_pem: str, *, token_lifetime: float = 3600.0) -> FakeApp:
        self.app = FakeApp(app_id, public_key_pem, token_lifetime)
        return self.app

    def add_hook(self, repo: str | None, url: str, secret: str, *, hook_id: int | None = None) -> FakeHook:
        """A repository webhook (``repo``), or the GitHub App's webhook (``repo`` None)."""
        found = self.repos.get(repo.lower()) if repo else None
        hook = FakeHook(
            hook_id or self._next_id(),
            url,
            secret,
            found.full_name if found else repo,
            found.id if found else None,
            None if repo else 1,
        )
        self.hooks[hook.id] = hook
        return hook

    def deliver(
        self, hook: FakeHook, event: str, payload: dict[str, Any] | bytes, guid: str | None = None
    ) -> dict[str, Any]:
        """Send one delivery to the hook now, as GitHub does (one attempt, no retry), and log it."""
        return self.deliveries.send(hook, event, payload, guid=guid)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        path_contains: str | None = None,
        message: str | None = None,
        method: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """The next ``count`` requests (whose path contains ``path_contains``, of ``method``) get ``status``
        (with GitHub's error body, or ``body``)."""
        if body is None:
            body = {
                "message": message
                or {
                    401: "Bad credentials",
                    404: "Not Found",
                    403: "Forbidden",
                    500: "Server Error",
                    502: "Bad Gateway",
                }.get(status, "Error"),
                "documentation_url": DOCS,
                "status": str(status),
            }
        with self._state:
            self._faults.append(Fault(status, dict(headers or {}), body, path_contains, count, method))

    def rate_limit(self, *, reset_in: float, count: int = 1, path_contains: str | None = None) -> None:
        """Primary rate limit: 403 with ``X-RateLimit-Remaining: 0`` until ``reset_in`` seconds from now."""
        self.fail_next(
            403,
            count=count,
            path_contains=path_contains,
            message="API rate limit exceeded for installation ID 1.",
            headers={
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Reset": str(int(time.time() + reset_in)),
                "X-RateLimit-Resource": "core",
            },
        )

    def secondary_rate_limit(
        self, *, retry_after: int | None, count: int = 1, status: int = 403, path_contains: str | None = None
    ) -> None:
        """Secondary rate limit: 403 (or 429) with ``Retry-After``, or (``retry_after=None``) without it and
        with calls of the primary budget left, which GitHub documents as "wait at least a minute"."""
        self.fail_next(
            status,
            count=count,
            path_contains=path_contains,
            headers={"Retry-After": str(retry_after)} if retry_after is not None else {},
            message="You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID FAKE:1.",
        )

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
        base = {
            "content-type": "application/json; charset=utf-8",
            "x-github-media-type": "github.v3; format=json",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(5000 - remaining),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"FAKE:{self._next_id()}",
        }
        base.update({k.lower(): v for k, v in (headers or {}).items()})
        return status, base, json.dumps(payload).encode()

    def _error(self, status: int, message: str) -> Answer:
        return self._json(status, {"message": message, "documentation_url": DOCS, "status": str(status)})

    def _invalid(self, *errors: dict[str, Any]) -> Answer:
        """GitHub's 422 "Validation Failed", with the errors it names when it names any."""
        payload: dict[str, Any] = {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"}
        if errors:
            payload["errors"] = list(errors)
        return self._json(422, payload)

    def _author(self, authorization: str) -> str:
        """Who a comment or reaction is by: the App's bot for an installation token, else the token's user."""
        return "codex-app[bot]" if authorization.startswith("Bearer ghs_") else self.token_login

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
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{parts.path}?{urlencode({**query, "page": number})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        return chunk, ({"link": ", ".join(links)} if links else {})

    def answer(self, recorded: Recorded) -> Answer:
        answered = self._answer(recorded)
        with self._state:
            self.answers.append(Answered(recorded.method, urlsplit(recorded.path).path, answered[0], answered[2]))
        return answered

    def _answer(self, recorded: Recorded) -> Answer:
        if self.latency:
            time.sleep(self.latency)
        path = urlsplit(recorded.path).path
        if path.startswith("/api/v3/"):  # GitHub Enterprise Server's REST prefix
            path = path[len("/api/v3") :]
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
            return self._hook_call(recorded, app_hook, path[len("/app/hook") :])
        if path == "/app" or path.startswith("/app/") or re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path):
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
        if path == "/app" and recorded.method == "GET":
            return self._json(200, shapes.app(self.url, app_id=int(self.app.app_id), slug=APP_SLUG))
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/installation", path)
        if match:
            repo = self.repos.get(match.group(1).lower())
            if repo is None:
                return self._error(404, "Not Found")
            return self._json(
                200,
                shapes.installation(
                    self.url,
                    installation_id=repo.installation_id,
                    app_id=int(self.app.app_id),
                    slug=APP_SLUG,
                    account=repo.full_name.split("/")[0],
                ),
            )
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match and recorded.method == "POST":
            token = f"ghs_{self._next_id()}fake"
            with self._state:
                self.app.issued.append(token)
                self.valid_tokens.add(token)
            return self._json(
                201,
                {
                    "token": token,
                    "expires_at": _now_iso(self.app.token_lifetime),
                    "permissions": {"issues": "write", "pull_requests": "write", "checks": "write"},
                    "repository_selection": "all",
                },
            )
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
            return self._json(
                200,
                shapes.repository(
                    self.url, repo.full_name, repo_id=repo.id, default_branch=repo.default_branch, private=repo.private
                ),
            )
        if rest == "/issues" and method == "POST":
            if not str(body.get("title") or "").strip():
                return self._invalid({"resource": "Issue", "code": "missing_field", "field": "title"})
            login = self._author(recorded.headers.get("authorization", ""))
            return self._json(
                201,
                self.add_issue(
                    repo.full_name,
                    body["title"],
                    str(body.get("body") or ""),
                    login=login,
                    labels=list(body.get("labels") or []),
                ),
            )
        if rest == "/issues" and method == "GET":
            query = {k: v[-1] for k, v in parse_qs(urlsplit(recorded.path).query).items()}
            state = query.get("state", "open")
            with self._state:
                # GitHub's issues list holds pull requests too, told apart by their ``pull_request`` key.
                every = [
                    *[i for (k, _), i in self.issues.items() if k == key],
                    *[
                        shapes.issue_of_pull(self.url, repo.full_name, p)
                        for (k, _), p in self.pulls.items()
                        if k == key
                    ],
                ]
                items = [i for i in every if state == "all" or i["state"] == state]
            items.sort(key=lambda i: i["number"], reverse=query.get("direction", "desc") == "desc")
            chunk, headers = self._page(recorded, items)
            return self._json(200, chunk, headers)
        if (m := re.fullmatch(r"/issues/(\d+)", rest)) and method == "GET":
            found = self.issues.get((key, int(m.group(1))))
            pull = self.pulls.get((key, int(m.group(1))))
            if found is None and pull is not None:
                found = shapes.issue_of_pull(self.url, repo.full_name, pull)
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
                    return self._invalid({"resource": "IssueComment", "code": "missing_field", "field": "body"})
                login = self._author(recorded.headers.get("authorization", ""))
                return self._json(
                    201, self.add_comment(repo.full_name, number, body["body"], login=login, association="NONE")
                )
        if (m := re.fullmatch(r"/issues/comments/(\d+)/reactions", rest)) and method == "POST":
            # GitHub: 201 with the new Reaction, 200 with the existing one when this user already reacted so.
            cid, content = int(m.group(1)), str(body.get("content") or "")
            if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
                return self._invalid()
            login = self._author(recorded.headers.get("authorization", ""))
            with self._state:
                targets = [
                    c for (k, _), comments in self.comments.items() if k == key for c in comments if c["id"] == cid
                ]
                if not targets:
                    return self._error(404, "Not Found")
                reactions = targets[0].setdefault("reaction_list", [])
                existing = next((r for r in reactions if r["content"] == content and r["user"]["login"] == login), None)
                if existing is not None:
                    return self._json(200, existing)
                reaction = {
                    "id": self._next_id(),
                    "node_id": _node_id("REA", cid),
                    "user": self._user(login),
                    "content": content,
                    "created_at": _now_iso(),
                }
                reactions.append(reaction)
                targets[0]["reactions"][content] = targets[0]["reactions"].get(content, 0) + 1
                targets[0]["reactions"]["total_count"] = targets[0]["reactions"].get("total_count", 0) + 1
            return self._json(201, reaction)
        if (m := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            cid = int(m.group(1))
            with self._state:
                for (owner_key, _), comments in self.comments.items():
                    for comment in comments:
                        if owner_key == key and comment["id"] == cid:
                            if body.get("body", comment["body"]) != comment["body"]:
                                self.comment_edits.setdefault(cid, []).append(comment["body"])
                            comment["body"] = body.get("body", comment["body"])
                            comment["updated_at"] = _now_iso()
                            return self._json(200, comment)
            return self._error(404, "Not Found")
        if rest == "/pulls":
            if method == "GET":
                query = {k: v[-1] for k, v in parse_qs(urlsplit(recorded.path).query).items()}
                state = query.get("state", "open")
                head = query.get("head")
                items = [
                    shapes.pull_request_simple(self._pull_answer(key, p))
                    for (k, _), p in sorted(self.pulls.items())
                    if k == key
                    and (state == "all" or p["state"] == state)
                    and (head is None or p["head"]["label"] == head)
                ]
                chunk, headers = self._page(recorded, items)
                return self._json(200, chunk, headers)
            if method == "POST":
                return self._create_pull(recorded, repo, body)
        if m := re.fullmatch(r"/hooks/(\d+)(/.*)", rest):
            hook = self.hooks.get(int(m.group(1)))
            if hook is None or (hook.repository or "").lower() != key:
                return self._error(404, "Not Found")
            return self._hook_call(recorded, hook, m.group(2))
        if (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "GET":
            found = self.pulls.get((key, int(m.group(1))))
            return self._json(200, self._pull_answer(key, found)) if found else self._error(404, "Not Found")
        if (m := re.fullmatch(r"/commits/([^/]+)/check-runs", rest)) and method == "GET":
            query = {k: v[-1] for k, v in parse_qs(urlsplit(recorded.path).query).items()}
            runs = self._check_runs_of(key, m.group(1), query)
            if runs is None:
                return self._invalid({"resource": "CheckRun", "code": "invalid", "field": "filter"})
            chunk, headers = self._page(recorded, runs)
            return self._json(200, {"total_count": len(runs), "check_runs": chunk}, headers)
        if (rest == "/check-runs" and method == "POST") or re.fullmatch(r"/check-runs/\d+", rest):
            return self._check_run_call(recorded, repo, rest, body)
        if (m := re.fullmatch(r"/statuses/([0-9a-fA-F]{7,40})", rest)) and method == "POST":
            wanted_state = body.get("state")
            if wanted_state not in ("error", "failure", "pending", "success"):
                return self._invalid(
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "state",
                        "message": f"state is not included in the list: {wanted_state!r}",
                    }
                )
            login = "codex-app[bot]" if self._bearer(recorded).startswith("ghs_") else "codex-bot"
            return self._json(
                201,
                self.add_status(
                    repo.full_name,
                    m.group(1),
                    str(body.get("context") or "default"),
                    str(wanted_state),
                    description=body.get("description"),
                    target_url=body.get("target_url"),
                    login=login,
                ),
            )
        if (m := re.fullmatch(r"/commits/([^/]+)/status", rest)) and method == "GET":
            sha = m.group(1)
            latest: dict[str, dict[str, Any]] = {}
            for status in self.statuses.get((key, sha), []):
                latest[status["context"]] = status  # the combined status keeps the latest per context
            items = list(latest.values())
            states = {s["state"] for s in items}
            combined = (
                "failure"
                if states & {"failure", "error"}
                else "pending"
                if "pending" in states or not items
                else "success"
            )
            chunk, headers = self._page(recorded, items)
            return self._json(
                200,
                {
                    "state": combined,
                    "statuses": chunk,
                    "sha": sha,
                    "total_count": len(items),
                    "repository": shapes.minimal_repository(self.url, repo.full_name, repo_id=repo.id),
                    "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
                    "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}/status",
                },
                headers,
            )
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
            return self._json(
                200,
                {
                    **sent.item,
                    "url": hook.url,
                    "request": {"headers": sent.headers, "payload": json.loads(sent.body)},
                    "response": {"headers": {}, "payload": answer},
                },
            )
        return self._error(404, "Not Found")

    def _send_delivery(self, request: dict[str, Any]) -> Answer:
        """dev's way in (not a GitHub endpoint): send ``{event, payload | body_base64, guid?, hook_id?}`` through a
        hook, so the delivery is logged as GitHub would log it; answers the item and what came back."""
        hooks = [h for h in self.hooks.values() if not request.get("hook_id") or h.id == int(request["hook_id"])]
        if not hooks:
            return self._error(404, "no webhook configured on the stand-in")
        body = base64.b64decode(str(request["body_base64"])) if request.get("body_base64") else None
        item = self.deliver(
            hooks[0],
            str(request.get("event") or ""),
            body or request.get("payload") or {},
            guid=str(request["guid"]) if request.get("guid") else None,
        )
        sent = self.deliveries.find(hooks[0].id, int(item["id"]))
        answer = sent.response_body.decode("utf-8", "replace") if sent else ""
        return self._json(200, {"delivery": item, "response": answer})

    def _create_pull(self, recorded: Recorded, repo: FakeRepo, body: dict[str, Any]) -> Answer:
        """``POST /pulls``: 422 without head/base/title, or when the head already has an open pull request."""
        missing = [name for name in ("head", "base") if not str(body.get(name) or "").strip()]
        if missing or not (str(body.get("title") or "").strip() or body.get("issue")):
            return self._invalid(
                *({"resource": "PullRequest", "code": "missing_field", "field": name} for name in missing or ["title"])
            )
        owner = repo.full_name.split("/", 1)[0]
        head = str(body["head"])
        label = head if ":" in head else f"{owner}:{head}"
        with self._state:
            if any(
                k == repo.full_name.lower() and p["state"] == "open" and p["head"]["label"] == label
                for (k, _), p in self.pulls.items()
            ):
                return self._invalid(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {label}.",
                    }
                )
            login = "codex-app[bot]" if self._bearer(recorded).startswith("ghs_") else "codex-bot"
            pull = self.add_pull(
                repo.full_name,
                head=label.split(":", 1)[1],
                base=str(body["base"]),
                draft=bool(body.get("draft")),
                title=str(body.get("title") or ""),
                body=str(body.get("body") or ""),
                login=login,
            )
        return self._json(201, pull)

    def _check_run_call(self, recorded: Recorded, repo: FakeRepo, rest: str, body: dict[str, Any]) -> Answer:
        """Create, update or read a check run. Only GitHub Apps may write them (403 for other tokens)."""
        if recorded.method != "GET" and not self._bearer(recorded).startswith("ghs_"):
            return self._error(403, "You must authenticate via a GitHub App.")
        key = repo.full_name.lower()
        if recorded.method == "POST":
            if not body.get("name") or not body.get("head_sha"):
                return self._json(
                    422,
                    {
                        "message": 'Invalid request.\n\n"name", "head_sha" weren\'t supplied.',
                        "documentation_url": DOCS,
                        "status": "422",
                    },
                )
            output = body.get("output") or {}
            run = self.add_check_run(
                repo.full_name,
                str(body["head_sha"]),
                str(body["name"]),
                status=str(body.get("status") or "queued"),
                conclusion=body.get("conclusion"),
                details_url=body.get("details_url"),
                external_id=body.get("external_id"),
                title=output.get("title"),
                summary=output.get("summary"),
                text=output.get("text"),
                app_slug=APP_SLUG,
            )
            if body.get("conclusion") and body.get("status") in (None, "completed"):
                self._complete(run, str(body["conclusion"]))
            return self._json(201, run)
        run_id = int(rest.rsplit("/", 1)[1])
        with self._state:
            found = next(
                (r for (k, _), runs in self.check_runs.items() if k == key for r in runs if r["id"] == run_id), None
            )
            if found is None:
                return self._error(404, "Not Found")
            if recorded.method == "PATCH":
                for name in ("name", "details_url", "external_id"):
                    if name in body:
                        found[name] = body[name]
                if "output" in body:
                    found["output"].update(
                        {k: v for k, v in body["output"].items() if k in ("title", "summary", "text")}
                    )
                if body.get("status") in ("queued", "in_progress"):
                    found["status"] = body["status"]
                    found["started_at"] = found["started_at"] or _now_iso()
                if body.get("conclusion") or body.get("status") == "completed":
                    self._complete(found, str(body.get("conclusion") or "neutral"))
            elif recorded.method != "GET":
                return self._error(404, "Not Found")
            return self._json(200, found)

    @staticmethod
    def _complete(run: dict[str, Any], conclusion: str) -> None:
        run.update(
            status="completed",
            conclusion=conclusion,
            completed_at=_now_iso(),
            started_at=run["started_at"] or _now_iso(),
        )

    def _check_runs_of(self, key: str, sha: str, query: dict[str, str]) -> list[dict[str, Any]] | None:
        """Check runs of a commit: ``filter=latest`` (GitHub's default) keeps the newest run per name."""
        with self._state:
            runs = list(self.check_runs.get((key, sha), []))
        wanted = query.get("filter", "latest")
        if wanted not in ("latest", "all"):
            return None
        if wanted == "latest":
            newest: dict[str, dict[str, Any]] = {}
            for run in runs:  # kept in creation order: a later run of a name replaces the earlier
                newest[run["name"]] = run
            runs = list(newest.values())
        if "check_name" in query:
            runs = [run for run in runs if run["name"] == query["check_name"]]
        if "status" in query:
            runs = [run for run in runs if run["status"] == query["status"]]
        return runs

    def _graphql(self, payload: dict[str, Any], authorization: str = "") -> Answer:
        query = str(payload.get("query") or "")
        variables = payload.get("variables") or {}
        if re.search(r"\bviewer\s*\{", query) and "repository" not in query:
            # the login comments are posted as, for the same credentials
            login = self._author(authorization)
            return self._json(200, {"data": {"viewer": {"login": login}}})
        if re.search(r"\bisDraft\b", query) and "markPullRequestReadyForReview" not in query:
            owner, name = variables.get("owner", ""), variables.get("name", "")
            with self._state:
                found = self.pulls.get((f"{owner}/{name}".lower(), int(variables.get("number", 0))))
            if found is None:
                return self._json(
                    200,
                    {
                        "data": {"repository": {"pullRequest": None}},
                        "errors": [
                            {
                                "type": "NOT_FOUND",
                                "path": ["repository", "pullRequest"],
                                "locations": [{"line": 2, "column": 3}],
                                "message": "Could not resolve to a PullRequest.",
                            }
                        ],
                    },
                )
            return self._json(200, {"data": {"repository": {"pullRequest": {"isDraft": bool(found["draft"])}}}})
        if "markPullRequestReadyForReview" in query:
            node = variables.get("id")
            with self._state:
                for pull in self.pulls.values():
                    if pull["node_id"] == node:
                        pull["draft"] = False
                        return self._json(
                            200,
                            {
                                "data": {
                                    "markPullRequestReadyForReview": {"pullRequest": {"id": node, "isDraft": False}}
                                }
                            },
                        )
            return self._json(
                200,
                {
                    "data": {"markPullRequestReadyForReview": None},
                    "errors": [
                        {
                            "type": "NOT_FOUND",
                            "path": ["markPullRequestReadyForReview"],
                            "locations": [{"line": 2, "column": 3}],
                            "message": f"Could not resolve to a node with the global id of '{node}'",
                        }
                    ],
                },
            )
        if "reviewThreads" in query:
            owner, name = variables.get("owner", ""), variables.get("name", "")
            repo = self.repos.get(f"{owner}/{name}".lower())
            if repo is None:
                return self._json(
                    200,
                    {
                        "data": {"repository": None},
                        "errors": [
                            {
                                "type": "NOT_FOUND",
                                "path": ["repository"],
                                "locations": [{"line": 3, "column": 3}],
                                "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                            }
                        ],
                    },
                )
            number = int(variables.get("number", 0))
            if (repo.full_name.lower(), number) not in self.pulls:
                return self._json(
                    200,
                    {
                        "data": {"repository": {"pullRequest": None}},
                        "errors": [
                            {
                                "type": "NOT_FOUND",
                                "path": ["repository", "pullRequest"],
                                "locations": [{"line": 4, "column": 5}],
                                "message": f"Could not resolve to a PullRequest with the number of {number}.",
                            }
                        ],
                    },
                )
            first = int(variables.get("first", 100))
            if first > 100:
                return self._json(200, {"errors": [{"type": "ARGUMENT_LIMIT", "message": "first limit of 100"}]})
            threads = self.threads.get((repo.full_name.lower(), number), [])
            cursor = variables.get("cursor")
            start = int(base64.b64decode(cursor).decode().split(":")[1]) + 1 if cursor else 0
            nodes = threads[start : start + first]
            end = start + len(nodes) - 1
            end_cursor = base64.b64encode(f"cursor:{end}".encode()).decode() if nodes else None
            return self._json(
                200,
                {
                    "data": {
                        "repository": {
                            "pullRequest": {
                                "reviewThreads": {
                                    "nodes": nodes,
                                    "pageInfo": {"hasNextPage": start + first < len(threads), "endCursor": end_cursor},
                                }
                            }
                        }
                    }
                },
            )
        return self._json(200, {"errors": [{"message": "Field is not defined", "type": "undefinedField"}]})
