"""The small CloudEvent the emitter tests send to their sinks (a raw ``issues.opened``)."""

from __future__ import annotations

import uuid

from codex_pipeline.wire.events import Event

DATA = b'{"action":"opened"}'


def opened_event() -> Event:
    """A new event each call (its own id), as ingest-webhook would emit for an opened issue."""
    return Event(
        id=str(uuid.uuid4()),
        source="https://github.com/acme/widgets",
        type="com.github.issues.opened",
        datacontenttype="application/json",
        data=DATA,
    )
