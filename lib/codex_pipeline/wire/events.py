"""CloudEvents in and out: binary, structured and KafkaSource-wrapped records.

Structured mode is decoded by the ``cloudevents`` SDK; binary mode, what brokers and KafkaSinks
deliver, is read and written here (:func:`_decode_binary`, :func:`encode_binary`). The import
falls back so the same code runs with 1.x (functions-framework pins it) and 2.x (func-python needs it, 1.x API under
``cloudevents.v1``). Outside this module events are a small frozen :class:`Event` with
``data`` always as bytes, so handlers never care which SDK or content mode delivered it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from codex_pipeline.errors import BadRequest
from codex_pipeline.wire.http import UNPARSABLE_JSON, Request, Response, parse_json


def _sdk_reader() -> tuple[Any, type[Exception]]:
    """The SDK's ``from_http`` and its error type, imported on the first structured-mode event:
    binary mode (every broker delivery) never needs them, and the import is ~20 ms of cold start."""
    try:  # cloudevents 2.x keeps the 1.x API here
        from cloudevents.v1.exceptions import GenericException
        from cloudevents.v1.http import from_http
    except ImportError:  # cloudevents 1.x
        from cloudevents.exceptions import GenericException
        from cloudevents.http import from_http
    return from_http, GenericException


KAFKA_RECORD_TYPE = "dev.knative.kafka.event"
WORKFLOW_SUBMITTED_TYPE = "codex.workflow.submitted"
TASK_TYPES: dict[str, str] = {
    "planning": "codex.task.planning",
    "implementation": "codex.task.implementation",
    "review": "codex.task.review",
    "readiness": "codex.pr.readiness",
}
STRUCTURED_MEDIA = "application/cloudevents+json"
# ingest-webhook's answer to an accepted GitHub delivery names the CloudEvent type it became here
# (GitHub's delivery log shows it; `codex-pipeline replay` prints it).
EVENT_TYPE_HEADER = "x-codex-event-type"
_REQUIRED = ("id", "source", "type", "specversion")
_OPTIONAL_ATTRIBUTES = ("datacontenttype", "subject", "time", "dataschema")
_SPEC_VERSIONS = frozenset({"1.0", "0.3"})


@dataclass(frozen=True, slots=True)
class Event:
    """A CloudEvent with its data as raw bytes (``datacontenttype`` says how to read them)."""

    id: str
    source: str
    type: str
    data: bytes = b""
    datacontenttype: str | None = None
    subject: str | None = None
    time: str | None = None
    dataschema: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)
    specversion: str = "1.0"

    @property
    def traceparent(self) -> str | None:
        return self.extensions.get("traceparent")

    def json(self) -> Any:
        return parse_json(self.data, f"event {self.id} data")

    def attributes(self) -> dict[str, str]:
        """Context attributes and extensions as one mapping (what a Trigger filter matches on)."""
        found = {"id": self.id, "source": self.source, "type": self.type, "specversion": self.specversion}
        for name in _OPTIONAL_ATTRIBUTES:
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        found.update(self.extensions)
        return found

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], data: bytes) -> Event:
        """The inverse of :meth:`attributes`: everything that is not a context attribute is an extension."""
        rest = dict(attributes)
        core = {name: rest.pop(name, None) for name in ("id", "source", "type", "specversion", *_OPTIONAL_ATTRIBUTES)}
        return cls(
            id=str(core["id"]),
            source=str(core["source"]),
            type=str(core["type"]),
            specversion=str(core["specversion"] or "1.0"),
            datacontenttype=core["datacontenttype"],
            subject=core["subject"],
            time=None if core["time"] is None else str(core["time"]),
            dataschema=core["dataschema"],
            extensions={key: str(value) for key, value in rest.items()},
            data=data,
        )

    def with_extensions(self, **values: str | None) -> Event:
        merged = dict(self.extensions)
        merged.update({key: value for key, value in values.items() if value is not None})
        return replace(self, extensions=merged)


def is_cloudevent(request: Request) -> bool:
    """A request carries a CloudEvent when it has ce-* headers or the structured media type."""
    return "ce-specversion" in request.headers or request.content_type == STRUCTURED_MEDIA


def _as_bytes(data: Any) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, separators=(",", ":")).encode()


def _from_sdk(sdk_event: Any) -> Event:
    return Event.from_attributes(dict(sdk_event.get_attributes()), _as_bytes(sdk_event.get_data()))


def decode_request(request: Request) -> Event:
    """Read a binary- or structured-mode CloudEvent; 400 with a clear reason otherwise."""
    if not is_cloudevent(request):
        raise BadRequest(
            "not a CloudEvent: expected ce-* headers (binary mode) or "
            f"Content-Type {STRUCTURED_MEDIA} (structured mode)"
        )
    if "ce-specversion" in request.headers:
        missing = [f"ce-{name}" for name in _REQUIRED if f"ce-{name}" not in request.headers]
        if missing:
            raise BadRequest(f"CloudEvent is missing required header(s): {', '.join(missing)}")
        return unwrap_kafka_record(_decode_binary(request))
    headers = {
        key: (unquote(value) if key.startswith("ce-") and "%" in value else value)
        for key, value in request.headers.items()
    }  # the HTTP binding percent-encodes; the SDK does not decode
    from_http, sdk_error = _sdk_reader()
    try:
        sdk_event = from_http(headers, request.body, data_unmarshaller=lambda raw: raw)
    except RecursionError:
        raise BadRequest("malformed CloudEvent: its JSON nests too deeply") from None
    except (sdk_error, ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"malformed CloudEvent: {exc}") from None
    return unwrap_kafka_record(_from_sdk(sdk_event))


def _decode_binary(request: Request) -> Event:
    """Binary content mode read here, as it is written here (:func:`encode_binary`).

    Every delivery a broker or KafkaSink makes is binary mode, and the SDK's reader cost about a
    third of route-task's own CPU per delivery (bench/func_runtimes.py); the rules are few: each
    ``ce-`` header is an attribute (percent-decoded, as the HTTP binding encodes), Content-Type is
    ``datacontenttype``, the body is the data. The SDK still reads structured mode.
    tests/test_events.py holds this reader to the SDK's over generated events.
    """
    specversion = request.headers["ce-specversion"]
    if specversion not in _SPEC_VERSIONS:
        raise BadRequest(f"malformed CloudEvent: unsupported specversion {specversion!r} (expected 1.0)")
    attributes = {
        key[3:]: (unquote(value) if "%" in value else value)
        for key, value in request.headers.items()
        if key.startswith("ce-")
    }
    content_type = request.headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return Event.from_attributes(attributes, request.body)


def unwrap_kafka_record(event: Event) -> Event:
    """A KafkaSource delivers a plain record as ``dev.knative.kafka.event`` with the value as
    data. When that value is itself a structured CloudEvent, return the inner event;
    otherwise keep the record (its data is the value) so the caller decodes it by content."""
    if event.type != KAFKA_RECORD_TYPE:
        return event
    stripped = event.data.lstrip()
    if stripped[:1] != b"{":
        return event
    try:
        inner = json.loads(event.data)
    except UNPARSABLE_JSON:
        return event
    if not isinstance(inner, dict) or not all(name in inner for name in _REQUIRED):
        return event
    from_http, sdk_error = _sdk_reader()
    try:
        sdk_event = from_http({"content-type": STRUCTURED_MEDIA}, event.data, data_unmarshaller=lambda raw: raw)
    except (sdk_error, ValueError, TypeError, KeyError, RecursionError):
        return event
    unwrapped = _from_sdk(sdk_event)
    if event.traceparent and not unwrapped.traceparent:
        unwrapped = unwrapped.with_extensions(traceparent=event.traceparent)
    return unwrapped


_HEADER_UNSAFE = re.compile(r'[^\x21-\x7e]|["%]')
_HEADER_SAFE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def _header_value(value: str) -> str:
    """Percent-encode what the HTTP binding says must be (space, '"', '%', non-printable, non-ASCII).

    Printable ASCII without those three is the common case, told by string methods at C speed
    (a regex search cost more than the rest of writing an event's headers).
    """
    if value.isascii() and value.isprintable() and " " not in value and '"' not in value and "%" not in value:
        return value
    return quote(value, safe=_HEADER_SAFE_CHARS) if _HEADER_UNSAFE.search(value) else value


def encode_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """Binary content mode: attributes as ce-* headers, data as the body, untouched.

    Written here rather than through the SDK: the SDK's path costs ~80 us per event, the
    largest share of ingest-webhook's own CPU per delivery (bench/ingest.py), and the binary
    mode rules are few. tests/ce_roundtrip.py checks that both SDK majors read what this writes.
    """
    headers = {
        "ce-specversion": event.specversion,
        "ce-id": _header_value(event.id),
        "ce-source": _header_value(event.source),
        "ce-type": _header_value(event.type),
    }
    headers["ce-time"] = _header_value(event.time or _now_rfc3339())
    if event.subject is not None:
        headers["ce-subject"] = _header_value(event.subject)
    if event.dataschema is not None:
        headers["ce-dataschema"] = _header_value(event.dataschema)
    for name, value in event.extensions.items():
        headers[f"ce-{name.lower()}"] = _header_value(value)
    if event.datacontenttype is not None:
        headers["content-type"] = event.datacontenttype
    if event.traceparent:
        # Knative propagates W3C trace context in the plain header too.
        headers["traceparent"] = event.traceparent
    return headers, bytes(event.data)


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_response(event: Event, status: int = 200) -> Response:
    """A 2xx reply that a broker accepts: the reply event in binary mode."""
    headers, body = encode_binary(event)
    return Response(status, body, headers)
