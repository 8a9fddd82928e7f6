"""The GitHub client the functions and workflow steps share (see ``client.py`` for the contract).

``client_from_settings(settings)`` picks the credentials: ``CODEX_GITHUB_TOKEN``, else the
GitHub App (``CODEX_GITHUB_APP_ID`` + ``CODEX_GITHUB_APP_PRIVATE_KEY``), else anonymous
(public reads only). ``checks_client(settings, client)`` is the client check runs are
written with: only GitHub Apps may write them, so App credentials configured beside a token
serve the check runs, and with a token alone the caller falls back to commit statuses.
"""

from __future__ import annotations

import threading
from importlib import import_module
from typing import TYPE_CHECKING, Any

from codex_pipeline.wire.github import (
    CheckRun,
    ChecksReport,
    Comment,
    FailingCheck,
    Issue,
    PullRequest,
    ReviewThread,
    split_repo,
)

if TYPE_CHECKING:
    from codex_pipeline.effects.github.auth import AppAuth, Auth, TokenAuth
    from codex_pipeline.effects.github.client import (
        GitHubClient,
        GitHubPermanentError,
        GitHubUnavailableError,
        graphql_url,
    )
    from codex_pipeline.shell.config import Settings

# The client and auth load on first use: the models are plain dataclasses that pure decisions
# (review.py) and request-review's module import, and the client brings requests (~150 ms of an
# effect function's cold start) that only the first call to GitHub needs.
_LAZY = {
    "AppAuth": "auth",
    "Auth": "auth",
    "TokenAuth": "auth",
    "GitHubClient": "client",
    "GitHubPermanentError": "client",
    "GitHubUnavailableError": "client",
    "graphql_url": "client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AppAuth",
    "Auth",
    "CheckRun",
    "ChecksReport",
    "ClientOnFirstUse",
    "Comment",
    "FailingCheck",
    "GitHubClient",
    "GitHubPermanentError",
    "GitHubUnavailableError",
    "Issue",
    "PullRequest",
    "ReviewThread",
    "TokenAuth",
    "UsesGitHub",
    "auth_from_settings",
    "checks_client",
    "client_from_settings",
    "graphql_url",
    "split_repo",
]


def auth_from_settings(settings: Settings) -> Auth:
    from codex_pipeline.effects.github.auth import AppAuth, TokenAuth

    if settings.github_token:
        return TokenAuth(settings.github_token)
    if settings.github_app_id and settings.github_app_private_key:
        installation = settings.github_app_installation_id
        return AppAuth(
            settings.github_app_id,
            settings.github_app_private_key,
            installation_id=int(installation) if installation else None,
        )
    return TokenAuth(None)


def client_from_settings(settings: Settings) -> GitHubClient:
    from codex_pipeline.effects.github.client import GitHubClient

    return GitHubClient(
        auth_from_settings(settings),
        settings.github_api_url,
        timeout=settings.github_timeout,
        max_wait=settings.github_max_wait,
    )


class ClientOnFirstUse:
    """An effect function's GitHub clients, built by the first delivery that calls GitHub.

    Building a client imports ``requests`` (about 150 ms, most of what separates an effect
    function's cold start from a bare function's), and many starts never call GitHub before the
    first task arrives. The credentials are still read and checked at start-up, so a broken
    setting fails the start, not the first delivery. Check runs may need a second client (a
    GitHub App's beside a token: :func:`checks_client`), built on its first use too.
    """

    def __init__(
        self, settings: Settings, client: GitHubClient | None = None, checks: GitHubClient | None = None
    ) -> None:
        self._settings = settings
        self._auth = None if client is not None else auth_from_settings(settings)
        self._client = client
        self._checks = checks
        self._lock = threading.Lock()

    def get(self) -> GitHubClient:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    from codex_pipeline.effects.github.client import GitHubClient

                    settings = self._settings
                    self._client = GitHubClient(
                        self._auth,
                        settings.github_api_url,
                        timeout=settings.github_timeout,
                        max_wait=settings.github_max_wait,
                    )
                client = self._client
        return client

    def checks(self) -> GitHubClient:
        """The client check runs are written with (a GitHub App's; else the token's: commit statuses)."""
        if self._checks is None:
            self._checks = checks_client(self._settings, self.get())
        return self._checks


class UsesGitHub:
    """For a handler holding a :class:`ClientOnFirstUse` as ``_github``: the two clients by name."""

    _github: ClientOnFirstUse

    @property
    def github(self) -> GitHubClient:
        return self._github.get()

    @property
    def checks(self) -> GitHubClient:
        return self._github.checks()


def checks_client(settings: Settings, client: GitHubClient) -> GitHubClient:
    """The client for check runs: ``client`` when it is a GitHub App's, a GitHub App client when App
    credentials are configured beside a token, else ``client`` (it writes commit statuses)."""
    from codex_pipeline.effects.github.auth import AppAuth
    from codex_pipeline.effects.github.client import GitHubClient

    if isinstance(client.auth, AppAuth) or not (settings.github_app_id and settings.github_app_private_key):
        return client
    installation = settings.github_app_installation_id
    auth = AppAuth(
        settings.github_app_id,
        settings.github_app_private_key,
        installation_id=int(installation) if installation else None,
    )
    return GitHubClient(
        auth, settings.github_api_url, timeout=settings.github_timeout, max_wait=settings.github_max_wait
    )
