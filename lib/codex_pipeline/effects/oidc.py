"""Sender identity for the functions a Knative Broker calls (Eventing's ``authentication-oidc``).

With the feature on, a Trigger's dispatcher asks the Kubernetes API (TokenRequest) for a token of
the Trigger's own ServiceAccount, issued for the subscriber's audience, and sends it as
``Authorization: Bearer <JWT>``. When ``CODEX_OIDC_AUDIENCE`` is set, route-task,
dispatch-planning, promote-plan and request-review refuse any request without such a token: the
signature must verify against the issuer's JWKS (``CODEX_OIDC_JWKS_URL``), ``iss`` must be
``CODEX_OIDC_ISSUER``, ``aud`` must hold the audience, ``exp`` must not have passed, and, when
``CODEX_OIDC_SUBJECTS`` is set, ``sub`` (``system:serviceaccount:<namespace>:<name>``) must be
one of those senders. 401 for a missing or bad token, 403 for a sender not allowed, 503 while the
JWKS cannot be fetched (a transient fault: the broker retries). Unset, nothing is checked (the
functions are then only as private as their cluster-local visibility makes them).

PyJWT (already a dependency) verifies; it is imported only when the check is configured, so
functions without it keep their import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from codex_pipeline.errors import Forbidden, Unauthorized, Unavailable

if TYPE_CHECKING:
    import ssl

    from codex_pipeline.shell.config import Settings
    from codex_pipeline.wire.http import Request

# Kubernetes signs ServiceAccount tokens with RSA or ECDSA keys; never accept HMAC or 'none'.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_JWKS = "https://kubernetes.default.svc/openid/v1/jwks"
LEEWAY_SECONDS = 30
# A token naming an unknown key id makes the JWKS be fetched again (keys rotate), at most this often,
# so a flood of forged key ids costs the issuer one request per interval per pod.
REFETCH_SECONDS = 2.0


class SenderVerifier:
    """Checks the OIDC token of one request; raises the error to answer with, else returns the subject."""

    def __init__(
        self,
        audience: str,
        issuer: str,
        jwks_url: str,
        *,
        subjects: frozenset[str] = frozenset(),
        timeout: float = 2.0,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        import jwt

        self.audience = audience
        self.issuer = issuer
        self.subjects = subjects
        headers: dict[str, Any] = {}
        context: ssl.SSLContext | None = None
        host = urlsplit(jwks_url).hostname or ""
        if host.startswith("kubernetes.default.svc"):
            # The API server serves its JWKS to authenticated callers and with the cluster's CA:
            # use the pod's own ServiceAccount token and CA when they are mounted.
            token = service_account_dir / "token"
            ca = service_account_dir / "ca.crt"
            if token.is_file():
                headers["Authorization"] = f"Bearer {token.read_text().strip()}"
            if ca.is_file():
                import ssl

                context = ssl.create_default_context(cafile=str(ca))
        self._jwks = jwt.PyJWKClient(
            jwks_url,
            cache_keys=True,
            headers=headers,
            timeout=timeout,
            ssl_context=context,
            lifespan=300,
            cooldown_duration=REFETCH_SECONDS,
        )

    def __call__(self, request: Request) -> str:
        import jwt

        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "missing OIDC sender token (Authorization: Bearer <JWT>); "
                "this function only accepts deliveries from its Knative Triggers"
            )
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("the OIDC issuer's JWKS cannot be fetched now") from None
        except (jwt.PyJWKClientError, jwt.PyJWKError, jwt.DecodeError) as exc:
            raise Unauthorized(f"OIDC sender token refused: {exc}") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"OIDC sender token refused: {exc}") from None
        subject = str(claims["sub"])
        if self.subjects and subject not in self.subjects:
            raise Forbidden(f"sender {subject} is not in CODEX_OIDC_SUBJECTS")
        return subject


def from_settings(settings: Settings) -> SenderVerifier | None:
    """The verifier when ``CODEX_OIDC_AUDIENCE`` is set, else None (no sender check)."""
    if not settings.oidc_audience:
        return None
    return SenderVerifier(
        settings.oidc_audience,
        settings.oidc_issuer,
        settings.oidc_jwks_url or IN_CLUSTER_JWKS,
        subjects=settings.oidc_subjects,
    )
