"""A thin GitHub client on ``requests``: REST with Link pagination, GraphQL, rate limits.

Every failure becomes one of the pipeline's errors, so a function's answer tells the broker
the right thing:

- 401, 403 (not rate limited), 404, 422 -> :class:`GitHubPermanentError` (a 4xx: dead-letter);
  the message names the repository and what to check, never the credentials.
- 5xx, connection errors, timeouts -> :class:`GitHubUnavailableError` (a 503: retry later).
- Rate limits as GitHub documents them ("Rate limits for the REST API", "Exceeding the rate
  limit"): a 403 or 429 with ``retry-after`` waits that long; with ``x-ratelimit-remaining: 0``
  it waits until ``x-ratelimit-reset`` (primary); a 429, or a 403 whose message says "secondary
  rate limit", without either header waits at least a minute. GraphQL's ``RATE_LIMITED`` error
  follows the same rules. A wait of at most ``max_wait`` seconds is slept through, a longer one
  is a 503 carrying ``Retry-After``: never a permanent error.

Why our own client and not a generated one (githubkit, PyGithub, gidgethub): measured in
``bench/github_clients.py`` (figures in bench/RESULTS.md). In short, each costs 0.2-0.5 s more
import than ``requests`` on an effect function's cold start, and none of them follows the
rate-limit rules above (a 403 secondary limit without ``retry-after`` is an ordinary failure in
all three). GitHub's description is still the reference: the stand-in's answers are validated
against githubkit's models generated from it (tests/test_github_shapes.py).

The method names below are a contract other parts use (request-review, promote-plan and the
workflow steps): keep them stable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from codex_pipeline.effects.github.auth import AppAuth, AppInstallationUnknown, Auth, TokenAuth
from codex_pipeline.effects.github.deliveries import Hook, HookDelivery
from codex_pipeline.errors import PermanentFailure, Unavailable
from codex_pipeline.shell import metrics, spans
from codex_pipeline.wire.github import (
    FAILING_CONCLUSIONS,
    FAILING_STATUS_STATES,
    CheckRun,
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
# GitHub: a secondary limit without retry-after or x-ratelimit-remaining: 0 means "wait at least a minute".
SECONDARY_LIMIT_WAIT_SECONDS = 60.0
# Limited answers waited out for one call (a run of ``retry-after: 0`` must not loop for ever).
MAX_RATE_LIMIT_ATTEMPTS = 10
_SAFE_TO_RESEND = frozenset({"GET", "HEAD"})
# Spans of the GitHub mutations a run makes (under the step's span when a step makes them).
SPAN_COMMENT = "github.comment"
SPAN_PULL_REQUEST = "github.pull_request"
ATTR_REPOSITORY, ATTR_ISSUE = "codex.repository", "codex.issue_number"  # telemetry's names (not imported here)
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

IS_DRAFT_QUERY = """
query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { pullRequest(number: $number) { isDraft } }
}
"""

MARK_READY_MUTATION = """
mutation($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { id isDraft } }
}
"""


class GitHubClient:
    """REST + GraphQL against ``api_url`` with token or App auth. Thread-safe for concurrent calls."""

    def __init__(
        self,
        auth: Auth | None = None,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,
        max_wait: float = 5.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        per_page: int = PER_PAGE,
    ) -> None:
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
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "codex-pipeline",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _send_once(
        self, method: str, url: str, token: str | None, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        for attempt in range(2):
            with self._lock:
                self.calls += 1
            try:
                return self._session.request(
                    method, url, headers=self._headers(token), json=json, params=params, timeout=self.timeout
                )
            except requests.RequestException as exc:
                # A read that never reached GitHub's answer (a reset, or a kept-alive connection the
                # server had closed) is tried once more at once: a run should not fail on it. Writes
                # are not, as they may have been applied; timeouts are not, as they already waited.
                connection_lost = isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)
                if attempt == 0 and method in _SAFE_TO_RESEND and connection_lost:
                    continue
                raise GitHubUnavailableError(
                    f"GitHub API unreachable ({type(exc).__name__}) for {method} {_path_of(url, self.api_url)}"
                ) from None
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _rate_limit_wait(self, response: requests.Response, *, graphql: bool = False) -> float | None:
        """Seconds until GitHub accepts calls again, or None when this is not a rate limit."""
        status = response.status_code
        if graphql and status == 200:
            if not _graphql_rate_limited(response):
                return None
        elif status not in (403, 429):
            return None
        headers = response.headers
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return SECONDARY_LIMIT_WAIT_SECONDS
        if headers.get("X-RateLimit-Remaining") == "0":
            try:
                reset = float(headers.get("X-RateLimit-Reset", ""))
            except ValueError:
                return SECONDARY_LIMIT_WAIT_SECONDS
            return max(0.0, reset - self._clock()) + 1.0
        if status in (200, 429) or _says_secondary_limit(response):
            return SECONDARY_LIMIT_WAIT_SECONDS
        return None

    def _app_exchange(self, method: str, path: str, app_jwt: str) -> Any:
        """App-JWT calls for AppAuth: installation lookup and token exchange."""
        response = self._with_rate_limits(lambda: self._send_once(method, self.api_url + path, app_jwt), what=path)
        return self._check(
            response,
            None,
            what="GitHub App token exchange (check CODEX_GITHUB_APP_ID, "
            "CODEX_GITHUB_APP_PRIVATE_KEY and that the App is installed)",
        )

    def _with_rate_limits(
        self, send: Callable[[], requests.Response], *, what: str, graphql: bool = False
    ) -> requests.Response:
        waited = 0.0
        for attempt in range(MAX_RATE_LIMIT_ATTEMPTS):
            response = send()
            wait = self._rate_limit_wait(response, graphql=graphql)
            if wait is None:
                return response
            if waited + wait > self.max_wait or attempt == MAX_RATE_LIMIT_ATTEMPTS - 1:
                raise GitHubUnavailableError(
                    f"GitHub rate limit reached for {what}; retry in {wait:.0f}s", retry_after=wait
                )
            waited += wait
            metrics.rate_limit_waited(wait)
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    def _send(
        self,
        method: str,
        url: str,
        *,
        repo: str | None,
        what: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        as_app: bool = False,
    ) -> requests.Response:
        token = self._app_jwt(what) if as_app else self.auth.token_for(repo)
        graphql = url == self.graphql_url
        response = self._with_rate_limits(
            lambda: self._send_once(method, url, token, json=json, params=params), what=what, graphql=graphql
        )
        if response.status_code == 401 and token and not as_app:
            # An App token expired or was revoked mid-run: drop it and try once more with a fresh
            # one (which a concurrent call may already have fetched). A fixed token stays refused.
            self.auth.invalidate(token)
            fresh = self.auth.token_for(repo)
            if fresh and fresh != token:
                response = self._with_rate_limits(
                    lambda: self._send_once(method, url, fresh, json=json, params=params), what=what, graphql=graphql
                )
        return response

    def _app_jwt(self, what: str) -> str:
        """Calls about the App itself (its webhook) authenticate as the App, never an installation."""
        if not isinstance(self.auth, AppAuth):
            raise GitHubPermanentError(
                f"{what} needs GitHub App credentials (CODEX_GITHUB_APP_ID and CODEX_GITHUB_APP_PRIVATE_KEY)",
                github_status=401,
            )
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
                "or the GitHub App settings",
                github_status=status,
            )
        if status == 404:
            raise GitHubPermanentError(
                f"GitHub answered 404 for {what}{where}: it does not exist or the credentials cannot see it",
                github_status=status,
            )
        if status == 403:
            raise GitHubPermanentError(
                f"GitHub forbids {what}{where} (403 {detail}): the credentials lack permission", github_status=status
            )
        if status >= 500:
            raise GitHubUnavailableError(f"GitHub answered {status} for {what}{where}")
        raise GitHubPermanentError(f"GitHub rejected {what}{where} ({status} {detail})", github_status=status)

    # ------------------------------------------------------------------ generic calls

    def rest(
        self,
        method: str,
        path: str,
        *,
        repo: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> Any:
        """One REST call; ``path`` is relative to the API base (``/repos/o/r/...``)."""
        response = self._send(
            method, self.api_url + path, repo=repo, what=what or f"{method} {path}", json=json, params=params
        )
        return self._check(response, repo, what=what or f"{method} {path}")

    def paginate(
        self,
        path: str,
        *,
        repo: str | None = None,
        params: Mapping[str, Any] | None = None,
        items_key: str | None = None,
        what: str | None = None,
        as_app: bool = False,
    ) -> Iterator[Any]:
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

    def graphql(
        self, query: str, variables: Mapping[str, Any], *, repo: str | None = None, what: str = "GraphQL query"
    ) -> dict[str, Any]:
        """``data`` of a GraphQL answer; NOT_FOUND/FORBIDDEN errors are permanent, others transient."""
        response = self._send(
            "POST", self.graphql_url, repo=repo, what=what, json={"query": query, "variables": dict(variables)}
        )
        payload = self._check(response, repo, what=what)
        errors = payload.get("errors") or []
        if errors:
            kinds = {str(error.get("type") or "") for error in errors}
            message = "; ".join(str(error.get("message") or "") for error in errors)[:300]
            where = f" in {repo}" if repo else ""
            if kinds & {"RATE_LIMITED"}:  # only when the wait budget was spent on it already
                raise GitHubUnavailableError(
                    f"GitHub GraphQL rate limit for {what}{where}", retry_after=SECONDARY_LIMIT_WAIT_SECONDS
                )
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
        data = self.rest("GET", f"/repos/{owner}/{name}/pulls/{int(number)}", repo=repo, what=f"pull request #{number}")
        return PullRequest.from_api(data)

    def list_issue_comments(self, repo: str, number: int) -> list[Comment]:
        """Every comment of an issue or pull request, oldest first (all pages)."""
        owner, name = split_repo(repo)
        return [
            Comment.from_api(item)
            for item in self.paginate(
                f"/repos/{owner}/{name}/issues/{int(number)}/comments", repo=repo, what=f"comments of #{number}"
            )
        ]

    def create_issue(self, repo: str, *, title: str, body: str) -> Issue:
        """Open an issue (as the token's or the App's own login)."""
        owner, name = split_repo(repo)
        data = self.rest(
            "POST", f"/repos/{owner}/{name}/issues", repo=repo, json={"title": title, "body": body}, what="a new issue"
        )
        return Issue.from_api(data)

    def find_recent_issue_with(self, repo: str, text: str, *, newest: int = 50) -> Issue | None:
        """Among the ``newest`` issues opened last (any state), the newest whose body contains ``text``."""
        owner, name = split_repo(repo)
        items = self.rest(
            "GET",
            f"/repos/{owner}/{name}/issues",
            repo=repo,
            what="recent issues",
            params={"state": "all", "sort": "created", "direction": "desc", "per_page": max(1, min(100, newest))},
        )
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "pull_request" not in item and text in str(item.get("body") or ""):
                return Issue.from_api(item)
        return None

    def create_issue_comment(self, repo: str, number: int, body: str) -> Comment:
        owner, name = split_repo(repo)
        with spans.span(SPAN_COMMENT, attributes={ATTR_REPOSITORY: repo, ATTR_ISSUE: int(number)}):
            data = self.rest(
                "POST",
                f"/repos/{owner}/{name}/issues/{int(number)}/comments",
                repo=repo,
                json={"body": body},
                what=f"a comment on #{number}",
            )
        return Comment.from_api(data)

    def add_reaction(self, repo: str, comment_id: int, content: str = "eyes") -> None:
        """React to an issue or PR comment (201 new, 200 when this login already reacted so)."""
        owner, name = split_repo(repo)
        self.rest(
            "POST",
            f"/repos/{owner}/{name}/issues/comments/{int(comment_id)}/reactions",
            repo=repo,
            json={"content": content},
            what=f"a reaction on comment {comment_id}",
        )

    def update_issue_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        owner, name = split_repo(repo)
        with spans.span(SPAN_COMMENT, attributes={ATTR_REPOSITORY: repo, "github.comment_id": int(comment_id)}):
            data = self.rest(
                "PATCH",
                f"/repos/{owner}/{name}/issues/comments/{int(comment_id)}",
                repo=repo,
                json={"body": body},
                what=f"comment {comment_id}",
            )
        return Comment.from_api(data)

    def find_comment_with_marker(
        self, repo: str, number: int, marker: str, author: str | None = None
    ) -> Comment | None:
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
            data = self.graphql(
                REVIEW_THREADS_QUERY,
                {"owner": owner, "name": name, "number": int(number), "first": self.per_page, "cursor": cursor},
                repo=repo,
                what=f"review threads of #{number}",
            )
            pull = (data.get("repository") or {}).get("pullRequest")
            if pull is None:
                raise GitHubPermanentError(f"pull request #{number} not found in {repo}", github_status=200)
            connection = pull["reviewThreads"]
            for node in connection.get("nodes") or []:
                if node.get("isResolved"):
                    continue
                first = ((node.get("comments") or {}).get("nodes") or [{}])[0] or {}
                threads.append(
                    ReviewThread(
                        id=str(node.get("id") or ""),
                        summary=_first_line(str(first.get("body") or "")),
                        url=str(first.get("url") or ""),
                        author=str((first.get("author") or {}).get("login") or ""),
                        path=str(node.get("path") or ""),
                        line=node.get("line"),
                        outdated=bool(node.get("isOutdated")),
                    )
                )
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
        for run in self.paginate(
            f"/repos/{owner}/{name}/commits/{sha}/check-runs",
            repo=repo,
            items_key="check_runs",
            what=f"check runs of {sha[:12]}",
        ):
            run_name = str(run.get("name") or "")
            if run.get("status") != "completed":
                pending.append(run_name)
            elif run.get("conclusion") in FAILING_CONCLUSIONS:
                failing.append(
                    FailingCheck(
                        name=run_name,
                        conclusion=str(run["conclusion"]),
                        url=str(run.get("details_url") or run.get("html_url") or ""),
                        kind="check_run",
                        details=str(((run.get("output") or {}).get("title")) or ""),
                    )
                )
        return failing, pending

    def commit_status_results(self, repo: str, sha: str) -> tuple[list[FailingCheck], list[str]]:
        """(failing, pending contexts) of the combined commit status of ``sha`` (latest per context)."""
        owner, name = split_repo(repo)
        failing: list[FailingCheck] = []
        pending: list[str] = []
        for status in self.paginate(
            f"/repos/{owner}/{name}/commits/{sha}/status",
            repo=repo,
            items_key="statuses",
            what=f"commit statuses of {sha[:12]}",
        ):
            context = str(status.get("context") or "")
            state = str(status.get("state") or "")
            if state == "pending":
                pending.append(context)
            elif state in FAILING_STATUS_STATES:
                failing.append(
                    FailingCheck(
                        name=context,
                        conclusion=state,
                        url=str(status.get("target_url") or ""),
                        kind="status",
                        details=str(status.get("description") or ""),
                    )
                )
        return failing, pending

    def viewer_login(self) -> str:
        """The login these credentials act as (a user, or ``<app>[bot]`` for an App installation).

        An App without a configured installation id has no token for a repository-less call,
        so its login comes from ``GET /app`` with the App's own JWT (the bot login is the slug)."""
        if isinstance(self.auth, AppAuth) and self.auth.installation_id is None:
            data = self._app_exchange("GET", "/app", self.auth.app_jwt())
            slug = data.get("slug") if isinstance(data, dict) else None
            if not isinstance(slug, str) or not slug:  # ``slug`` is optional in GitHub's description
                raise AppInstallationUnknown(
                    "GitHub answered GET /app without the App's slug: set "
                    "CODEX_PLANNER_LOGIN or CODEX_GITHUB_APP_INSTALLATION_ID"
                )
            return f"{slug}[bot]"
        data = self.graphql("query { viewer { login } }", {}, what="viewer login")
        viewer = data.get("viewer")
        login = viewer.get("login") if isinstance(viewer, dict) else None
        if not isinstance(login, str) or not login:
            raise GitHubUnavailableError("GitHub GraphQL answered without the viewer's login")
        return login

    def is_draft(self, repo: str, pull: PullRequest) -> bool:
        """The PR's draft flag: REST's optional ``draft`` when present, else GraphQL's non-null ``isDraft``."""
        if pull.draft is not None:
            return pull.draft
        owner, name = split_repo(repo)
        data = self.graphql(
            IS_DRAFT_QUERY,
            {"owner": owner, "name": name, "number": pull.number},
            repo=repo,
            what=f"draft flag of #{pull.number}",
        )
        found = (data.get("repository") or {}).get("pullRequest")
        if not isinstance(found, dict) or not isinstance(found.get("isDraft"), bool):
            raise GitHubPermanentError(f"pull request #{pull.number} not found in {repo}", github_status=200)
        return bool(found["isDraft"])

    def mark_ready_for_review(self, repo: str, pull: PullRequest | int) -> bool:
        """Remove the draft flag (GraphQL ``markPullRequestReadyForReview``); False when it was not a draft."""
        pr = pull if isinstance(pull, PullRequest) else self.get_pull(repo, pull)
        if not self.is_draft(repo, pr):
            return False
        self.graphql(MARK_READY_MUTATION, {"id": pr.node_id}, repo=repo, what=f"ready for review #{pr.number}")
        return True

    def find_open_pull(self, repo: str, head: str) -> PullRequest | None:
        """The open pull request from branch ``head`` (``branch`` or ``owner:branch``), if any.

        The list endpoint answers GitHub's simple form (no ``mergeable``, ``draft`` optional), so
        the pull request found is read again in full."""
        owner, name = split_repo(repo)
        qualified = head if ":" in head else f"{owner}:{head}"
        for item in self.paginate(
            f"/repos/{owner}/{name}/pulls",
            repo=repo,
            params={"state": "open", "head": qualified},
            what=f"pull requests from {head}",
        ):
            return self.get_pull(repo, int(item["number"]))
        return None

    # ------------------------------------------------------------------ check runs and statuses (issue 18)

    def create_check_run(
        self,
        repo: str,
        *,
        head_sha: str,
        name: str,
        status: str = "queued",
        conclusion: str | None = None,
        details_url: str | None = None,
        external_id: str | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
    ) -> CheckRun:
        """A check run on ``head_sha`` (GitHub Apps only: a plain token gets a permanent 403)."""
        owner, name_ = split_repo(repo)
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            payload.update(status="completed", conclusion=conclusion)
        if details_url:
            payload["details_url"] = details_url
        if external_id is not None:
            payload["external_id"] = external_id
        if (output := _output(title, summary, text)) is not None:
            payload["output"] = output
        data = self.rest(
            "POST", f"/repos/{owner}/{name_}/check-runs", repo=repo, json=payload, what=f"check run {name!r}"
        )
        return CheckRun.from_api(data)

    def update_check_run(
        self,
        repo: str,
        run_id: int,
        *,
        status: str | None = None,
        conclusion: str | None = None,
        details_url: str | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
    ) -> CheckRun:
        owner, name = split_repo(repo)
        payload: dict[str, Any] = {}
        if status is not None:
            payload["status"] = status
        if conclusion is not None:
            payload.update(status="completed", conclusion=conclusion)
        if details_url:
            payload["details_url"] = details_url
        if (output := _output(title, summary, text)) is not None:
            payload["output"] = output
        data = self.rest(
            "PATCH",
            f"/repos/{owner}/{name}/check-runs/{int(run_id)}",
            repo=repo,
            json=payload,
            what=f"check run {run_id}",
        )
        return CheckRun.from_api(data)

    def find_check_run(self, repo: str, sha: str, name: str, *, external_id: str | None = None) -> CheckRun | None:
        """The newest check run called ``name`` on ``sha`` (GitHub's ``filter=latest``), if any; with
        ``external_id``, the one of that run among all of them (an older run's check, superseded by a
        newer run of the same name, is still found by its own run)."""
        owner, repo_name = split_repo(repo)
        params = {"check_name": name, "filter": "latest" if external_id is None else "all"}
        for run in self.paginate(
            f"/repos/{owner}/{repo_name}/commits/{sha}/check-runs",
            repo=repo,
            params=params,
            items_key="check_runs",
            what=f"check run {name!r} of {sha[:12]}",
        ):
            if external_id is None or str(run.get("external_id") or "") == external_id:
                return CheckRun.from_api(run)
        return None

    def create_commit_status(
        self, repo: str, sha: str, *, state: str, context: str, description: str = "", target_url: str | None = None
    ) -> None:
        """A commit status (``pending``/``success``/``failure``/``error``): the plain-token fallback for check runs."""
        owner, name = split_repo(repo)
        payload: dict[str, Any] = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            payload["target_url"] = target_url
        self.rest(
            "POST", f"/repos/{owner}/{name}/statuses/{sha}", repo=repo, json=payload, what=f"commit status {context!r}"
        )

    def create_pull(self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = True) -> PullRequest:
        """Open a pull request (a draft unless told otherwise)."""
        owner, name = split_repo(repo)
        with spans.span(SPAN_PULL_REQUEST, attributes={ATTR_REPOSITORY: repo, "github.head": head}):
            data = self.rest(
                "POST",
                f"/repos/{owner}/{name}/pulls",
                repo=repo,
                what=f"a pull request from {head}",
                json={"head": head, "base": base, "title": title, "body": body, "draft": draft},
            )
        return PullRequest.from_api(data)

    def hook_deliveries(self, hook: Hook) -> Iterator[HookDelivery]:
        """The hook's recent deliveries, newest first, every page as it is consumed (stop early by
        not consuming). The App's hook is read with the App's JWT."""
        for item in self.paginate(hook.path, repo=hook.repo, as_app=hook.is_app, what=f"deliveries of hook {hook}"):
            yield HookDelivery.from_api(item)

    def redeliver(self, hook: Hook, delivery_id: int) -> None:
        """Ask GitHub to deliver ``delivery_id`` again (202; it shows up later as a new delivery)."""
        response = self._send(
            "POST",
            f"{self.api_url}{hook.path}/{int(delivery_id)}/attempts",
            repo=hook.repo,
            what=f"redelivery of {delivery_id}",
            as_app=hook.is_app,
        )
        self._check(response, hook.repo, what=f"redelivery of delivery {delivery_id} of hook {hook}")


def _output(title: str | None, summary: str | None, text: str | None) -> dict[str, str] | None:
    """A check run's ``output``: GitHub requires title and summary together (65,535 characters at most)."""
    if title is None and summary is None:
        return None
    output = {"title": (title or "")[:1000], "summary": (summary or title or "")[:65_000]}
    if text:
        output["text"] = text[:65_000]
    return output


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _message(response: requests.Response) -> str:
    """GitHub's ``message`` plus the details of a 422's ``errors`` (e.g. "A pull request already exists")."""
    try:
        payload = response.json()
        text = str(payload.get("message") or response.reason)
        details = [
            str(e.get("message") or f"{e.get('code', '')} {e.get('field', '')}".strip())
            for e in payload.get("errors") or []
            if isinstance(e, dict)
        ]
    except (ValueError, AttributeError):
        return str(response.reason or "")
    return (f"{text}: {'; '.join(details)}" if details else text)[:300]


def _says_secondary_limit(response: requests.Response) -> bool:
    """GitHub's secondary-limit message ("You have exceeded a secondary rate limit", formerly "abuse detection")."""
    message = _message(response).lower()
    return "secondary rate limit" in message or "abuse detection" in message


def _graphql_rate_limited(response: requests.Response) -> bool:
    """A GraphQL answer (HTTP 200) whose errors include ``RATE_LIMITED``."""
    try:
        payload = response.json()
    except ValueError:
        return False
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors)


def _path_of(url: str, base: str) -> str:
    return url[len(base) :] if url.startswith(base) else url.split("?", 1)[0]


def _first_line(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
