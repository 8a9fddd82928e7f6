from __future__ import annotations

import pytest

from tests.broker_reply import assert_broker_acceptable

CE = {"ce-id": "1", "ce-source": "s", "ce-type": "t", "ce-specversion": "1.0", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, {}, b""),
        (202, CE, b'{"name":"w"}'),
        (500, {"content-type": "application/json"}, b'{"error":"x"}'),
    ],
)
def test_acceptable_answers(status: int, headers: dict[str, str], body: bytes) -> None:
    assert_broker_acceptable(status, headers, body)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b"OK"),
        ({"content-type": "application/json"}, b'{"name":"w"}'),
        ({"content-type": "application/cloudevents+json"}, b'{"specversion":"1.0"}'),
    ],
)
def test_unacceptable_answers(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(AssertionError):
        assert_broker_acceptable(200, headers, body)
