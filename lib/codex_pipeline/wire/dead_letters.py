"""Dead letters: read what Knative gave up on, say why, and send it back to its Broker.

A Trigger whose retries run out (or whose subscriber answered a permanent 4xx) hands the event
to its ``deadLetterSink`` (KafkaSink ``codex-dead-letter`` -> topic ``codex.dead-letter``) with
three extensions added by the dispatcher (Knative Eventing's delivery spec; eventing-kafka-broker
writes them the same way): ``knativeerrordest`` (the subscriber URL), ``knativeerrorcode`` (the
last HTTP status) and ``knativeerrordata`` (the last answer's body, base64-encoded).

A replay strips those three and posts the event, same ``id``, to the Broker it came from:
the Broker whose Trigger matches the event and names the subscriber in ``knativeerrordest``
(read from ``eventing/``, as dev's router reads it). The effect functions are exactly-once on
the event id, so replaying an event that did take effect after all creates nothing twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from codex_pipeline.wire.events import Event

TOPIC = "codex.dead-letter"
ERROR_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")
# The Kafka broker's ingress in the cluster: ``<ingress>/<namespace>/<broker>``.
KAFKA_BROKER_INGRESS = "http://kafka-broker-ingress.knative-eventing.svc.cluster.local"


@dataclass(frozen=True)
class DeadLetter:
    """One record of ``codex.dead-letter``: where it sits, the original event and why it died."""

    position: str  # "offset 12" (dev) or "partition 0 offset 12" (Kafka)
    event: Event  # as dead-lettered, error extensions included
    timestamp: datetime | None = None  # when it was dead-lettered (Kafka record time), if known

    @property
    def original(self) -> Event:
        """The event as it was before Knative added the error extensions (what a replay sends)."""
        kept = {k: v for k, v in self.event.extensions.items() if k not in ERROR_EXTENSIONS}
        return Event(
            id=self.event.id,
            source=self.event.source,
            type=self.event.type,
            data=self.event.data,
            datacontenttype=self.event.datacontenttype,
            subject=self.event.subject,
            time=self.event.time,
            dataschema=self.event.dataschema,
            extensions=kept,
            specversion=self.event.specversion,
        )

    @property
    def destination(self) -> str:
        return self.event.extensions.get("knativeerrordest", "")

    @property
    def code(self) -> str:
        return self.event.extensions.get("knativeerrorcode", "")

    @property
    def error_text(self) -> str:
        return decode_error_data(self.event.extensions.get("knativeerrordata", ""))

    @property
    def when(self) -> datetime | None:
        """The event's own ``time``, else the record's time."""
        if self.event.time:
            try:
                parsed = datetime.fromisoformat(self.event.time.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except ValueError:
                pass
        return self.timestamp

    def summary_line(self) -> str:
        error = " ".join(self.error_text.split())[:100]
        return (
            f"{self.position:<22} {self.event.id}  {self.event.type}  subject={self.event.subject or '-'}  "
            f"code={self.code or '-'}  dest={self.destination or '-'}  error={error or '-'}"
        )

    def as_json(self) -> dict[str, Any]:
        original = self.original
        data: Any
        try:
            data = {"data": json.loads(original.data)}
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = {"data_base64": base64.b64encode(original.data).decode()}
        return {
            "position": self.position,
            "event": original.attributes(),
            **data,
            "error": {"code": self.code, "destination": self.destination, "data": self.error_text},
        }


def decode_error_data(value: str) -> str:
    """``knativeerrordata`` as text: base64 (how the dispatchers write it) decoded, else as given."""
    if not value:
        return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw.decode("utf-8", "replace")


def select(
    letters: Iterable[DeadLetter], *, ids: Iterable[str] = (), types: Iterable[str] = (), since: datetime | None = None
) -> list[DeadLetter]:
    """The dead letters matching every given criterion (ids, types, time); a letter dead-lettered
    twice under one id is replayed once."""
    wanted_ids, wanted_types = set(ids), set(types)
    chosen: dict[str, DeadLetter] = {}
    for letter in letters:
        if wanted_ids and letter.event.id not in wanted_ids:
            continue
        if wanted_types and letter.event.type not in wanted_types:
            continue
        if since is not None and (letter.when is None or letter.when < since):
            continue
        chosen.setdefault(letter.event.id, letter)
    return list(chosen.values())


@dataclass(frozen=True)
class TriggerView:
    """What broker resolution needs of a Trigger (from ``eventing/`` through dev's topology)."""

    broker: tuple[str, str]
    subscriber: str
    matches: Any  # Callable[[Mapping[str, str]], bool]


def broker_of(
    letter: DeadLetter, triggers: Iterable[TriggerView], subscriber_urls: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """The Broker (namespace, name) whose Trigger delivered this event to the subscriber named
    in ``knativeerrordest``; falling back to the one Broker with any matching Trigger."""
    attributes = letter.original.attributes()
    matching = [t for t in triggers if t.matches(attributes)]
    dest = letter.destination.rstrip("/")
    by_url = {url.rstrip("/"): name for name, url in (subscriber_urls or {}).items()}
    host = (urlsplit(dest).hostname or "") if dest else ""
    named = by_url.get(dest) or host.split(".", 1)[0]
    precise = {t.broker for t in matching if t.subscriber == named}
    if len(precise) == 1:
        return precise.pop()
    brokers = {t.broker for t in matching}
    return brokers.pop() if len(brokers) == 1 else None
