"""The SQLite backend of :mod:`codex_pipeline.effects.store` (the embedded default).

One connection per store, shared by threads under a lock (SQLite has one writer anyway);
WAL mode and a busy timeout let several processes (functions-framework workers, the CLI)
share one file. Writes run in ``BEGIN IMMEDIATE`` transactions so a check-then-insert is
atomic across processes. "database is locked" past the busy timeout is :class:`Unavailable`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from codex_pipeline.effects.store import (
    CreatedIssue,
    OnceState,
    Redelivery,
    RunOutcome,
    TaskIntake,
    WorkflowRun,
    migrations,
    refuse_nul,
)
from codex_pipeline.errors import Unavailable

BUSY_TIMEOUT_SECONDS = 10.0
_RUNS = (
    "SELECT namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at FROM workflow_runs"
)
_RUN_BY_DELIVERY = _RUNS + " WHERE stage = ? AND delivery_id = ? ORDER BY id LIMIT 1"
_RUN_BY_NAME = _RUNS + " WHERE namespace = ? AND name = ?"
_INSERT_RUN = (
    "INSERT INTO workflow_runs (namespace, name, template, stage, repository, issue_number, delivery_id,"
    " submitted_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (namespace, name) DO NOTHING"
)

_ACTIVE = (
    "SELECT namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at"
    " FROM active_runs WHERE repository = ? AND issue_number = ? AND stage = ?"
)
_SET_ACTIVE = (
    "INSERT INTO active_runs AS a (repository, issue_number, stage, namespace, name, template, delivery_id,"
    " submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, issue_number, stage)"
    " DO UPDATE SET namespace = excluded.namespace, name = excluded.name, template = excluded.template,"
    " delivery_id = excluded.delivery_id, submitted_at = excluded.submitted_at, updated_at = excluded.updated_at"
    " WHERE a.submitted_at <= excluded.submitted_at"
)

_OUTCOME = "SELECT namespace, name, outcome, detail FROM run_outcomes WHERE namespace = ? AND name = ?"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run(row: tuple[Any, ...]) -> WorkflowRun:
    return WorkflowRun(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], _parse_time(row[7]))


def path_from_url(url: str) -> str:
    """``sqlite:///rel/path`` -> ``rel/path``; ``sqlite:////abs/path`` -> ``/abs/path``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(
            "a SQLite CODEX_DATABASE_URL looks like sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path:
        raise ValueError("sqlite:/// needs a file path (or :memory:)")
    return path


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements (sqlite3 runs one statement per execute)."""
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                yield current
            current = ""
    if current.strip() and not all(part.strip().startswith("--") or not part.strip() for part in current.splitlines()):
        yield current


class SqliteStore:
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite database {path!r} cannot be opened: {exc}") from None

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        return cls(path_from_url(url))

    @contextmanager
    def _transaction(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise Unavailable(f"SQLite database is unavailable: {exc}") from None

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.OperationalError as exc:
                raise Unavailable(f"SQLite database is unavailable: {exc}") from None

    # --- migrations ---------------------------------------------------------------------

    def _ensure_migrations_table(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

    def applied_migrations(self) -> list[int]:
        rows = self._query("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'")
        if not rows:
            return []
        return [int(r[0]) for r in self._query("SELECT version FROM schema_migrations ORDER BY version")]

    def migrate(self) -> list[int]:
        applied_now: list[int] = []
        with self._transaction() as conn:
            self._ensure_migrations_table(conn)
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations(self.backend):
                if migration.version in done:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, _now()),
                )
                applied_now.append(migration.version)
        return applied_now

    # --- intake and runs ----------------------------------------------------------------

    def record_intake(self, intake: TaskIntake) -> bool:
        refuse_nul(intake.stage, intake.delivery_id, intake.repository, intake.payload_json)
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO task_intake (stage, delivery_id, repository, issue_number, payload, payload_json,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (stage, delivery_id) DO NOTHING",
                (
                    intake.stage,
                    intake.delivery_id,
                    intake.repository,
                    intake.issue_number,
                    intake.payload,
                    intake.payload_json,
                    _now(),
                ),
            )
            return cursor.rowcount == 1

    def find_intake(self, stage: str, delivery_id: str) -> TaskIntake | None:
        rows = self._query(
            "SELECT stage, delivery_id, repository, issue_number, payload, payload_json FROM task_intake"
            " WHERE stage = ? AND delivery_id = ?",
            (stage, delivery_id),
        )
        return (
            TaskIntake(rows[0][0], rows[0][1], rows[0][2], int(rows[0][3]), bytes(rows[0][4]), rows[0][5])
            if rows
            else None
        )

    def find_run(self, stage: str, delivery_id: str) -> WorkflowRun | None:
        rows = self._query(_RUN_BY_DELIVERY, (stage, delivery_id))
        return _run(rows[0]) if rows else None

    def get_run(self, namespace: str, name: str) -> WorkflowRun | None:
        rows = self._query(_RUN_BY_NAME, (namespace, name))
        return _run(rows[0]) if rows else None

    def record_run(self, run: WorkflowRun) -> WorkflowRun:
        refuse_nul(run.namespace, run.name, run.stage, run.repository, run.delivery_id)
        with self._transaction() as conn:
            conn.execute(
                _INSERT_RUN,
                (
                    run.namespace,
                    run.name,
                    run.template,
                    run.stage,
                    run.repository,
                    run.issue_number,
                    run.delivery_id,
                    _time(run.submitted_at),
                    _now(),
                ),
            )
            row = conn.execute(_RUN_BY_NAME, (run.namespace, run.name)).fetchone()
        return _run(row)

    # --- active runs --------------------------------------------------------------------

    def active_run(self, repository: str, issue_number: int, stage: str) -> WorkflowRun | None:
        rows = self._query(_ACTIVE, (repository.lower(), issue_number, stage))
        return _run(rows[0]) if rows else None

    def set_active_run(self, run: WorkflowRun) -> WorkflowRun:
        key = (run.repository.lower(), run.issue_number, run.stage)
        with self._transaction() as conn:
            conn.execute(
                _SET_ACTIVE,
                (*key, run.namespace, run.name, run.template, run.delivery_id, _time(run.submitted_at), _now()),
            )
            row = conn.execute(_ACTIVE, key).fetchone()
        return _run(row)

    def claim_active_run(self, run: WorkflowRun) -> WorkflowRun:
        key = (run.repository.lower(), run.issue_number, run.stage)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO active_runs (repository, issue_number, stage, namespace, name, template, delivery_id,"
                " submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, run.namespace, run.name, run.template, run.delivery_id, _time(run.submitted_at), _now()),
            )
            row = conn.execute(_ACTIVE, key).fetchone()
        return _run(row)

    def clear_active_run(self, run: WorkflowRun) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM active_runs WHERE repository = ? AND issue_number = ? AND stage = ? AND namespace = ?"
                " AND name = ?",
                (run.repository.lower(), run.issue_number, run.stage, run.namespace, run.name),
            )
            return cursor.rowcount == 1

    # --- run outcomes --------------------------------------------------------------------

    def issue_runs(self, repository: str, issue_number: int) -> list[WorkflowRun]:
        rows = self._query(
            _RUNS + " WHERE lower(repository) = ? AND issue_number = ? ORDER BY submitted_at, id",
            (repository.lower(), issue_number),
        )
        return [_run(row) for row in rows]

    def record_outcome(self, outcome: RunOutcome) -> RunOutcome:
        refuse_nul(outcome.namespace, outcome.name, outcome.outcome, outcome.detail)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO run_outcomes (namespace, name, outcome, detail, recorded_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, name) DO NOTHING",
                (outcome.namespace, outcome.name, outcome.outcome, outcome.detail, _now()),
            )
            row = conn.execute(_OUTCOME, (outcome.namespace, outcome.name)).fetchone()
        return RunOutcome(*row)

    def run_outcome(self, namespace: str, name: str) -> RunOutcome | None:
        rows = self._query(_OUTCOME, (namespace, name))
        return RunOutcome(*rows[0]) if rows else None

    # --- issues the pipeline opened --------------------------------------------------------

    def find_created_issue(self, key: str) -> CreatedIssue | None:
        rows = self._query("SELECT key, repository, issue_number, issue_url FROM created_issues WHERE key = ?", (key,))
        return CreatedIssue(rows[0][0], rows[0][1], int(rows[0][2]), rows[0][3]) if rows else None

    def record_created_issue(self, issue: CreatedIssue) -> CreatedIssue:
        refuse_nul(issue.key, issue.repository, issue.issue_url)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO created_issues (key, repository, issue_number, issue_url, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (issue.key, issue.repository, issue.issue_number, issue.issue_url, _now()),
            )
            row = conn.execute(
                "SELECT key, repository, issue_number, issue_url FROM created_issues WHERE key = ?", (issue.key,)
            ).fetchone()
        return CreatedIssue(row[0], row[1], int(row[2]), row[3])

    # --- webhook reconcile ----------------------------------------------------------------

    def reconcile_cursor(self, hook: str) -> datetime | None:
        rows = self._query("SELECT cursor_at FROM reconcile_cursors WHERE hook = ?", (hook,))
        return _parse_time(rows[0][0]) if rows else None

    def save_reconcile_cursor(self, hook: str, at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO reconcile_cursors (hook, cursor_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (hook) DO UPDATE SET cursor_at = excluded.cursor_at, "
                "updated_at = excluded.updated_at",
                (hook, _time(at), _now()),
            )

    def claim_redelivery(self, redelivery: Redelivery) -> bool:
        refuse_nul(redelivery.hook, redelivery.guid, redelivery.event)
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO redeliveries (hook, delivery_id, guid, event, status_code, requested_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hook, delivery_id) DO NOTHING",
                (
                    redelivery.hook,
                    redelivery.delivery_id,
                    redelivery.guid,
                    redelivery.event,
                    redelivery.status_code,
                    _now(),
                ),
            )
            return cursor.rowcount == 1

    def release_redelivery(self, hook: str, delivery_id: int) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM redeliveries WHERE hook = ? AND delivery_id = ?", (hook, delivery_id))

    def redeliveries(self, hook: str, guids: list[str]) -> list[Redelivery]:
        found: list[Redelivery] = []
        for start in range(0, len(guids), 500):  # SQLite caps the number of bound parameters
            chunk = guids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            rows = self._query(
                "SELECT hook, delivery_id, guid, event, status_code, requested_at FROM redeliveries "  # noqa: S608
                f"WHERE hook = ? AND guid IN ({marks})",
                (hook, *chunk),
            )
            found += [Redelivery(r[0], int(r[1]), r[2], r[3], int(r[4]), _parse_time(r[5])) for r in rows]
        return sorted(found, key=lambda r: (r.requested_at or datetime.min.replace(tzinfo=UTC), r.delivery_id))

    # --- once markers -------------------------------------------------------------------

    def claim_once(self, key: str, *, owner: str, lease_seconds: float) -> OnceState:
        refuse_nul(key, owner)
        expired = _time(datetime.now(UTC) - timedelta(seconds=lease_seconds))
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO once_markers (key, marked_at, owner) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, marked_at = excluded.marked_at "
                "WHERE once_markers.done_at IS NULL "
                "AND (once_markers.owner = excluded.owner OR once_markers.marked_at < ?)",
                (key, _now(), owner, expired),
            )
            if cursor.rowcount == 1:
                return OnceState.CLAIMED
            row = conn.execute("SELECT done_at FROM once_markers WHERE key = ?", (key,)).fetchone()
        return OnceState.DONE if row is not None and row[0] is not None else OnceState.BUSY

    def complete_once(self, key: str) -> None:
        with self._transaction() as conn:
            now = _now()
            conn.execute(
                "INSERT INTO once_markers (key, marked_at, done_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET done_at = COALESCE(once_markers.done_at, excluded.done_at)",
                (key, now, now),
            )

    def clear_once(self, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM once_markers WHERE key = ? AND done_at IS NULL", (key,))

    def ping(self) -> bool:
        try:
            self._query("SELECT 1")
        except Unavailable:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
