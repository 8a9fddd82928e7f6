"""A thin GitHub client on ``requests``: REST with Link pagination, GraphQL, rate limits.

Every failure becomes one of the pipeline's errors, so a function's answer tells the broker
the right thing:

- 401, 403 (not rate limited), 404, 422 -> :class:`GitHubPermanentError` (a 4xx: dead-letter);
  the message names the repository and what to check, never the credentials.
- 5xx, connection errors, timeouts -> :class:`GitHubUnavailableError` (a 503: retry later).
- Rate limits, primary (``X-RateLimit-Remaining: 0`` until ``X-RateLimit-Reset``) and
  secondary (``Retry-After``): slept through when the wait is at most ``max_wait`` seconds,
  otherwise a 503 carrying ``Retry-After``.

The method names below are a contract other parts use (request-review, promote-plan and the
workflow steps): keep them stable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from codex_pipeline.errors import PermanentFailure, Unavailable
from codex_pipeline.github.auth import AppAuth, Auth, TokenAuth
from codex_pipeline.github.deliveries import Hook, HookDelivery
from codex_pipeline.github.models import (
    FAILING_CONCLUSIONS,
    FAILING_STATUS_STATES,
    ChecksReport,
    Comment,
    FailingCheck,
    Issue,
    PullRequest,
    ReviewThread,
    combine_checks,
    split_repo,
)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
# Pages followed for one listing; a runaway Link chain must not loop for ever.
MAX_PAGES = 1000


class GitHubPermanentError(PermanentFailure):
    """GitHub refused for good (bad credentials, no such repository or PR, invalid request)."""

    def __init__(self, message: str, *, github_status: int) -> None:
        super().__init__(message)
        self.github_status = github_status


class GitHubUnavailableError(Unavailable):
    """GitHub is down or rate limited: the event is retried later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))} if retry_after is not None else None
        super().__init__(message, headers=headers)
        self.retry_after = retry_after


def graphql_url(api_url: str) -> str:
    """GraphQL endpoint for a REST base: ``<api>/graphql``; Enterprise ``/api/v3`` -> ``/api/graphql``."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


REVIEW_THREADS_QUERY = """
query($owner: String!, $name: String!, $number: Int!, $first: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: $first, after: $cursor) {
        nodes {
          id isResolved isOutdated path line
          comments(first: 1) { nodes { body url author { login } } }
        }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

MARK_READY_MUTATION = """
mutation($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { id isDraft } }
}
"""


class GitHubClient:
    """REST + GraphQL against ``api_url`` with token or App auth. Thread-safe for concurrent calls."""

    def __init__(self, auth: Auth | None = None, api_url: str = DEFAULT_API_URL, *, timeout: float = 10.0,
                 max_wait: float = 5.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 per_page: int = PER_PAGE) -> None:
        self.auth: Auth = auth or TokenAuth(None)
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url(self.api_url)
        self.timeout = timeout
        self.max_wait = max_wait
        self.per_page = per_page
        self._sleep = sleep
        self._clock = clock
        self._session = session or _new_session()
        self._lock = threading.Lock()
        self.calls = 0  # HTTP requests sent (observability and benchmarks)
        if isinstance(self.auth, AppAuth):
            self.auth.exchange = self._app_exchange

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ transport

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "User-Agent": "codex-pipeline"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _send_once(self, method: str, url: str, token: str | None, *, json: Any = None,
                   params: Mapping[str, Any] | None = None) -> requests.Response:
        with self._lock:
            self.calls += 1
        try:
            return self._session.request(method, url, headers=self._headers(token), json=json, params=params,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise GitHubUnavailableError(f"GitHub API unreachable ({type(exc).__name__}) for {method} "
                                         f"{_path_of(url, self.api_url)}") from None

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds until GitHub accepts calls again, or None when this is not a rate limit."""
        if response.status_code not in (403, 429):
            return None
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return 60.0
        if response.headers.get("X-RateLimit-Remaining") == "0":
            try:
                reset = float(response.headers.get("X-RateLimit-Reset", "0"))
            except ValueError:
                return 60.0
            return max(0.0, reset - self._clock()) + 1.0
        if response.status_code == 429:
            return 60.0
        return None

    def _app_exchange(self, method: str, path: str, app_jwt: str) -> Any:
        """App-JWT calls for AppAuth: installation lookup and token exchange."""
        response = self._with_rate_limits(lambda: self._send_once(method, self.api_url + path, app_jwt),
                                          what=path)
        return self._check(response, None, what="GitHub App token exchange (check CODEX_GITHUB_APP_ID, "
                           "CODEX_GITHUB_APP_PRIVATE_KEY and that the App is installed)")

    def _with_rate_limits(self, send: Callable[[], requests.Response], *, what: str) -> requests.Response:
        waited = 0.0
        while True:
            response = send()
            wait = self._rate_limit_wait(response)
            if wait is None:
                return response
            if waited + wait > self.max_wait:
                raise GitHubUnavailableError(f"GitHub rate limit reached for {what}; retry in {wait:.0f}s",
                                             retry_after=wait)
            waited += wait
            self._sleep(wait)

    def _send(self, method: str, url: str, *, repo: str | None, what: str, json: Any = None,
              params: Mapping[str, Any] | None = None, as_app: bool = False) -> requests.Response:
        token = self._app_jwt(what) if as_app else self.auth.token_for(repo)
        response = self._with_rate_limits(
            lambda: self._send_once(method, url, token, json=json, params=params), what=what)
        if response.status_code == 401 and token and not as_app:
            # An App token expired or was revoked mid-run: drop it and try once more with a fresh
            # one (which a concurrent call may already have fetched). A fixed token stays refused.
            self.auth.invalidate(token)
            fresh = self.auth.token_for(repo)
            if fresh and fresh != token:
                response = self._with_rate_limits(
                    lambda: self._send_once(method, url, fresh, json=json, params=params), what=what)
        return response

    def _app_jwt(self, what: str) -> str:
        """Calls about the App itself (its webhook) authenticate as the App, never an installation."""
        if not isinstance(self.auth, AppAuth):
            raise GitHubPermanentError(f"{what} needs GitHub App credentials (CODEX_GITHUB_APP_ID and "
                                       "CODEX_GITHUB_APP_PRIVATE_KEY)", github_status=401)
        return self.auth.app_jwt()

    def _check(self, response: requests.Response, repo: str | None, *, what: str) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return response.json() if response.content else None
        where = f" in {repo}" if repo else ""
        detail = _message(response)
        if status == 401:
            raise GitHubPermanentError(
                f"GitHub refused the credentials (401 {detail}) for {what}{where}: check CODEX_GITHUB_TOKEN "
                "or the GitHub App settings", github_status=status)
        if status == 404:
            raise GitHubPermanentError(
                f"GitHub answered 404 for {what}{where}: it does not exist or the credentials cannot see it",
                github_status=status)
        if status == 403:
            raise GitHubPermanentError(f"GitHub forbids {what}{where} (403 {detail}): the credentials lack "
                                       "permission", github_status=status)
        if status >= 500:
            raise GitHubUnavailableError(f"GitHub answered {status} for {what}{where}")
        raise GitHubPermanentError(f"GitHub rejected {what}{where} ({status} {detail})", github_status=status)

    # ------------------------------------------------------------------ generic calls

    def rest(self, method: str, path: str, *, repo: str | None = None, json: Any = None,
             params: Mapping[str, Any] | None = None, what: str | None = None) -> Any:
        """One REST call; ``path`` is relative to the API base (``/repos/o/r/...``)."""
        response = self._send(method, self.api_url + path, repo=repo, what=what or f"{method} {path}", json=json,
                              params=params)
        return self._check(response, repo, what=what or f"{method} {path}")

    def paginate(self, path: str, *, repo: str | None = None, params: Mapping[str, Any] | None = None,
                 items_key: str | None = None, what: str | None = None, as_app: bool = False) -> Iterator[Any]:
        """Every item of a listing, following ``Link: <...>; rel="next"`` to the last page (page or
        cursor pagination alike: the next URL carries it). Pages are fetched as they are consumed."""
        label = what or f"GET {path}"
        url: str | None = self.api_url + path
        query: Mapping[str, Any] | None = {"per_page": self.per_page, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._send("GET", url, repo=repo, what=label, params=query, as_app=as_app)
            payload = self._check(response, repo, what=label)
            items = payload.get(items_key, []) if items_key else payload
            yield from items
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query
        raise GitHubUnavailableError(f"{label} has more than {MAX_PAGES} pages")

    def graphql(self, query: str, variables: Mapping[str, Any], *, repo: str | None = None,
                what: str = "GraphQL query") -> dict[str, Any]:
        """``data`` of a GraphQL answer; NOT_FOUND/FORBIDDEN errors are permanent, others transient."""
        response = self._send("POST", self.graphql_url, repo=repo, what=what,
                              json={"query": query, "variables": dict(variables)})
        payload = self._check(response, repo, what=what)
        errors = payload.get("errors") or []
        if errors:
            kinds = {str(error.get("type") or "") for error in errors}
            message = "; ".join(str(error.get("message") or "") for error in errors)[:300]
            where = f" in {repo}" if repo else ""
            if kinds & {"RATE_LIMITED"}:
                raise GitHubUnavailableError(f"GitHub GraphQL rate limit for {what}{where}", retry_after=60.0)
            if kinds & {"NOT_FOUND", "FORBIDDEN", "UNPROCESSABLE", "INVALID", "ARGUMENT_LIMIT"}:
                raise GitHubPermanentError(f"GitHub GraphQL refused {what}{where}: {message}", github_status=200)
            raise GitHubUnavailableError(f"GitHub GraphQL error for {what}{where}: {message}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise GitHubUnavailableError(f"GitHub GraphQL answered without data for {what}")
        return data

    # ------------------------------------------------------------------ typed calls (stable names)

    def default_branch(self, repo: str) -> str:
        """The repository's default branch (``main`` for most)."""
        owner, name = split_repo(repo)
        data = self.rest("GET", f"/repos/{owner}/{name}", repo=repo, what="the repository")
        return str(data["default_branch"])

    def get_pull(self, repo: str, number: int) -> PullRequest:
        """A pull request with head/base refs and sha, draft flag, mergeable and mergeable_state."""
        owner, name = split_repo(repo)
        data = self.rest("GET", f"/repos/{owner}/{name}/pulls/{int(number)}", repo=repo,
                         what=f"pull request #{number}")
        return PullRequest.from_api(data)

    def list_issue_comments(self, repo: str, number: int) -> list[Comment]:
        """Every comment of an issue or pull request, oldest first (all pages)."""
        owner, name = split_repo(repo)
        return [Comment.from_api(item) for item in self.paginate(
            f"/repos/{owner}/{name}/issues/{int(number)}/comments", repo=repo,
            what=f"comments of #{number}")]

    def create_issue(self, repo: str, *, title: str, body: str) -> Issue:
        """Open an issue (as the token's or the App's own login)."""
        owner, name = split_repo(repo)
        data = self.rest("POST", f"/repos/{owner}/{name}/issues", repo=repo, json={"title": title, "body": body},
                         what="a new issue")
        return Issue.from_api(data)

    def find_recent_issue_with(self, repo: str, text: str, *, newest: int = 50) -> Issue | None:
        """Among the ``newest`` issues opened last (any state), the newest whose body contains ``text``."""
        owner, name = split_repo(repo)
        items = self.rest("GET", f"/repos/{owner}/{name}/issues", repo=repo, what="recent issues",
                          params={"state": "all", "sort": "created", "direction": "desc",
                                  "per_page": max(1, min(100, newest))})
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "pull_request" not in item and text in str(item.get("body") or ""):
                return Issue.from_api(item)
        return None

    def create_issue_comment(self, repo: str, number: int, body: str) -> Comment:
        owner, name = split_repo(repo)
        data = self.rest("POST", f"/repos/{owner}/{name}/issues/{int(number)}/comments", repo=repo,
                         json={"body": body}, what=f"a comment on #{number}")
        return Comment.from_api(data)

    def update_issue_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        owner, name = split_repo(repo)
        data = self.rest("PATCH", f"/repos/{owner}/{name}/issues/comments/{int(comment_id)}", repo=repo,
                         json={"body": body}, what=f"comment {comment_id}")
        return Comment.from_api(data)

    def find_comment_with_marker(self, repo: str, number: int, marker: str,
                                 author: str | None = None) -> Comment | None:
        """The latest comment containing ``marker`` (by ``author`` when given, case-insensitive)."""
        wanted = author.lower() if author else None
        found: Comment | None = None
        for comment in self.list_issue_comments(repo, number):
            if marker in comment.body and (wanted is None or comment.author.lower() == wanted):
                found = comment
        return found

    def unresolved_review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        """Review threads with ``isResolved: false``, every page, summarised by their first comment."""
        owner, name = split_repo(repo)
        threads: list[ReviewThread] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            data = self.graphql(REVIEW_THREADS_QUERY, {"owner": owner, "name": name, "number": int(number),
                                                       "first": self.per_page, "cursor": cursor},
                                repo=repo, what=f"review threads of #{number}")
            pull = (data.get("repository") or {}).get("pullRequest")
            if pull is None:
                raise GitHubPermanentError(f"pull request #{number} not found in {repo}", github_status=200)
            connection = pull["reviewThreads"]
            for node in connection.get("nodes") or []:
                if node.get("isResolved"):
                    continue
                first = ((node.get("comments") or {}).get("nodes") or [{}])[0] or {}
                threads.append(ReviewThread(
                    id=str(node.get("id") or ""),
                    summary=_first_line(str(first.get("body") or "")),
                    url=str(first.get("url") or ""),
                    author=str((first.get("author") or {}).get("login") or ""),
                    path=str(node.get("path") or ""),
                    line=node.get("line"),
                    outdated=bool(node.get("isOutdated")),
                ))
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return threads
            cursor = str(info.get("endCursor"))
        raise GitHubUnavailableError(f"review threads of #{number} in {repo} have too many pages")

    def failing_checks(self, repo: str, sha: str) -> ChecksReport:
        """Failing and pending check runs and commit statuses of ``sha``."""
        return combine_checks(sha, self.check_run_results(repo, sha), self.commit_status_results(repo, sha))

    def check_run_results(self, repo: str, sha: str) -> tuple[list[FailingCheck], list[str]]:
        """(failing, pending names) among the check runs of ``sha`` (every page)."""
        owner, name = split_repo(repo)
        failing: list[FailingCheck] = []
        pending: list[str] = []
        for run in self.paginate(f"/repos/{owner}/{name}/commits/{sha}/check-runs", repo=repo,
                                 items_key="check_runs", what=f"check runs of {sha[:12]}"):
            run_name = str(run.get("name") or "")
            if run.get("status") != "completed":
                pending.append(run_name)
            elif run.get("conclusion") in FAILING_CONCLUSIONS:
                failing.append(FailingCheck(
                    name=run_name, conclusion=str(run["conclusion"]),
                    url=str(run.get("details_url") or run.get("html_url") or ""), kind="check_run",
                    details=str(((run.get("output") or {}).get("title")) or "")))
        return failing, pending

    def commit_status_results(self, repo: str, sha: str) -> tuple[list[FailingCheck], list[str]]:
        """(failing, pending contexts) of the combined commit status of ``sha`` (latest per context)."""
        owner, name = split_repo(repo)
        failing: list[FailingCheck] = []
        pending: list[str] = []
        for status in self.paginate(f"/repos/{owner}/{name}/commits/{sha}/status", repo=repo,
                                    items_key="statuses", what=f"commit statuses of {sha[:12]}"):
            context = str(status.get("context") or "")
            state = str(status.get("state") or "")
            if state == "pending":
                pending.append(context)
            elif state in FAILING_STATUS_STATES:
                failing.append(FailingCheck(name=context, conclusion=state, url=str(status.get("target_url") or ""),
                                            kind="status", details=str(status.get("description") or "")))
        return failing, pending

    def viewer_login(self) -> str:
        """The login these credentials act as (a user, or ``<app>[bot]`` for an App installation)."""
        data = self.graphql("query { viewer { login } }", {}, what="viewer login")
        viewer = data.get("viewer")
        login = viewer.get("login") if isinstance(viewer, dict) else None
        if not isinstance(login, str) or not login:
            raise GitHubUnavailableError("GitHub GraphQL answered without the viewer's login")
        return login

    def mark_ready_for_review(self, repo: str, pull: PullRequest | int) -> bool:
        """Remove the draft flag (GraphQL ``markPullRequestReadyForReview``); False when it was not a draft."""
        pr = pull if isinstance(pull, PullRequest) else self.get_pull(repo, pull)
        if not pr.draft:
            return False
        self.graphql(MARK_READY_MUTATION, {"id": pr.node_id}, repo=repo, what=f"ready for review #{pr.number}")
        return True

    def find_open_pull(self, repo: str, head: str) -> PullRequest | None:
        """The open pull request from branch ``head`` (``branch`` or ``owner:branch``), if any."""
        owner, name = split_repo(repo)
        qualified = head if ":" in head else f"{owner}:{head}"
        for item in self.paginate(f"/repos/{owner}/{name}/pulls", repo=repo,
                                  params={"state": "open", "head": qualified}, what=f"pull requests from {head}"):
            return PullRequest.from_api(item)
        return None

    def create_pull(self, repo: str, *, head: str, base: str, title: str, body: str,
                    draft: bool = True) -> PullRequest:
        """Open a pull request (a draft unless told otherwise)."""
        owner, name = split_repo(repo)
        data = self.rest("POST", f"/repos/{owner}/{name}/pulls", repo=repo, what=f"a pull request from {head}",
                         json={"head": head, "base": base, "title": title, "body": body, "draft": draft})
        return PullRequest.from_api(data)


    def hook_deliveries(self, hook: Hook) -> Iterator[HookDelivery]:
        """The hook's recent deliveries, newest first, every page as it is consumed (stop early by
        not consuming). The App's hook is read with the App's JWT."""
        for item in self.paginate(hook.path, repo=hook.repo, as_app=hook.is_app, what=f"deliveries of hook {hook}"):
            yield HookDelivery.from_api(item)

    def redeliver(self, hook: Hook, delivery_id: int) -> None:
        """Ask GitHub to deliver ``delivery_id`` again (202; it shows up later as a new delivery)."""
        response = self._send("POST", f"{self.api_url}{hook.path}/{int(delivery_id)}/attempts", repo=hook.repo,
                              what=f"redelivery of {delivery_id}", as_app=hook.is_app)
        self._check(response, hook.repo, what=f"redelivery of delivery {delivery_id} of hook {hook}")


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason)[:200]
    except (ValueError, AttributeError):
        return str(response.reason or "")


def _path_of(url: str, base: str) -> str:
    return url[len(base):] if url.startswith(base) else url.split("?", 1)[0]


def _first_line(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
