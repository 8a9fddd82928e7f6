"""CloudEvents in every mode a broker, a KafkaSource or curl delivers them."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_pipeline.errors import BadRequest
from codex_pipeline.wire import events
from codex_pipeline.wire.http import Headers, Request

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _request(headers: dict[str, str], body: bytes) -> Request:
    return Request("POST", "/", Headers(headers), body)


def test_binary_round_trip_keeps_bytes_and_extensions() -> None:
    event = events.Event(
        id="d-1:planning",
        source="codex/route-task",
        type="codex.task.planning",
        data=b"\x08\x01\x12\x00\xff",
        datacontenttype="application/protobuf",
        subject="o/r#1",
        extensions={"partitionkey": "o/r#1", "traceparent": TRACEPARENT},
    )
    headers, body = events.encode_binary(event)
    assert headers["ce-type"] == "codex.task.planning"
    assert headers["ce-partitionkey"] == "o/r#1"
    assert headers["traceparent"] == TRACEPARENT
    assert body == event.data
    decoded = events.decode_request(_request(headers, body))
    assert (decoded.id, decoded.data, decoded.traceparent) == (event.id, event.data, TRACEPARENT)
    assert decoded.extensions["partitionkey"] == "o/r#1"


def test_structured_mode_with_json_and_base64_data() -> None:
    for data_field in ({"data": {"x": 1}}, {"data_base64": base64.b64encode(b'{"x":1}').decode()}):
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "9",
                "source": "s",
                "type": "t",
                "datacontenttype": "application/json",
                **data_field,
            }
        ).encode()
        decoded = events.decode_request(_request({"content-type": events.STRUCTURED_MEDIA}, body))
        assert decoded.id == "9" and json.loads(decoded.data) == {"x": 1}


def test_kafka_record_holding_a_structured_event_is_unwrapped() -> None:
    inner = json.dumps(
        {"specversion": "1.0", "id": "inner", "source": "s", "type": "codex.task.review", "data": {"stage": "review"}}
    ).encode()
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:7",
        "ce-source": "kafka",
        "ce-type": events.KAFKA_RECORD_TYPE,
        "ce-traceparent": TRACEPARENT,
    }
    decoded = events.decode_request(_request(headers, inner))
    assert (decoded.id, decoded.type, decoded.traceparent) == ("inner", "codex.task.review", TRACEPARENT)


def test_kafka_record_with_plain_value_stays_a_record() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:8",
        "ce-source": "kafka",
        "ce-type": events.KAFKA_RECORD_TYPE,
    }
    decoded = events.decode_request(_request(headers, b'{"stage":"planning"}'))
    assert decoded.type == events.KAFKA_RECORD_TYPE and decoded.data == b'{"stage":"planning"}'


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        ({"ce-specversion": "1.0", "ce-id": "1"}, b"", "missing required header"),
        ({"content-type": events.STRUCTURED_MEDIA}, b"{broken", "malformed CloudEvent"),
    ],
)
def test_not_cloudevents_get_clear_errors(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        events.decode_request(_request(headers, body))


_attribute_text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and "\x00" not in s)


@given(
    id_=_attribute_text,
    source=_attribute_text,
    subject=st.one_of(st.none(), _attribute_text),
    key=_attribute_text,
    data=st.binary(max_size=64),
)
@settings(max_examples=200, deadline=None)
def test_the_sdk_reads_back_whatever_encode_binary_writes(
    id_: str, source: str, subject: str | None, key: str, data: bytes
) -> None:
    """Our binary-mode writer (percent-encoding included) against the SDK's reader."""
    event = events.Event(
        id=id_,
        source=source,
        type="codex.task.review",
        data=data,
        subject=subject,
        datacontenttype="application/octet-stream",
        extensions={"partitionkey": key},
    )
    headers, body = events.encode_binary(event)
    assert all(value.isascii() and " " not in value for value in headers.values())
    decoded = events.decode_request(_request(headers, body))
    assert (decoded.id, decoded.source, decoded.subject, decoded.data) == (id_, source, subject, data)
    assert decoded.extensions["partitionkey"] == key
    assert decoded.time  # a time is always stamped


_header_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)


@given(
    attributes=st.dictionaries(
        st.sampled_from(
            ["id", "source", "type", "subject", "time", "dataschema", "partitionkey", "traceparent", "githubevent"]
        ),
        _header_text,
        min_size=0,
    ),
    content_type=st.one_of(st.none(), st.sampled_from(["application/json", "application/x-protobuf"])),
    data=st.binary(max_size=64),
)
@settings(max_examples=300, deadline=None)
def test_the_binary_reader_agrees_with_the_sdk(
    attributes: dict[str, str], content_type: str | None, data: bytes
) -> None:
    """Binary mode is read by our own reader (issue 14: the SDK's cost a third of route-task's CPU);
    whatever headers arrive, it must read what the SDK reads (the SDK stamps a time when none came)."""
    from urllib.parse import unquote

    from cloudevents.http import from_http

    headers = {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "s",
        "ce-type": "t",
        **{f"ce-{name}": value for name, value in attributes.items()},
    }
    if content_type:
        headers["content-type"] = content_type
    ours = events.decode_request(_request(headers, data))
    sdk = from_http(
        {k: unquote(v) if "%" in v else v for k, v in headers.items()}, data, data_unmarshaller=lambda raw: raw
    )
    expected = dict(sdk.get_attributes())
    if "ce-time" not in headers:
        expected.pop("time")
    assert ours.attributes() == expected
    assert ours.data == (sdk.get_data() or b"")


def test_an_unknown_specversion_is_refused_by_name() -> None:
    headers = {"ce-specversion": "2.0", "ce-id": "1", "ce-source": "s", "ce-type": "t"}
    with pytest.raises(BadRequest, match=r"specversion '2\.0'"):
        events.decode_request(_request(headers, b""))


@given(st.text(max_size=30))
def test_a_header_value_is_percent_encoded_exactly_when_the_binding_says(value: str) -> None:
    """The string-method fast path of _header_value agrees with the binding's rule as a regex."""
    from urllib.parse import quote

    expected = quote(value, safe=events._HEADER_SAFE_CHARS) if events._HEADER_UNSAFE.search(value) else value
    assert events._header_value(value) == expected
