"""Durable local topics and deliveries in one SQLite file (what Kafka and the broker keep).

Promises, all from SQLite transactions (WAL, synchronous=FULL):

- ``append`` returns only after the record is committed, so a sink that answered 202 never
  loses the event, even on ``kill -9``.
- ``fan_out`` turns records of a source's topics into one pending delivery per matching
  Trigger and advances the source's offset in the same transaction: a record is either
  not yet consumed or fully fanned out, never half.
- A delivery is pending until it is marked done or dead; a restart finds every pending one
  and delivers it (now, not at its old backoff time).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_pipeline.wire.events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  offset INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  event_id TEXT NOT NULL,
  attributes TEXT NOT NULL,
  data BLOB NOT NULL,
  origin TEXT NOT NULL DEFAULT '',
  appended_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_topic ON records (topic, offset);
CREATE TABLE IF NOT EXISTS source_offsets (
  source TEXT PRIMARY KEY,
  offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  trigger TEXT NOT NULL,
  subscriber TEXT NOT NULL,
  record INTEGER NOT NULL REFERENCES records (offset),
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at REAL NOT NULL,
  outcome TEXT NOT NULL DEFAULT '',
  UNIQUE (trigger, record)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
"""


@dataclass(frozen=True)
class Record:
    offset: int
    topic: str
    event: Event
    origin: str
    appended_at: float


@dataclass(frozen=True)
class Due:
    id: int
    trigger: str
    subscriber: str
    attempts: int
    record: Record


def event_to_row(event: Event) -> tuple[str, bytes]:
    return json.dumps(event.attributes(), sort_keys=True), event.data


def event_from_row(attributes_json: str, data: bytes) -> Event:
    return Event.from_attributes(json.loads(attributes_json), bytes(data))


class EventLog:
    """Topics, consumer offsets and deliveries; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self.changed = threading.Condition()  # long-polling readers wait on it
        self.kick = threading.Event()  # the router's pump waits on it (an Event never loses a wake-up)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _notify(self) -> None:
        self.kick.set()
        with self.changed:
            self.changed.notify_all()

    def append(self, topic: str, event: Event, origin: str = "") -> int:
        attributes, data = event_to_row(event)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO records (topic, event_id, attributes, data, origin, appended_at) VALUES (?,?,?,?,?,?)",
                (topic, event.id, attributes, data, origin, time.time()),
            )
            offset = int(cursor.lastrowid or 0)
        self._notify()
        return offset

    def _record(self, row: Iterable[Any]) -> Record:
        offset, topic, attributes, data, origin, appended_at = row
        return Record(int(offset), str(topic), event_from_row(attributes, data), str(origin), float(appended_at))

    def records(self, topic: str, after: int = 0, limit: int = 100) -> list[Record]:
        with self._lock:
            rows = self._db.execute(
                "SELECT offset, topic, attributes, data, origin, appended_at FROM records "
                "WHERE topic = ? AND offset > ? ORDER BY offset LIMIT ?",
                (topic, after, limit),
            ).fetchall()
        return [self._record(row) for row in rows]

    def records_since(self, after: int, origin: str | None = None) -> list[Record]:
        query = "SELECT offset, topic, attributes, data, origin, appended_at FROM records WHERE offset > ?"
        params: list[Any] = [after]
        if origin is not None:
            query += " AND origin = ?"
            params.append(origin)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY offset", params).fetchall()
        return [self._record(row) for row in rows]

    def end_offset(self, topic: str) -> int:
        """The offset of the newest record of ``topic`` (0 when empty): where a new reader starts."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(offset), 0) FROM records WHERE topic = ?", (topic,)).fetchone()
        return int(row[0])

    def last_offset(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(offset), 0) FROM records").fetchone()
        return int(row[0])

    def topic_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT topic, COUNT(*) FROM records GROUP BY topic").fetchall()
        return {str(topic): int(count) for topic, count in rows}

    def fan_out(
        self,
        source: str,
        topics: Iterable[str],
        route: Callable[[Record], list[tuple[str, str]]],
        forward_to: str | None = None,
    ) -> list[tuple[Record, list[tuple[str, str]]]]:
        """Consume new records of ``topics`` as consumer ``source``: each becomes one pending delivery
        per (trigger, subscriber) that ``route`` returns, or is copied to ``forward_to`` (a
        KafkaSource feeding a broker's topic); the offset and what it produced commit together."""
        topics = list(topics)
        marks = ",".join("?" for _ in topics)
        consumed: list[tuple[Record, list[tuple[str, str]]]] = []
        with self._lock:
            row = self._db.execute("SELECT offset FROM source_offsets WHERE source = ?", (source,)).fetchone()
            after = int(row[0]) if row else 0
            rows = self._db.execute(
                f"SELECT offset, topic, attributes, data, origin, appended_at FROM records "  # noqa: S608 (marks only)
                f"WHERE topic IN ({marks}) AND offset > ? ORDER BY offset LIMIT 200",
                (*topics, after),
            ).fetchall()
            if not rows:
                return []
            now = time.time()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    record = self._record(row)
                    targets = route(record)
                    if forward_to is not None:
                        self._db.execute(
                            "INSERT INTO records (topic, event_id, attributes, data, origin, appended_at) "
                            "VALUES (?,?,?,?,?,?)",
                            (forward_to, record.event.id, row[2], row[3], source, now),
                        )
                    for trigger, subscriber in targets:
                        self._db.execute(
                            "INSERT OR IGNORE INTO deliveries (trigger, subscriber, record, next_at) VALUES (?,?,?,?)",
                            (trigger, subscriber, record.offset, now),
                        )
                    consumed.append((record, targets))
                self._db.execute(
                    "INSERT INTO source_offsets (source, offset) VALUES (?, ?) "
                    "ON CONFLICT (source) DO UPDATE SET offset = excluded.offset",
                    (source, consumed[-1][0].offset),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._notify()
        return consumed

    def due(self, limit: int, subscribers: Iterable[str], exclude: Iterable[int] = ()) -> list[Due]:
        """Pending deliveries whose time has come, to the given (served) subscribers only, so that
        deliveries held for an absent function never crowd out the others."""
        skip = list(exclude)
        served = list(subscribers)
        if not served:
            return []
        not_in = f"AND d.id NOT IN ({','.join('?' for _ in skip)})" if skip else ""
        query = (
            "SELECT d.id, d.trigger, d.subscriber, d.attempts, r.offset, r.topic, r.attributes, r.data, "  # noqa: S608
            "r.origin, r.appended_at FROM deliveries d JOIN records r ON r.offset = d.record "
            f"WHERE d.state = 'pending' AND d.next_at <= ? AND d.subscriber IN ({','.join('?' for _ in served)}) "
            f"{not_in} ORDER BY d.next_at, d.id LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(query, (time.time(), *served, *skip, limit)).fetchall()
        return [Due(int(r[0]), str(r[1]), str(r[2]), int(r[3]), self._record(r[4:])) for r in rows]

    def next_due_at(self, subscribers: Iterable[str]) -> float | None:
        served = list(subscribers)
        if not served:
            return None
        query = (
            "SELECT MIN(next_at) FROM deliveries WHERE state = 'pending' "  # noqa: S608 (placeholders only)
            f"AND subscriber IN ({','.join('?' for _ in served)})"
        )
        with self._lock:
            row = self._db.execute(query, served).fetchone()
        return None if row[0] is None else float(row[0])

    def retry_later(self, delivery: int, attempts: int, next_at: float, outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET attempts = ?, next_at = ?, outcome = ? WHERE id = ?",
                (attempts, next_at, outcome, delivery),
            )
        self._notify()

    def finish(self, delivery: int, attempts: int, state: str, outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, outcome = ? WHERE id = ?",
                (state, attempts, outcome, delivery),
            )
        self._notify()

    def resume_pending(self) -> int:
        """At start: every pending delivery is due now (its old backoff belonged to the last run)."""
        with self._lock:
            cursor = self._db.execute("UPDATE deliveries SET next_at = ? WHERE state = 'pending'", (time.time(),))
            return int(cursor.rowcount)

    def delivery_counts(self) -> Mapping[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        return {str(state): int(count) for state, count in rows}
