"""What promote-plan and request-review share: reading a task delivery and the workflow parameters.

A task arrives as a CloudEvent (binary or structured; protobuf or JSON data; or a KafkaSource
record wrapping either) or, for the spec's replays, as a bare body without CloudEvent headers
(``Content-Type: application/x-protobuf`` or JSON). Both become a :class:`TaskDelivery`.

Workflow parameters are the spec's: ``rawEvent`` and ``eventBody``, both base64 of JSON, so
Argo treats them as opaque text and no shell ever interprets a byte of issue text.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from codex_pipeline import tasks
from codex_pipeline.errors import BadRequest
from codex_pipeline.events import KAFKA_RECORD_TYPE, Event, decode_request, is_cloudevent
from codex_pipeline.http import Request


@dataclass(frozen=True)
class TaskDelivery:
    task: tasks.CodexTask
    event: Event | None  # None for a bare replay body

    @property
    def cloudevent(self) -> bool:
        return self.event is not None

    @property
    def type(self) -> str | None:
        return self.event.type if self.event else None

    @property
    def traceparent(self) -> str | None:
        return self.event.traceparent if self.event else None


def read_task(request: Request, *, function: str, handles: frozenset[str], event: Event | None = None) -> TaskDelivery:
    """The task of a delivery; 400 for anything that can never decode, or a CloudEvent type the
    function does not handle (a KafkaSource record, typed ``dev.knative.kafka.event``, is read by content).
    ``event`` is the request's CloudEvent when the caller already decoded it."""
    if event is not None or is_cloudevent(request):
        event = event or decode_request(request)
        if event.type not in handles and event.type != KAFKA_RECORD_TYPE:
            raise BadRequest(f"{function} handles {', '.join(sorted(handles))}, not {event.type!r}")
        task = tasks.decode(event.data, event.datacontenttype)
        if not task.delivery_id:
            # A task without its own delivery id is keyed by the event id (stable across redeliveries).
            task.delivery_id = event.id
        return TaskDelivery(task, event)
    return TaskDelivery(tasks.decode(request.body, request.content_type or None), None)


def b64json(value: Any) -> str:
    return base64.b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()).decode()


def raw_event_json(delivery: TaskDelivery) -> dict[str, Any]:
    """``rawEvent``: the delivery as received, attributes and data (the task as JSON)."""
    data = tasks.to_json_dict(delivery.task)
    if delivery.event is None:
        return {"data": data}
    event = delivery.event
    envelope: dict[str, Any] = {"specversion": event.specversion, "id": event.id, "source": event.source,
                                "type": event.type}
    for name in ("subject", "time", "dataschema"):
        value = getattr(event, name)
        if value:
            envelope[name] = value
    envelope.update({key: value for key, value in event.extensions.items() if key != "traceparent"})
    envelope["data"] = data
    return envelope


def workflow_parameters(delivery: TaskDelivery, task: tasks.CodexTask, *, branch_prefix: str,
                        argo_ui_url: str | None = None) -> dict[str, str]:
    """The spec's two parameters, ``rawEvent`` and ``eventBody`` (the task JSON), base64; and
    ``branchPrefix``, so the step names and accepts branches with the prefix the router used
    (``CODEX_BRANCH_PREFIX`` is the functions' setting; the step pod has no other way to see it);
    ``argoUiUrl`` when ``CODEX_ARGO_UI_URL`` is set (the details link of the run's check)."""
    parameters = {"rawEvent": b64json(raw_event_json(delivery)), "eventBody": b64json(tasks.to_json_dict(task)),
                  "branchPrefix": branch_prefix}
    if argo_ui_url:
        parameters["argoUiUrl"] = argo_ui_url
    return parameters
