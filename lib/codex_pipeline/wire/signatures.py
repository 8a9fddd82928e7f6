"""GitHub webhook signatures: HMAC-SHA256 over the raw body, compared in constant time.

Several secrets are accepted at once so a secret can be rotated without dropping
deliveries: add the new one, switch GitHub to it, then remove the old one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    """True when ``header`` is a valid sha256 signature of ``body`` under any secret."""
    if not header or not header.startswith(PREFIX):
        return False
    given = header.strip().encode()
    matched = False
    for secret in secrets:
        # compare every secret (no early exit) so timing does not reveal which one matched
        matched |= hmac.compare_digest(sign(secret, body).encode(), given)
    return matched
