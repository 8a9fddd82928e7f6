"""CloudEvents in and out: binary, structured and KafkaSource-wrapped records.

The wire work is done by the ``cloudevents`` SDK; the import falls back so the same code
runs with 1.x (functions-framework pins it) and 2.x (func-python needs it, 1.x API under
``cloudevents.v1``). Outside this module events are a small frozen :class:`Event` with
``data`` always as bytes, so handlers never care which SDK or content mode delivered it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from codex_pipeline.errors import BadRequest
from codex_pipeline.http import Request, Response

try:  # cloudevents 2.x keeps the 1.x API here
    from cloudevents.v1.conversion import to_binary as _to_binary
    from cloudevents.v1.exceptions import GenericException as _CloudEventError
    from cloudevents.v1.http import CloudEvent as _SdkEvent
    from cloudevents.v1.http import from_http as _from_http
except ImportError:  # cloudevents 1.x
    from cloudevents.conversion import to_binary as _to_binary
    from cloudevents.exceptions import GenericException as _CloudEventError
    from cloudevents.http import CloudEvent as _SdkEvent
    from cloudevents.http import from_http as _from_http

KAFKA_RECORD_TYPE = "dev.knative.kafka.event"
WORKFLOW_SUBMITTED_TYPE = "codex.workflow.submitted"
TASK_TYPES: dict[str, str] = {
    "planning": "codex.task.planning",
    "implementation": "codex.task.implementation",
    "review": "codex.task.review",
    "readiness": "codex.pr.readiness",
}
STRUCTURED_MEDIA = "application/cloudevents+json"
_REQUIRED = ("id", "source", "type", "specversion")


@dataclass(frozen=True)
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
        try:
            return json.loads(self.data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"event {self.id} data is not JSON: {exc}") from None

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
    attributes: dict[str, Any] = dict(sdk_event.get_attributes())
    core = {name: attributes.pop(name, None) for name in (
        "id", "source", "type", "specversion", "datacontenttype", "subject", "time", "dataschema")}
    return Event(
        id=str(core["id"]),
        source=str(core["source"]),
        type=str(core["type"]),
        specversion=str(core["specversion"] or "1.0"),
        datacontenttype=core["datacontenttype"],
        subject=core["subject"],
        time=None if core["time"] is None else str(core["time"]),
        dataschema=core["dataschema"],
        extensions={key: str(value) for key, value in attributes.items()},
        data=_as_bytes(sdk_event.get_data()),
    )


def decode_request(request: Request) -> Event:
    """Read a binary- or structured-mode CloudEvent; 400 with a clear reason otherwise."""
    if not is_cloudevent(request):
        raise BadRequest("not a CloudEvent: expected ce-* headers (binary mode) or "
                         f"Content-Type {STRUCTURED_MEDIA} (structured mode)")
    if "ce-specversion" in request.headers:
        missing = [f"ce-{name}" for name in _REQUIRED if f"ce-{name}" not in request.headers]
        if missing:
            raise BadRequest(f"CloudEvent is missing required header(s): {', '.join(missing)}")
    try:
        sdk_event = _from_http(dict(request.headers), request.body, data_unmarshaller=lambda raw: raw)
    except (_CloudEventError, ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"malformed CloudEvent: {exc}") from None
    return unwrap_kafka_record(_from_sdk(sdk_event))


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
    except (UnicodeDecodeError, json.JSONDecodeError):
        return event
    if not isinstance(inner, dict) or not all(name in inner for name in _REQUIRED):
        return event
    try:
        sdk_event = _from_http({"content-type": STRUCTURED_MEDIA}, event.data,
                               data_unmarshaller=lambda raw: raw)
    except (_CloudEventError, ValueError, TypeError, KeyError):
        return event
    unwrapped = _from_sdk(sdk_event)
    if event.traceparent and not unwrapped.traceparent:
        unwrapped = unwrapped.with_extensions(traceparent=event.traceparent)
    return unwrapped


def _sdk_attributes(event: Event) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": event.specversion,
    }
    for name in ("datacontenttype", "subject", "time", "dataschema"):
        value = getattr(event, name)
        if value is not None:
            attributes[name] = value
    attributes.update(event.extensions)
    return attributes


def encode_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """Binary content mode: attributes as ce-* headers, data as the body, untouched."""
    sdk_event = _SdkEvent(_sdk_attributes(event), event.data)
    headers, body = _to_binary(sdk_event, data_marshaller=lambda data: data)
    out = {key.lower(): value for key, value in headers.items()}
    if event.traceparent:
        # Knative propagates W3C trace context in the plain header too.
        out["traceparent"] = event.traceparent
    return out, bytes(body or b"")


def event_response(event: Event, status: int = 200) -> Response:
    """A 2xx reply that a broker accepts: the reply event in binary mode."""
    headers, body = encode_binary(event)
    return Response(status, body, headers)
