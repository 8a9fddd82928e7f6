"""The PostgreSQL backend of :mod:`codex_pipeline.effects.store` (production): psycopg 3 + psycopg_pool.

Tables live in the schema ``codex_kb``. The pool opens in the background, so constructing a
store never blocks on the network; a connection that cannot be had within
``connect_timeout`` seconds, or any operational fault, is :class:`Unavailable` (503, retry).
Migrations run under a transaction-scoped advisory lock, so replicas starting together apply
each migration once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg

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

SCHEMA = "codex_kb"
# pg_advisory_xact_lock key that serialises migrations ("codexkb1" as an int64).
MIGRATION_LOCK = 0x636F6465786B6231
_RUNS = (
    "SELECT namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at"
    " FROM codex_kb.workflow_runs"
)
_RUN_BY_DELIVERY = _RUNS + " WHERE stage = %s AND delivery_id = %s ORDER BY id LIMIT 1"
_RUN_BY_NAME = _RUNS + " WHERE namespace = %s AND name = %s"
_INSERT_RUN = (
    "WITH inserted AS (INSERT INTO codex_kb.workflow_runs"
    " (namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, name) DO NOTHING"
    " RETURNING namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at)"
    " SELECT * FROM inserted"
)
_OUTCOME = "SELECT namespace, name, outcome, detail FROM codex_kb.run_outcomes WHERE namespace = %s AND name = %s"
_ACTIVE = (
    "SELECT namespace, name, template, stage, repository, issue_number, delivery_id, submitted_at"
    " FROM codex_kb.active_runs WHERE repository = %s AND issue_number = %s AND stage = %s"
)
_SET_ACTIVE = (
    "INSERT INTO codex_kb.active_runs AS a (repository, issue_number, stage, namespace, name, template, delivery_id,"
    " submitted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (repository, issue_number, stage)"
    " DO UPDATE SET namespace = excluded.namespace, name = excluded.name, template = excluded.template,"
    " delivery_id = excluded.delivery_id, submitted_at = excluded.submitted_at, updated_at = now()"
    " WHERE a.submitted_at <= excluded.submitted_at"
)
_log = logging.getLogger("codex_pipeline.store")


class _OutageLog(logging.Filter):
    """psycopg_pool warns on every failed connection attempt (twice a second while a host is
    down). Let the first warning of an outage through, drop the repeats, and say once when the
    database answers again: one line per change of state, not per attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(("error connecting", "reconnection attempt")):
            return True
        if self.down:
            return False
        self.down = True
        record.msg = f"{record.getMessage()} (PostgreSQL unreachable; logged again when this changes)"
        record.args = ()
        return True

    def answered(self) -> None:
        if self.down:
            self.down = False
            _log.warning("PostgreSQL answers again")


_OUTAGE = _OutageLog()
logging.getLogger("psycopg.pool").addFilter(_OUTAGE)
T = TypeVar("T")
Connection = psycopg.Connection[Any]


def _holds_nul(*values: str) -> bool:
    return any("\x00" in value for value in values)


def _run(row: tuple[Any, ...]) -> WorkflowRun:
    return WorkflowRun(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], row[7])


class PostgresStore:
    backend = "postgres"

    def __init__(
        self, url: str, *, max_connections: int = 10, min_connections: int = 1, connect_timeout: float = 5.0
    ) -> None:
        from psycopg_pool import ConnectionPool  # ~250 ms of imports: only when PostgreSQL is used

        self.connect_timeout = connect_timeout
        # No per-checkout health check: it costs a round trip each time (~7 ms of a 10 ms delivery,
        # measured by bench/dispatch.py). A connection that broke while idle fails its first
        # statement instead, and _call retries that once on a fresh one (every method is idempotent).
        self._new_pool: Callable[[], ConnectionPool[Any]] = lambda: ConnectionPool(
            url,
            min_size=min_connections,
            max_size=max(max_connections, min_connections),
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "autocommit": True},
            timeout=connect_timeout,
            open=False,
            name="codex_kb",
        )
        self._pool = self._new_pool()
        self._pool_pid = 0
        self._open_lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        """Open the pool in this process. gunicorn (functions-framework) builds the app, and so
        this store, in its arbiter and then forks the worker: the pool's connector threads do
        not survive a fork, so a forked process opens a pool of its own on first use."""
        pid = os.getpid()
        if self._pool_pid == pid:
            return
        with self._open_lock:
            if self._pool_pid == pid:
                return
            if self._pool_pid:
                self._pool = self._new_pool()
            self._pool.open(wait=False)
            self._pool_pid = pid

    def _call(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a pooled connection; operational faults are Unavailable after one retry."""
        from psycopg_pool import PoolTimeout

        self._open()
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    result = work(conn)
                _OUTAGE.answered()
                return result
            except PoolTimeout:
                raise Unavailable(
                    f"PostgreSQL is unreachable: no connection within {self.connect_timeout:g}s"
                ) from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if attempt == 2:
                    # The first line names the failure (psycopg never echoes the password).
                    raise Unavailable(f"PostgreSQL is unavailable: {str(exc).strip().splitlines()[0]}") from None
        raise AssertionError("unreachable")

    # --- migrations ---------------------------------------------------------------------

    def applied_migrations(self) -> list[int]:
        def work(conn: Connection) -> list[int]:
            exists = conn.execute("SELECT to_regclass(%s)", ("codex_kb.schema_migrations",)).fetchone()
            if not exists or exists[0] is None:
                return []
            rows = conn.execute("SELECT version FROM codex_kb.schema_migrations ORDER BY version").fetchall()
            return [int(r[0]) for r in rows]

        return self._call(work)

    def migrate(self) -> list[int]:
        def work(conn: Connection) -> list[int]:
            applied_now: list[int] = []
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute("CREATE SCHEMA IF NOT EXISTS codex_kb")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS codex_kb.schema_migrations ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = {int(r[0]) for r in conn.execute("SELECT version FROM codex_kb.schema_migrations")}
                for migration in migrations(self.backend):
                    if migration.version in done:
                        continue
                    conn.execute(migration.sql.encode())  # no parameters: several statements run as one
                    conn.execute(
                        "INSERT INTO codex_kb.schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                    applied_now.append(migration.version)
            return applied_now

        applied_now = self._call(work)
        if applied_now:
            _log.info(f"codex_kb migrated: applied {applied_now}", extra={"applied": applied_now})
        return applied_now

    # --- intake and runs ----------------------------------------------------------------

    def record_intake(self, intake: TaskIntake) -> bool:
        refuse_nul(intake.stage, intake.delivery_id, intake.repository, intake.payload_json)
        return self._call(
            lambda conn: (
                conn.execute(
                    "INSERT INTO codex_kb.task_intake (stage, delivery_id, repository, issue_number, payload,"
                    " payload_json) VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (stage, delivery_id) DO NOTHING",
                    (
                        intake.stage,
                        intake.delivery_id,
                        intake.repository,
                        intake.issue_number,
                        intake.payload,
                        intake.payload_json,
                    ),
                ).rowcount
                == 1
            )
        )

    def find_intake(self, stage: str, delivery_id: str) -> TaskIntake | None:
        if _holds_nul(stage, delivery_id):  # never stored (refuse_nul); PostgreSQL would refuse the query
            return None
        row = self._call(
            lambda conn: conn.execute(
                "SELECT stage, delivery_id, repository, issue_number, payload, payload_json::text"
                " FROM codex_kb.task_intake WHERE stage = %s AND delivery_id = %s",
                (stage, delivery_id),
            ).fetchone()
        )
        return TaskIntake(row[0], row[1], row[2], int(row[3]), bytes(row[4]), row[5]) if row else None

    def find_run(self, stage: str, delivery_id: str) -> WorkflowRun | None:
        if _holds_nul(stage, delivery_id):  # never stored (refuse_nul); PostgreSQL would refuse the query
            return None
        row = self._call(lambda conn: conn.execute(_RUN_BY_DELIVERY, (stage, delivery_id)).fetchone())
        return _run(row) if row else None

    def get_run(self, namespace: str, name: str) -> WorkflowRun | None:
        if _holds_nul(namespace, name):  # never stored (refuse_nul); PostgreSQL would refuse the query
            return None
        row = self._call(lambda conn: conn.execute(_RUN_BY_NAME, (namespace, name)).fetchone())
        return _run(row) if row else None

    def record_run(self, run: WorkflowRun) -> WorkflowRun:
        refuse_nul(run.namespace, run.name, run.stage, run.repository, run.delivery_id)

        def work(conn: Connection) -> tuple[Any, ...] | None:
            row = conn.execute(
                _INSERT_RUN,
                (
                    run.namespace,
                    run.name,
                    run.template,
                    run.stage,
                    run.repository,
                    run.issue_number,
                    run.delivery_id,
                    run.submitted_at,
                ),
            ).fetchone()
            if row is None:  # recorded before (by a concurrent or an earlier attempt): that row wins
                row = conn.execute(_RUN_BY_NAME, (run.namespace, run.name)).fetchone()
            return row

        row = self._call(work)
        if row is None:
            raise Unavailable(f"workflow run {run.namespace}/{run.name} vanished while being recorded")
        return _run(row)

    # --- run outcomes --------------------------------------------------------------------

    def issue_runs(self, repository: str, issue_number: int) -> list[WorkflowRun]:
        if _holds_nul(repository):  # never stored (refuse_nul); PostgreSQL would refuse the query
            return []
        rows = self._call(
            lambda conn: conn.execute(
                _RUNS + " WHERE lower(repository) = %s AND issue_number = %s ORDER BY submitted_at, id",
                (repository.lower(), issue_number),
            ).fetchall()
        )
        return [_run(row) for row in rows]

    def record_outcome(self, outcome: RunOutcome) -> RunOutcome:
        refuse_nul(outcome.namespace, outcome.name, outcome.outcome, outcome.detail)

        def work(conn: Connection) -> tuple[Any, ...] | None:
            conn.execute(
                "INSERT INTO codex_kb.run_outcomes (namespace, name, outcome, detail)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, name) DO NOTHING",
                (outcome.namespace, outcome.name, outcome.outcome, outcome.detail),
            )
            return conn.execute(_OUTCOME, (outcome.namespace, outcome.name)).fetchone()

        row = self._call(work)
        if row is None:
            raise Unavailable(f"outcome of {outcome.namespace}/{outcome.name} vanished while being recorded")
        return RunOutcome(*row)

    def run_outcome(self, namespace: str, name: str) -> RunOutcome | None:
        if _holds_nul(namespace, name):
            return None
        row = self._call(lambda conn: conn.execute(_OUTCOME, (namespace, name)).fetchone())
        return RunOutcome(*row) if row else None

    # --- issues the pipeline opened --------------------------------------------------------

    def find_created_issue(self, key: str) -> CreatedIssue | None:
        if _holds_nul(key):  # never stored (refuse_nul); PostgreSQL would refuse the query
            return None
        row = self._call(
            lambda conn: conn.execute(
                "SELECT key, repository, issue_number, issue_url FROM codex_kb.created_issues WHERE key = %s", (key,)
            ).fetchone()
        )
        return CreatedIssue(row[0], row[1], int(row[2]), row[3]) if row else None

    def record_created_issue(self, issue: CreatedIssue) -> CreatedIssue:
        refuse_nul(issue.key, issue.repository, issue.issue_url)
        self._call(
            lambda conn: conn.execute(
                "INSERT INTO codex_kb.created_issues (key, repository, issue_number, issue_url) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (key) DO NOTHING",
                (issue.key, issue.repository, issue.issue_number, issue.issue_url),
            )
        )
        stored = self.find_created_issue(issue.key)
        if stored is None:
            raise Unavailable(f"created issue {issue.key} vanished while being recorded")
        return stored

    # --- active runs --------------------------------------------------------------------

    def active_run(self, repository: str, issue_number: int, stage: str) -> WorkflowRun | None:
        row = self._call(lambda conn: conn.execute(_ACTIVE, (repository.lower(), issue_number, stage)).fetchone())
        return _run(row) if row else None

    def set_active_run(self, run: WorkflowRun) -> WorkflowRun:
        key = (run.repository.lower(), run.issue_number, run.stage)

        def work(conn: Connection) -> tuple[Any, ...] | None:
            conn.execute(_SET_ACTIVE, (*key, run.namespace, run.name, run.template, run.delivery_id, run.submitted_at))
            return conn.execute(_ACTIVE, key).fetchone()

        row = self._call(work)
        if row is None:
            raise Unavailable(f"active run of {run.repository}#{run.issue_number} vanished while being recorded")
        return _run(row)

    def claim_active_run(self, run: WorkflowRun) -> WorkflowRun:
        key = (run.repository.lower(), run.issue_number, run.stage)

        def work(conn: Connection) -> tuple[Any, ...] | None:
            conn.execute(
                "INSERT INTO codex_kb.active_runs (repository, issue_number, stage, namespace, name, template,"
                " delivery_id, submitted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*key, run.namespace, run.name, run.template, run.delivery_id, run.submitted_at),
            )
            return conn.execute(_ACTIVE, key).fetchone()

        row = self._call(work)
        if row is None:
            raise Unavailable(f"active run of {run.repository}#{run.issue_number} vanished while being claimed")
        return _run(row)

    def clear_active_run(self, run: WorkflowRun) -> bool:
        deleted: bool = self._call(
            lambda conn: (
                conn.execute(
                    "DELETE FROM codex_kb.active_runs WHERE repository = %s AND issue_number = %s AND stage = %s"
                    " AND namespace = %s AND name = %s",
                    (run.repository.lower(), run.issue_number, run.stage, run.namespace, run.name),
                ).rowcount
                == 1
            )
        )
        return deleted

    # --- webhook reconcile ----------------------------------------------------------------

    def reconcile_cursor(self, hook: str) -> datetime | None:
        row = self._call(
            lambda conn: conn.execute(
                "SELECT cursor_at FROM codex_kb.reconcile_cursors WHERE hook = %s", (hook,)
            ).fetchone()
        )
        return row[0] if row else None

    def save_reconcile_cursor(self, hook: str, at: datetime) -> None:
        self._call(
            lambda conn: conn.execute(
                "INSERT INTO codex_kb.reconcile_cursors (hook, cursor_at) VALUES (%s, %s) ON CONFLICT (hook) "
                "DO UPDATE SET cursor_at = excluded.cursor_at, updated_at = now()",
                (hook, at),
            )
        )

    def claim_redelivery(self, redelivery: Redelivery) -> bool:
        refuse_nul(redelivery.hook, redelivery.guid, redelivery.event)
        return self._call(
            lambda conn: (
                conn.execute(
                    "INSERT INTO codex_kb.redeliveries (hook, delivery_id, guid, event, status_code) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hook, delivery_id) DO NOTHING",
                    (
                        redelivery.hook,
                        redelivery.delivery_id,
                        redelivery.guid,
                        redelivery.event,
                        redelivery.status_code,
                    ),
                ).rowcount
                == 1
            )
        )

    def release_redelivery(self, hook: str, delivery_id: int) -> None:
        self._call(
            lambda conn: conn.execute(
                "DELETE FROM codex_kb.redeliveries WHERE hook = %s AND delivery_id = %s", (hook, delivery_id)
            )
        )

    def redeliveries(self, hook: str, guids: list[str]) -> list[Redelivery]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT hook, delivery_id, guid, event, status_code, requested_at FROM codex_kb.redeliveries "
                "WHERE hook = %s AND guid = ANY(%s) ORDER BY requested_at, delivery_id",
                (hook, list(guids)),
            ).fetchall()
        )
        return [Redelivery(r[0], int(r[1]), r[2], r[3], int(r[4]), r[5]) for r in rows]

    # --- once markers -------------------------------------------------------------------

    def claim_once(self, key: str, *, owner: str, lease_seconds: float) -> OnceState:
        refuse_nul(key, owner)

        def work(conn: Connection) -> OnceState:
            claimed = (
                conn.execute(
                    "INSERT INTO codex_kb.once_markers AS m (key, owner) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, marked_at = now() "
                    "WHERE m.done_at IS NULL AND (m.owner = excluded.owner "
                    "OR m.marked_at < now() - make_interval(secs => %s))",
                    (key, owner, float(lease_seconds)),
                ).rowcount
                == 1
            )
            if claimed:
                return OnceState.CLAIMED
            row = conn.execute("SELECT done_at FROM codex_kb.once_markers WHERE key = %s", (key,)).fetchone()
            return OnceState.DONE if row is not None and row[0] is not None else OnceState.BUSY

        result: OnceState = self._call(work)
        return result

    def complete_once(self, key: str) -> None:
        self._call(
            lambda conn: conn.execute(
                "INSERT INTO codex_kb.once_markers AS m (key, done_at) VALUES (%s, now()) "
                "ON CONFLICT (key) DO UPDATE SET done_at = COALESCE(m.done_at, excluded.done_at)",
                (key,),
            )
        )

    def clear_once(self, key: str) -> None:
        self._call(
            lambda conn: conn.execute("DELETE FROM codex_kb.once_markers WHERE key = %s AND done_at IS NULL", (key,))
        )

    def ping(self) -> bool:
        try:
            self._call(lambda conn: conn.execute("SELECT 1"))
        except Unavailable:
            return False
        return True

    def close(self) -> None:
        self._pool.close()
