"""An OIDC issuer's JWKS endpoint (what the Kubernetes API server serves at ``/openid/v1/jwks``)
and the service-account tokens it would sign, for the sender-identity tests.

Keys are real RSA keys; tokens are real RS256 JWTs with the claims Kubernetes' TokenRequest puts
in a service-account token (Kubernetes 1.32 shape: ``iss``, ``sub``
``system:serviceaccount:<ns>:<name>``, ``aud`` a list, ``exp``, ``iat``, ``nbf``, and the
``kubernetes.io`` claim naming namespace and service account).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from codex_pipeline.dev.fakehttp import Answer, FakeServer, Recorded

ISSUER = "https://kubernetes.default.svc.cluster.local"


class SigningKey:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex[:16]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**found, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(
        self,
        audience: str,
        *,
        namespace: str = "codex",
        account: str = "route-task-oidc-eventing.knative.dev-trigger",
        issuer: str = ISSUER,
        lifetime: int = 3600,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": f"system:serviceaccount:{namespace}:{account}",
            "aud": [audience],
            "exp": now + lifetime,
            "iat": now,
            "nbf": now,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account, "uid": str(uuid.uuid4())}},
        }
        claims.update(overrides)
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class JwksServer(FakeServer):
    """Serves the public half of ``keys`` as a JWK set; ``down`` answers 503 like an API server that is away."""

    def __init__(self, *keys: SigningKey) -> None:
        super().__init__()
        self.keys = list(keys)
        self.down = False

    @property
    def jwks_url(self) -> str:
        return self.url + "/openid/v1/jwks"

    def answer(self, recorded: Recorded) -> Answer:
        if self.down:
            return 503, {"content-type": "application/json"}, b'{"message":"unavailable"}'
        body = json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()
        return 200, {"content-type": "application/jwk-set+json"}, body
