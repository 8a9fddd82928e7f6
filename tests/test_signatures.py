from __future__ import annotations

from codex_pipeline.wire import signatures

# GitHub's documented test vector ("Validating webhook deliveries").
SECRET = "It's a Secret to Everybody"
PAYLOAD = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_vector() -> None:
    assert signatures.sign(SECRET, PAYLOAD) == SIGNATURE
    assert signatures.verify([SECRET], PAYLOAD, SIGNATURE)


def test_rotation_accepts_any_configured_secret() -> None:
    assert signatures.verify(["new-secret", SECRET], PAYLOAD, SIGNATURE)
    assert not signatures.verify(["new-secret"], PAYLOAD, SIGNATURE)


def test_tampered_or_malformed_signatures_fail() -> None:
    assert not signatures.verify([SECRET], PAYLOAD + b"!", SIGNATURE)
    assert not signatures.verify([SECRET], PAYLOAD, SIGNATURE.replace("sha256=", "sha1="))
    assert not signatures.verify([SECRET], PAYLOAD, None)
    assert not signatures.verify([], PAYLOAD, SIGNATURE)
