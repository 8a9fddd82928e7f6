"""parse_json: msgspec reads, json decides what msgspec refuses (issue 14), so the verdicts are json's.

Every function reads its JSON through :func:`codex_pipeline.wire.http.parse_json`. It must accept
exactly what json accepts, give the same values, and refuse the rest with a 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_pipeline.errors import BadRequest
from codex_pipeline.wire.http import UNPARSABLE_JSON, parse_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)  # past 64 bits too
    | st.floats(allow_nan=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def json_verdict(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(raw)
    except UNPARSABLE_JSON:
        return "refused", None


def our_verdict(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", parse_json(raw, "the test body")
    except BadRequest:
        return "refused", None


@given(values, st.booleans())
def test_every_json_text_reads_as_json_reads_it(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert our_verdict(raw) == json_verdict(raw)


@settings(max_examples=300)
@given(
    st.binary(max_size=40)
    | st.text(alphabet='{}[]",:0123456789.eE+-tfrunlaNI\\u \ud800', max_size=30).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    )
)
def test_any_bytes_get_jsons_verdict(raw: bytes) -> None:
    ours, theirs = our_verdict(raw), json_verdict(raw)
    assert ours[0] == theirs[0]
    if ours[0] == "value" and not (isinstance(theirs[1], float) and math.isnan(theirs[1])):
        assert ours == theirs


@pytest.mark.parametrize(
    "raw",
    [
        b'{"body": "\\ud83d alone"}',  # a lone surrogate escape: msgspec refuses, json reads
        b"[NaN, Infinity, -Infinity]",
        b"[1e400]",
        b'{"a": 1, "a": 2}',  # a repeated key: the last one wins, as in json
        b'{"id": 123456789012345678901234567890}',
        "\ufeff{}".encode(),  # a UTF-8 byte order mark
        '{"a": 1}'.encode("utf-16"),
    ],
)
def test_what_msgspec_refuses_and_json_reads_is_still_read(raw: bytes) -> None:
    assert our_verdict(raw)[0] == "value"
    assert repr(our_verdict(raw)) == repr(json_verdict(raw))


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": 1} trailing', b"\xff\xfe\x00", b"[" * 100_000])
def test_what_can_never_parse_is_a_400_naming_the_body(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="the test body is not valid JSON"):
        parse_json(raw, "the test body")
