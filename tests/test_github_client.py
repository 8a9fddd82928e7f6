"""The GitHub client against a fake GitHub API served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codex_pipeline.effects.github import (
    AppAuth,
    GitHubClient,
    GitHubPermanentError,
    GitHubUnavailableError,
    TokenAuth,
    client_from_settings,
    graphql_url,
)
from codex_pipeline.errors import PermanentFailure, Unavailable
from codex_pipeline.shell.config import load_settings
from tests.conftest import free_port
from tests.fakes.github import FakeGitHub

REPO = "acme/widgets"
SHA = "c" * 40


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        yield server


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(gh: FakeGitHub, *, max_wait: float = 5.0, sleep: Sleeps | None = None) -> GitHubClient:
    return GitHubClient(TokenAuth("test-token"), gh.url, max_wait=max_wait, sleep=sleep or Sleeps())


# ---------------------------------------------------------------- pagination and shapes


def test_comments_past_100_are_read_from_every_page(gh: FakeGitHub) -> None:
    for i in range(250):
        gh.add_comment(REPO, 7, f"comment {i}")
    comments = client(gh).list_issue_comments(REPO, 7)
    assert [c.body for c in comments] == [f"comment {i}" for i in range(250)]
    pages = gh.calls("GET", f"/repos/{REPO}/issues/7/comments")
    assert len(pages) == 3
    assert "per_page=100" in pages[0].path


def test_marker_comment_is_the_latest_by_the_named_author_only(gh: FakeGitHub) -> None:
    gh.add_comment(REPO, 3, "<!-- codex:plan -->\nold plan", login="planner-bot")
    for i in range(120):
        gh.add_comment(REPO, 3, f"chatter {i}", login="alice")
    gh.add_comment(REPO, 3, "<!-- codex:plan -->\nnew plan", login="Planner-Bot")
    gh.add_comment(REPO, 3, "<!-- codex:plan -->\nforged plan", login="mallory", association="NONE")
    gh_client = client(gh)
    found = gh_client.find_comment_with_marker(REPO, 3, "<!-- codex:plan -->", author="planner-bot")
    assert found is not None and found.body.endswith("new plan") and found.author == "Planner-Bot"
    anyone = gh_client.find_comment_with_marker(REPO, 3, "<!-- codex:plan -->")
    assert anyone is not None and anyone.author == "mallory"
    assert gh_client.find_comment_with_marker(REPO, 3, "<!-- codex:plan -->", author="nobody") is None


def test_comment_create_and_update_round_trip(gh: FakeGitHub) -> None:
    gh_client = client(gh)
    created = gh_client.create_issue_comment(REPO, 5, "<!-- codex:progress -->\nstarting")
    assert created.id > 0 and created.html_url.endswith(f"#issuecomment-{created.id}")
    updated = gh_client.update_issue_comment(REPO, created.id, "<!-- codex:progress -->\ndone")
    assert updated.id == created.id and updated.body.endswith("done")
    assert [c.body for c in gh_client.list_issue_comments(REPO, 5)] == ["<!-- codex:progress -->\ndone"]


def test_unresolved_threads_past_100_skip_resolved_ones(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 9)
    for i in range(230):
        gh.add_thread(REPO, 9, f"thread {i}\nmore detail", resolved=i % 3 == 0, login=f"rev{i % 2}")
    threads = client(gh).unresolved_review_threads(REPO, 9)
    assert [t.summary for t in threads] == [f"thread {i}" for i in range(230) if i % 3 != 0]
    assert threads[0].author == "rev1" and "#discussion_r" in threads[0].url and threads[0].path == "src/app.py"
    assert len(gh.calls("POST", "/graphql")) == 3


def test_failing_checks_cover_every_failing_conclusion_statuses_and_pending(gh: FakeGitHub) -> None:
    for conclusion in ("failure", "timed_out", "cancelled", "action_required", "startup_failure"):
        gh.add_check_run(REPO, SHA, f"ci / {conclusion}", conclusion=conclusion)
    for i in range(110):
        gh.add_check_run(REPO, SHA, f"ok {i}", conclusion="success" if i % 2 else "skipped")
    gh.add_check_run(REPO, SHA, "neutral", conclusion="neutral")
    gh.add_check_run(REPO, SHA, "still running", status="in_progress", conclusion=None)
    gh.add_status(REPO, SHA, "legacy/ci", "pending")
    gh.add_status(REPO, SHA, "legacy/ci", "error")  # the latest per context counts
    gh.add_status(REPO, SHA, "deploy/preview", "pending")
    gh.add_status(REPO, SHA, "lint", "success")
    report = client(gh).failing_checks(REPO, SHA)
    assert sorted((f.name, f.conclusion, f.kind) for f in report.failing) == sorted(
        [
            (f"ci / {c}", c, "check_run")
            for c in ("failure", "timed_out", "cancelled", "action_required", "startup_failure")
        ]
        + [("legacy/ci", "error", "status")]
    )
    assert all(f.url.startswith("https://ci.example.test/") for f in report.failing)
    assert sorted(report.pending) == ["deploy/preview", "still running"]
    assert not report.green


def test_green_commit_has_nothing_failing_or_pending(gh: FakeGitHub) -> None:
    gh.add_check_run(REPO, SHA, "build")
    gh.add_status(REPO, SHA, "lint", "success")
    assert client(gh).failing_checks(REPO, SHA).green


def test_pull_fields_and_ready_for_review(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 12, head="codex/issue-4-x", head_sha=SHA, draft=True, mergeable_state="clean")
    gh_client = client(gh)
    pull = gh_client.get_pull(REPO, 12)
    assert (pull.head_ref, pull.head_sha, pull.base_ref, pull.draft, pull.mergeable, pull.mergeable_state) == (
        "codex/issue-4-x",
        SHA,
        "main",
        True,
        True,
        "clean",
    )
    assert gh_client.mark_ready_for_review(REPO, pull) is True
    assert gh_client.get_pull(REPO, 12).draft is False
    assert gh_client.mark_ready_for_review(REPO, 12) is False  # not a draft any more: no mutation
    assert len(gh.calls("POST", "/graphql")) == 1


def test_open_pull_lookup_create_and_default_branch(gh: FakeGitHub) -> None:
    gh.add_repo("acme/other", default_branch="trunk")
    gh_client = client(gh)
    assert gh_client.default_branch("acme/other") == "trunk"
    assert gh_client.find_open_pull(REPO, "codex/issue-2-y") is None
    created = gh_client.create_pull(REPO, head="codex/issue-2-y", base="main", title="Fix y", body="Closes #2")
    assert created.draft is True
    found = gh_client.find_open_pull(REPO, "codex/issue-2-y")
    assert found is not None and found.number == created.number


def test_enterprise_base_url_serves_rest_pages_and_graphql(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 4)
    gh.add_thread(REPO, 4, "rename this")
    for i in range(150):
        gh.add_comment(REPO, 4, f"c{i}")
    enterprise = GitHubClient(TokenAuth("test-token"), f"{gh.url}/api/v3")
    assert len(enterprise.list_issue_comments(REPO, 4)) == 150
    assert [t.summary for t in enterprise.unresolved_review_threads(REPO, 4)] == ["rename this"]
    assert {r.path.split("?")[0] for r in gh.requests} == {f"/api/v3/repos/{REPO}/issues/4/comments", "/api/graphql"}


def test_enterprise_graphql_url() -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/graphql"


# ---------------------------------------------------------------- rate limits and faults


def test_primary_rate_limit_short_wait_is_slept_through(gh: FakeGitHub) -> None:
    sleeps = Sleeps()
    gh.rate_limit(reset_in=1)
    assert client(gh, sleep=sleeps).default_branch(REPO) == "main"
    assert len(sleeps.waits) == 1 and 0 < sleeps.waits[0] <= 2.5


def test_primary_rate_limit_long_wait_is_unavailable_with_retry_after(gh: FakeGitHub) -> None:
    sleeps = Sleeps()
    gh.rate_limit(reset_in=600)
    with pytest.raises(Unavailable) as caught:
        client(gh, sleep=sleeps).default_branch(REPO)
    assert caught.value.status == 503 and 590 <= int(caught.value.headers["Retry-After"]) <= 602
    assert sleeps.waits == []


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_honours_retry_after(gh: FakeGitHub, status: int) -> None:
    sleeps = Sleeps()
    gh.secondary_rate_limit(retry_after=2, status=status)
    assert client(gh, sleep=sleeps).default_branch(REPO) == "main"
    assert sleeps.waits == [2.0]
    gh.secondary_rate_limit(retry_after=120, status=status)
    with pytest.raises(GitHubUnavailableError) as caught:
        client(gh, sleep=sleeps).default_branch(REPO)
    assert caught.value.headers["Retry-After"] == "120"


def test_repeated_short_waits_stop_at_the_budget(gh: FakeGitHub) -> None:
    sleeps = Sleeps()
    gh.secondary_rate_limit(retry_after=2, count=10)
    with pytest.raises(GitHubUnavailableError):
        client(gh, max_wait=5, sleep=sleeps).default_branch(REPO)
    assert sleeps.waits == [2.0, 2.0]


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_are_transient(gh: FakeGitHub, status: int) -> None:
    gh.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        client(gh).get_pull(REPO, 1)
    assert caught.value.status == 503 and str(status) in caught.value.message


def test_unreachable_github_is_transient() -> None:
    gh_client = GitHubClient(TokenAuth("t"), f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(Unavailable, match="unreachable"):
        gh_client.default_branch(REPO)


def test_a_read_whose_connection_is_lost_is_sent_once_more_and_a_write_is_not() -> None:
    """The first connection is reset before any answer (a server restarting, a kept-alive
    connection closed under the client): a GET goes out again, a POST is reported as is."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            with conn:
                conn.recv(65536)
                if len(accepted) % 2:  # every other connection is reset without an answer
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    continue
                body = b'{"default_branch":"main"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )

    threading.Thread(target=serve, daemon=True).start()
    try:
        gh_client = GitHubClient(TokenAuth("t"), f"http://127.0.0.1:{port}", timeout=2)
        assert gh_client.default_branch(REPO) == "main"
        assert len(accepted) == 2
        with pytest.raises(Unavailable, match="unreachable"):
            gh_client.create_issue_comment(REPO, 1, "hello")
        assert len(accepted) == 3
    finally:
        listener.close()


def test_missing_repository_is_permanent_and_says_so(gh: FakeGitHub) -> None:
    with pytest.raises(PermanentFailure) as caught:
        client(gh).list_issue_comments("acme/gone", 1)
    assert caught.value.status == 422
    assert "404" in caught.value.message and "acme/gone" in caught.value.message
    assert isinstance(caught.value, GitHubPermanentError) and caught.value.github_status == 404


def test_bad_credentials_are_permanent_and_never_echo_the_token(gh: FakeGitHub) -> None:
    gh_client = GitHubClient(TokenAuth("ghp_secretvalue"), gh.url)
    with pytest.raises(PermanentFailure) as caught:
        gh_client.get_pull(REPO, 1)
    assert "401" in caught.value.message and "CODEX_GITHUB_TOKEN" in caught.value.message
    assert "ghp_secretvalue" not in caught.value.message
    assert "ghp_secretvalue" not in repr(gh_client.auth)


def test_graphql_not_found_is_permanent(gh: FakeGitHub) -> None:
    with pytest.raises(GitHubPermanentError, match="Could not resolve to a Repository"):
        client(gh).unresolved_review_threads("acme/gone", 1)
    with pytest.raises(GitHubPermanentError, match="PullRequest"):
        client(gh).unresolved_review_threads(REPO, 404)


def test_malformed_repository_name_is_refused_before_any_call(gh: FakeGitHub) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        client(gh).get_pull("widgets", 1)
    assert gh.requests == []


# ---------------------------------------------------------------- GitHub App auth


def test_app_token_is_exchanged_once_and_cached(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.enable_app("4242", public)
    auth = AppAuth("4242", private.replace("\n", "\\n"))  # as pasted into an env var
    gh_client = GitHubClient(auth, gh.url)
    for _ in range(3):
        assert gh_client.default_branch(REPO) == "main"
    assert auth.exchanges == 1
    assert len(gh.calls("GET", f"/repos/{REPO}/installation")) == 1
    token_calls = gh.calls("POST", "/app/installations/1/access_tokens")
    assert len(token_calls) == 1 and token_calls[0].headers["authorization"].startswith("Bearer ey")


def test_app_token_that_expires_mid_run_is_renewed(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.enable_app("4242", public)
    auth = AppAuth("4242", private, installation_id=1)
    gh_client = GitHubClient(auth, gh.url)
    gh.add_comment(REPO, 1, "hello")
    assert len(gh_client.list_issue_comments(REPO, 1)) == 1
    gh.revoke_all_tokens()  # GitHub stops accepting the cached token before its expires_at
    assert len(gh_client.list_issue_comments(REPO, 1)) == 1
    assert auth.exchanges == 2


def test_concurrent_calls_on_a_revoked_app_token_all_recover(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    """Regression: the second of two calls refused with the same token must use the renewed one."""
    from concurrent.futures import ThreadPoolExecutor

    private, public = app_key
    gh.enable_app("4242", public)
    auth = AppAuth("4242", private, installation_id=1)
    gh_client = GitHubClient(auth, gh.url)
    gh_client.default_branch(REPO)
    gh.revoke_all_tokens()
    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(lambda _: gh_client.default_branch(REPO), range(6))) == {"main"}
    assert auth.exchanges == 2


def test_app_token_near_expiry_is_renewed_before_use(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.enable_app("4242", public, token_lifetime=60)  # inside the renewal margin
    auth = AppAuth("4242", private, installation_id=1)
    gh_client = GitHubClient(auth, gh.url)
    gh_client.default_branch(REPO)
    gh_client.default_branch(REPO)
    assert auth.exchanges == 2
    assert len(gh.calls("GET", f"/repos/{REPO}")) == 2  # no call was refused and retried


def test_app_with_a_wrong_key_is_permanent(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, public = app_key
    gh.enable_app("4242", public)
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(PermanentFailure, match="CODEX_GITHUB_APP_PRIVATE_KEY"):
        GitHubClient(AppAuth("4242", other), gh.url).default_branch(REPO)


def test_client_from_settings_prefers_the_token(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    settings = load_settings(
        {
            "CODEX_GITHUB_TOKEN": "test-token",
            "CODEX_GITHUB_API_URL": gh.url,
            "CODEX_GITHUB_APP_ID": "1",
            "CODEX_GITHUB_APP_PRIVATE_KEY": app_key[0],
        }
    )
    gh_client = client_from_settings(settings)
    assert isinstance(gh_client.auth, TokenAuth) and gh_client.default_branch(REPO) == "main"
    app_settings = load_settings(
        {
            "CODEX_GITHUB_APP_ID": "1",
            "CODEX_GITHUB_APP_PRIVATE_KEY": app_key[0],
            "CODEX_GITHUB_APP_INSTALLATION_ID": "7",
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
        }
    )
    app_client = client_from_settings(app_settings)
    assert isinstance(app_client.auth, AppAuth) and app_client.max_wait == 0


def test_workflow_steps_get_a_git_token_from_app_credentials(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    """The steps push with ``GitHubAccess.git_token``: with App auth it is an installation token."""
    from codex_pipeline.steps.context import github_access

    private, public = app_key
    gh.enable_app("4242", public)
    access = github_access(
        {"CODEX_GITHUB_APP_ID": "4242", "CODEX_GITHUB_APP_PRIVATE_KEY": private, "CODEX_GITHUB_API_URL": gh.url}
    )
    token = access.git_token(REPO)
    assert token is not None and token in gh.valid_tokens
    assert access.client.default_branch(REPO) == "main"
    assert len(gh.calls("POST", "/app/installations/1/access_tokens")) == 1  # one exchange serves both


# ---------------------------------------------------------------- GitHub's documented rules (issue 23)


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit_without_retry_after_waits_a_minute_never_permanent(gh: FakeGitHub, status: int) -> None:
    """GitHub: without retry-after (and calls left), wait at least one minute before retrying."""
    gh.secondary_rate_limit(retry_after=None, status=status)
    with pytest.raises(GitHubUnavailableError) as caught:
        client(gh, max_wait=5).default_branch(REPO)
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "60"
    assert not isinstance(caught.value, PermanentFailure)
    sleeps = Sleeps()
    gh.secondary_rate_limit(retry_after=None, status=status)
    assert client(gh, max_wait=90, sleep=sleeps).default_branch(REPO) == "main"
    assert sleeps.waits == [60.0]


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit_with_retry_after_longer_than_the_budget_is_503(gh: FakeGitHub, status: int) -> None:
    gh.secondary_rate_limit(retry_after=61, status=status)
    with pytest.raises(GitHubUnavailableError) as caught:
        client(gh, max_wait=60).default_branch(REPO)
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "61"


def test_primary_limit_without_reset_header_waits_a_minute(gh: FakeGitHub) -> None:
    gh.fail_next(
        429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": ""}, message="API rate limit exceeded"
    )
    with pytest.raises(GitHubUnavailableError) as caught:
        client(gh, max_wait=0).default_branch(REPO)
    assert caught.value.headers["Retry-After"] == "60"


def test_a_403_that_is_no_rate_limit_stays_permanent(gh: FakeGitHub) -> None:
    gh.fail_next(403, message="Resource not accessible by integration")
    with pytest.raises(GitHubPermanentError, match="lack permission"):
        client(gh).default_branch(REPO)


def test_graphql_rate_limited_is_waited_out_or_503(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 3)
    limited = {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}
    gh.fail_next(
        200, path_contains="graphql", body=limited, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}
    )
    sleeps = Sleeps()
    assert client(gh, sleep=sleeps).unresolved_review_threads(REPO, 3) == []
    assert sleeps.waits == [1.0]  # reset already passed: one second of margin
    gh.fail_next(200, path_contains="graphql", body=limited)
    with pytest.raises(GitHubUnavailableError) as caught:
        client(gh, max_wait=5).unresolved_review_threads(REPO, 3)
    assert caught.value.headers["Retry-After"] == "60"


def test_app_without_installation_id_finds_its_login_and_names_the_setting(
    gh: FakeGitHub, app_key: tuple[str, str]
) -> None:
    from codex_pipeline.effects.github.auth import AppInstallationUnknown
    from codex_pipeline.errors import MisconfiguredCredentials

    private, public = app_key
    gh.enable_app("4242", public)
    app_client = GitHubClient(AppAuth("4242", private), gh.url)
    assert app_client.viewer_login() == "codex-app[bot]"  # GET /app with the App's JWT: no installation needed
    with pytest.raises(AppInstallationUnknown, match="CODEX_GITHUB_APP_INSTALLATION_ID") as caught:
        app_client.rest("GET", "/rate_limit")
    assert isinstance(caught.value, MisconfiguredCredentials) and caught.value.status == 503
    assert app_client.default_branch(REPO) == "main"  # repository calls find the installation themselves


def test_app_with_installation_id_asks_graphql_for_its_login(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.enable_app("4242", public)
    app_client = GitHubClient(AppAuth("4242", private, installation_id=1), gh.url)
    assert app_client.viewer_login() == "codex-app[bot]"
    assert gh.calls("GET", "/app") == [] and len(gh.calls("POST", "/graphql")) == 1


def test_pull_request_without_draft_asks_graphql_before_marking_ready(gh: FakeGitHub) -> None:
    """GitHub's description does not require ``draft``: its absence must not read as "not a draft"."""
    gh.add_pull(REPO, 5, draft=True)
    gh.draft_unsaid.add((REPO, 5))
    gh_client = client(gh)
    pull = gh_client.get_pull(REPO, 5)
    assert pull.draft is None
    assert gh_client.mark_ready_for_review(REPO, pull) is True
    assert gh.pulls[(REPO, 5)]["draft"] is False
    assert gh_client.mark_ready_for_review(REPO, 5) is False  # isDraft is now false: no second mutation
    mutations = [r for r in gh.calls("POST", "/graphql") if b"markPullRequestReadyForReview" in r.body]
    assert len(mutations) == 1


def test_open_pull_found_by_head_is_read_in_full(gh: FakeGitHub) -> None:
    """The list endpoint answers the simple form (no mergeable); the lookup reads the PR itself."""
    gh.add_pull(REPO, 8, head="codex/issue-8-z", mergeable=False, mergeable_state="dirty")
    found = client(gh).find_open_pull(REPO, "codex/issue-8-z")
    assert found is not None and (found.mergeable, found.mergeable_state) == (False, "dirty")
    assert len(gh.calls("GET", f"/repos/{REPO}/pulls/8")) == 1


def test_a_rerun_check_that_passed_is_not_failing(gh: FakeGitHub) -> None:
    """Check runs are listed with GitHub's default filter=latest: a passing re-run replaces the failure."""
    gh.add_check_run(REPO, SHA, "ci / test", conclusion="failure")
    assert [f.name for f in client(gh).failing_checks(REPO, SHA).failing] == ["ci / test"]
    gh.add_check_run(REPO, SHA, "ci / test", conclusion="success")
    assert client(gh).failing_checks(REPO, SHA).green
    gh.add_check_run(REPO, SHA, "ci / test", status="in_progress", conclusion=None)
    assert client(gh).failing_checks(REPO, SHA).pending == ("ci / test",)


def test_issue_and_pull_numbers_share_a_sequence_and_a_head_has_one_open_pull(gh: FakeGitHub) -> None:
    gh_client = client(gh)
    first = gh_client.create_issue(REPO, title="one", body="b")
    pull = gh_client.create_pull(REPO, head="codex/x", base="main", title="Fix", body="Closes #1")
    second = gh_client.create_issue(REPO, title="two", body="b")
    assert (first.number, pull.number, second.number) == (1, 2, 3)
    with pytest.raises(GitHubPermanentError, match="already exists") as caught:
        gh_client.create_pull(REPO, head="codex/x", base="main", title="Again", body="")
    assert caught.value.github_status == 422
    assert gh_client.find_recent_issue_with(REPO, "Closes #1") is None  # PRs are in the issues list, skipped
    listed = gh_client.rest("GET", f"/repos/{REPO}/issues", params={"state": "all"})
    assert [(i["number"], "pull_request" in i) for i in listed] == [(3, False), (2, True), (1, False)]


# ---------------------------------------------------------------- check runs and commit statuses (issue 18)


def test_check_run_lifecycle_with_app_credentials(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.enable_app("4242", public)
    app_client = GitHubClient(AppAuth("4242", private), gh.url)
    run = app_client.create_check_run(
        REPO,
        head_sha=SHA,
        name="codex / implementation",
        title="Queued",
        summary="Workflow submitted",
        details_url="https://argo.example/wf/x",
    )
    assert (run.status, run.conclusion, run.details_url) == ("queued", None, "https://argo.example/wf/x")
    # The pipeline's own checks are never review work nor a reason to hold the handoff; others are.
    app_client.create_check_run(REPO, head_sha=SHA, name="ci / test")
    assert app_client.failing_checks(REPO, SHA).pending == ("ci / test",)
    app_client.update_check_run(REPO, run.id, status="in_progress", title="Running", summary="Codex works")
    done = app_client.update_check_run(REPO, run.id, conclusion="failure", title="Failed", summary="tests fail")
    assert (done.status, done.conclusion, done.title, done.summary) == ("completed", "failure", "Failed", "tests fail")
    found = app_client.find_check_run(REPO, SHA, "codex / implementation")
    assert found is not None and found.id == run.id and found.conclusion == "failure"
    assert app_client.find_check_run(REPO, SHA, "other") is None
    # A newer run of the same name hides an older one from filter=latest, not from its own run.
    newer = app_client.create_check_run(REPO, head_sha=SHA, name="codex / implementation", external_id="wf-2")
    latest = app_client.find_check_run(REPO, SHA, "codex / implementation")
    own = app_client.find_check_run(REPO, SHA, "codex / implementation", external_id="wf-2")
    assert latest is not None and own is not None and latest.id == own.id == newer.id
    assert app_client.find_check_run(REPO, SHA, "codex / implementation", external_id="wf-1") is None


def test_check_runs_need_an_app_and_statuses_do_not(gh: FakeGitHub) -> None:
    gh_client = client(gh)
    with pytest.raises(GitHubPermanentError, match="GitHub App") as caught:
        gh_client.create_check_run(REPO, head_sha=SHA, name="codex / review")
    assert caught.value.github_status == 403
    gh_client.create_commit_status(REPO, SHA, state="pending", context="codex / review", description="queued")
    gh_client.create_commit_status(REPO, SHA, state="success", context="codex / review", description="done")
    report = gh_client.failing_checks(REPO, SHA)
    assert report.green  # the combined status keeps the latest per context
    with pytest.raises(GitHubPermanentError):
        gh_client.create_commit_status(REPO, SHA, state="bogus", context="codex / review")
