"""The strict check every function's 2xx answer to a CloudEvent must pass.

Knative's Kafka broker dispatcher fails a delivery whose 2xx body is non-empty and not a
CloudEvent ("unknown encoding and non empty response"): it then retries and dead-letters an
event that was in fact handled. So a 2xx answer is either empty or a binary-mode CloudEvent.
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED = ("ce-id", "ce-source", "ce-type", "ce-specversion")


def assert_broker_acceptable(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Raise AssertionError unless a broker would accept this answer as handled."""
    if not 200 <= status < 300:
        return  # error answers carry JSON bodies; the broker retries or dead-letters them
    if not body:
        return
    lowered = {key.lower(): value for key, value in headers.items()}
    if lowered.get("content-type", "").startswith("application/cloudevents"):
        raise AssertionError("reply events must be binary mode, not structured")
    missing = [name for name in REQUIRED if not lowered.get(name)]
    assert not missing, f"2xx answer has a body but is not a CloudEvent (missing {missing}): {body[:120]!r}"
    assert lowered["ce-specversion"] == "1.0", lowered["ce-specversion"]
