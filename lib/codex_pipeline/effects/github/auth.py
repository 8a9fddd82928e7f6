"""GitHub credentials: a fixed token, or a GitHub App's installation tokens.

App auth signs a short RS256 JWT with the App's private key, exchanges it for an installation
token and caches that token until shortly before it expires, so a burst of deliveries costs one
exchange. A token GitHub rejects (revoked, or expired early) is dropped by :meth:`invalidate`
and fetched again once by the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from codex_pipeline.errors import MisconfiguredCredentials

# An installation token lives one hour; renew this long before GitHub says it expires.
TOKEN_RENEW_MARGIN_SECONDS = 120.0
# GitHub rejects App JWTs valid for more than 10 minutes; backdate iat for clock drift.
JWT_LIFETIME_SECONDS = 540
JWT_BACKDATE_SECONDS = 60


class Auth(Protocol):
    def token_for(self, repo: str | None) -> str | None:
        """The bearer token for calls about ``repo`` (None: anonymous)."""

    def invalidate(self, token: str) -> bool:
        """Forget a token GitHub refused; True when a fresh one may be fetched."""


class TokenAuth:
    """A personal access token or a workflow-provided token; nothing to renew."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def token_for(self, repo: str | None) -> str | None:
        return self._token

    def invalidate(self, token: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "TokenAuth(<redacted>)" if self._token else "TokenAuth(anonymous)"


class AppInstallationUnknown(MisconfiguredCredentials):
    """A GitHub App call names no repository and no installation id is configured (503, not a crash)."""


@dataclass
class _CachedToken:
    token: str
    expires_at: float  # epoch seconds


def normalise_private_key(pem: str) -> str:
    """Accept a PEM pasted into an env var with literal ``\\n`` escapes."""
    text = pem.strip()
    if "\\n" in text and "\n" not in text:
        text = text.replace("\\n", "\n")
    return text + "\n"


class AppAuth:
    """GitHub App installation tokens, one per installation, cached until near expiry.

    ``exchange(method, path, jwt) -> json`` performs the App-authenticated calls (the client
    passes its own request function, so retries and error mapping are shared).
    """

    def __init__(
        self,
        app_id: str,
        private_key: str,
        *,
        installation_id: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self._key = normalise_private_key(private_key)
        self._installation_id = installation_id
        self._clock = clock
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, _CachedToken] = {}
        self.exchange: Callable[[str, str, str], Any] | None = None
        self.exchanges = 0  # token exchanges performed (observability and tests)

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id!r})"

    @property
    def installation_id(self) -> int | None:
        """The configured installation (None: looked up per repository owner)."""
        return self._installation_id

    def app_jwt(self) -> str:
        import jwt  # PyJWT[crypto]; loaded only when App auth is used

        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS, "iss": self.app_id}
        return str(jwt.encode(claims, self._key, algorithm="RS256"))

    def _installation_for(self, repo: str | None) -> int:
        if self._installation_id is not None:
            return self._installation_id
        if repo is None:
            raise AppInstallationUnknown(
                "GitHub App auth cannot pick an installation for a call that names no repository: set "
                "CODEX_GITHUB_APP_INSTALLATION_ID"
            )
        owner = repo.split("/", 1)[0].lower()
        found = self._installations.get(owner)
        if found is None:
            assert self.exchange is not None, "AppAuth.exchange is set by GitHubClient"
            data = self.exchange("GET", f"/repos/{repo}/installation", self.app_jwt())
            found = int(data["id"])
            self._installations[owner] = found
        return found

    def token_for(self, repo: str | None) -> str | None:
        with self._lock:
            installation = self._installation_for(repo)
            cached = self._tokens.get(installation)
            if cached and cached.expires_at - TOKEN_RENEW_MARGIN_SECONDS > self._clock():
                return cached.token
            assert self.exchange is not None, "AppAuth.exchange is set by GitHubClient"
            data = self.exchange("POST", f"/app/installations/{installation}/access_tokens", self.app_jwt())
            self.exchanges += 1
            token = str(data["token"])
            self._tokens[installation] = _CachedToken(token, _parse_time(str(data.get("expires_at") or "")))
            return token

    def invalidate(self, token: str) -> bool:
        with self._lock:
            for installation, cached in list(self._tokens.items()):
                if cached.token == token:
                    del self._tokens[installation]
                    return True
        return False


def _parse_time(value: str) -> float:
    """GitHub's ``2026-01-01T00:00:00Z``; an unreadable value means "renew next time"."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
