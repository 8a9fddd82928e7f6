"""The GitHub client the functions and workflow steps share (see ``client.py`` for the contract).

``client_from_settings(settings)`` picks the credentials: ``CODEX_GITHUB_TOKEN``, else the
GitHub App (``CODEX_GITHUB_APP_ID`` + ``CODEX_GITHUB_APP_PRIVATE_KEY``), else anonymous
(public reads only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_pipeline.github.auth import AppAuth, Auth, TokenAuth
from codex_pipeline.github.client import (
    GitHubClient,
    GitHubPermanentError,
    GitHubUnavailableError,
    graphql_url,
)
from codex_pipeline.github.models import (
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
    from codex_pipeline.config import Settings

__all__ = [
    "AppAuth",
    "Auth",
    "CheckRun",
    "ChecksReport",
    "Comment",
    "FailingCheck",
    "GitHubClient",
    "GitHubPermanentError",
    "GitHubUnavailableError",
    "Issue",
    "PullRequest",
    "ReviewThread",
    "TokenAuth",
    "auth_from_settings",
    "client_from_settings",
    "graphql_url",
    "split_repo",
]


def auth_from_settings(settings: Settings) -> Auth:
    if settings.github_token:
        return TokenAuth(settings.github_token)
    if settings.github_app_id and settings.github_app_private_key:
        installation = settings.github_app_installation_id
        return AppAuth(settings.github_app_id, settings.github_app_private_key,
                       installation_id=int(installation) if installation else None)
    return TokenAuth(None)


def client_from_settings(settings: Settings) -> GitHubClient:
    return GitHubClient(auth_from_settings(settings), settings.github_api_url,
                        timeout=settings.github_timeout, max_wait=settings.github_max_wait)
