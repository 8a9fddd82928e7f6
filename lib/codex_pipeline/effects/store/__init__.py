"""``codex_kb``: what the effect functions received and what they submitted.

One :class:`Store` protocol, two backends with the same behaviour (one shared test suite runs
against both):

- PostgreSQL (production): ``postgresql://…`` (or a libpq ``key=value`` string) through
  psycopg 3 and a psycopg_pool connection pool, tables in the schema ``codex_kb``;
- SQLite (embedded default): ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
  or ``sqlite:///:memory:``; stdlib ``sqlite3`` in WAL mode.

``open_store(url)`` picks the backend; the driver of each loads only when that backend is
opened, so a function's import stays cheap. Migrations are numbered SQL files per backend in
``store/migrations/<backend>/NNNN_name.sql``, applied in order by :meth:`Store.migrate` (by
``codex-pipeline migrate``, and when a function starts with ``CODEX_MIGRATE_ON_START``);
applying is idempotent and safe when several processes start at once.

Every method is idempotent and safe from many threads. A transient database fault (server
down, pool exhausted, SQLite locked past its busy timeout) raises
:class:`codex_pipeline.errors.Unavailable`, so a handler answers 503 and the event is retried.

Tables: ``task_intake`` (unique stage + delivery id; protobuf bytes + JSON), ``workflow_runs``
(unique namespace + name), ``once_markers`` (:meth:`Store.claim_once`),
``created_issues`` (issues the pipeline opened itself, keyed by what asked for them),
``active_runs`` (the run of each repository, issue and stage that a newer one supersedes),
``run_outcomes`` (what became of a run: succeeded, failed or cancelled, and why),
``reconcile_cursors`` and ``redeliveries`` (what ``codex-pipeline reconcile`` asked GitHub to
redeliver, per webhook).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from codex_pipeline.wire.runs import CANCELLED as CANCELLED
from codex_pipeline.wire.runs import FAILED as FAILED
from codex_pipeline.wire.runs import OUTCOMES as OUTCOMES
from codex_pipeline.wire.runs import SUCCEEDED as SUCCEEDED
from codex_pipeline.wire.runs import WorkflowRun as WorkflowRun


class OnceState(enum.Enum):
    """What :meth:`Store.claim_once` found."""

    CLAIMED = "claimed"  # the caller holds the claim: do the effect, then complete_once (clear_once on failure)
    BUSY = "busy"  # another caller holds an unexpired claim: try again later
    DONE = "done"  # the effect is done: never again


@dataclass(frozen=True)
class TaskIntake:
    """One task as received (``payload`` the protobuf bytes, ``payload_json`` the spec's JSON)."""

    stage: str
    delivery_id: str
    repository: str
    issue_number: int
    payload: bytes
    payload_json: str


@dataclass(frozen=True)
class RunOutcome:
    """What became of one Workflow: ``outcome`` one of :data:`OUTCOMES`; ``detail`` says why
    (``cancelled by alice``, ``superseded by <workflow>``, or Argo's message)."""

    namespace: str
    name: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class CreatedIssue:
    """An issue the pipeline opened, and the key of what asked for it (``discord-plan:<id>``)."""

    key: str
    repository: str
    issue_number: int
    issue_url: str


@dataclass(frozen=True)
class Redelivery:
    """A redelivery ``reconcile`` asked GitHub for: the failed delivery, its event's GUID, what it got."""

    hook: str
    delivery_id: int
    guid: str
    event: str
    status_code: int
    requested_at: datetime | None = None  # set by the store


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@runtime_checkable
class Store(Protocol):
    """What the effect functions need from ``codex_kb``."""

    backend: str  # "postgres" or "sqlite": names the migrations folder

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied now ([] when current)."""
        ...

    def applied_migrations(self) -> list[int]:
        """Versions already applied (empty before the first migrate)."""
        ...

    def record_intake(self, intake: TaskIntake) -> bool:
        """Keep a received task; True when new, False when (stage, delivery) was already kept
        (the first copy stays)."""
        ...

    def find_intake(self, stage: str, delivery_id: str) -> TaskIntake | None:
        """The first copy kept for this stage and delivery, if any."""
        ...

    def find_run(self, stage: str, delivery_id: str) -> WorkflowRun | None:
        """The Workflow already submitted for this stage and delivery, if any."""
        ...

    def get_run(self, namespace: str, name: str) -> WorkflowRun | None: ...

    def record_run(self, run: WorkflowRun) -> WorkflowRun:
        """Record a submitted Workflow; returns the stored row (the first one recorded wins
        when two callers record the same namespace + name)."""
        ...

    def find_created_issue(self, key: str) -> CreatedIssue | None:
        """The issue recorded for ``key``, if any."""
        ...

    def active_run(self, repository: str, issue_number: int, stage: str) -> WorkflowRun | None:
        """The active run of this issue and stage (repository compared case-insensitively), if any."""
        ...

    def set_active_run(self, run: WorkflowRun) -> WorkflowRun:
        """Make ``run`` the active run of its repository, issue and stage unless a run submitted later
        holds that place; returns the active run after the call (``run`` itself when it took it)."""
        ...

    def claim_active_run(self, run: WorkflowRun) -> WorkflowRun:
        """Record ``run`` as the active run of its issue and stage only when none is; returns the
        active run after the call (``run`` itself when it claimed the place)."""
        ...

    def clear_active_run(self, run: WorkflowRun) -> bool:
        """Forget ``run`` as the active run of its issue and stage (a cancel); False when it was not."""
        ...

    def issue_runs(self, repository: str, issue_number: int) -> list[WorkflowRun]:
        """Every run recorded for this issue (repository compared case-insensitively), oldest first."""
        ...

    def record_outcome(self, outcome: RunOutcome) -> RunOutcome:
        """Record what became of a run; returns the stored row (the first outcome recorded wins: a
        stop the pipeline made, with who asked, is not replaced by Argo's later "Failed")."""
        ...

    def run_outcome(self, namespace: str, name: str) -> RunOutcome | None: ...

    def record_created_issue(self, issue: CreatedIssue) -> CreatedIssue:
        """Record an opened issue; returns the stored row (the first one recorded for a key wins)."""
        ...

    def reconcile_cursor(self, hook: str) -> datetime | None:
        """Where the next ``reconcile`` of ``hook`` starts looking back from (None: never ran)."""
        ...

    def save_reconcile_cursor(self, hook: str, at: datetime) -> None: ...

    def claim_redelivery(self, redelivery: Redelivery) -> bool:
        """Record a redelivery before asking GitHub for it; False when this delivery was claimed
        already (by an earlier run or a concurrent one): it is then never asked for again."""
        ...

    def release_redelivery(self, hook: str, delivery_id: int) -> None:
        """Forget a claim whose request GitHub never accepted (a transient fault), so a later run retries it."""
        ...

    def redeliveries(self, hook: str, guids: list[str]) -> list[Redelivery]:
        """The redeliveries recorded for these events' GUIDs, oldest first."""
        ...

    def claim_once(self, key: str, *, owner: str, lease_seconds: float) -> OnceState:
        """Claim an effect that must happen once, for ``lease_seconds``.

        A claim whose holder dies before :meth:`complete_once` expires, so the effect is not
        lost with the process; the same ``owner`` claiming again (a retry of
        its own statement) gets it back."""
        ...

    def complete_once(self, key: str) -> None:
        """Record the effect as done (whether or not it was claimed first)."""
        ...

    def clear_once(self, key: str) -> None:
        """Forget a marker or claim that is not done, so a failed effect can run again."""
        ...

    def ping(self) -> bool:
        """Whether the database answers now (readiness)."""
        ...

    def close(self) -> None: ...


def refuse_nul(*values: object) -> None:
    """400 for text holding NUL. PostgreSQL's text cannot store it and SQLite's can, so without this
    the same delivery would be stored on one backend and fail forever (5xx) on the other. Tasks
    arrive here already scrubbed (:func:`codex_pipeline.wire.tasks.decode`); this keeps every other
    key (interaction ids, once markers) answering alike on both backends."""
    from codex_pipeline.errors import BadRequest

    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest("text holding a NUL character cannot be stored")


_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migrations(backend: str) -> list[Migration]:
    """The numbered migrations of one backend (``postgres`` or ``sqlite``), in order."""
    # a folder beside this module: the package is always installed as files (wheel or editable),
    # and importlib.resources would cost every effect function about 10 ms of its cold start
    folder = Path(__file__).with_name("migrations") / backend
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{backend} migrations must be numbered 0001, 0002, ... without gaps or repeats: {versions}")
    return found


def open_store(url: str, *, max_connections: int = 10, connect_timeout: float = 5.0) -> Store:
    """The backend named by ``url`` (``CODEX_DATABASE_URL``); raises ValueError for others.

    Opening does not connect to PostgreSQL yet (the pool connects in the background), so a
    function starts while its database is briefly down and answers 503 until it is back.
    ``connect_timeout`` bounds how long one call waits for a connection before Unavailable.
    """
    if url.startswith("sqlite://"):
        from codex_pipeline.effects.store.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if url.startswith(("postgresql://", "postgres://")) or ("://" not in url and "=" in url):
        from codex_pipeline.effects.store.postgres import PostgresStore

        return PostgresStore(url, max_connections=max_connections, connect_timeout=connect_timeout)
    # Name only the scheme: the rest of a database URL may hold a password.
    scheme = url.split("://", 1)[0] + "://" if "://" in url else "a URL without a scheme"
    raise ValueError(f"CODEX_DATABASE_URL must start with postgresql:// or sqlite:///, not {scheme}")


__all__ = [
    "CANCELLED",
    "FAILED",
    "OUTCOMES",
    "SUCCEEDED",
    "CreatedIssue",
    "Migration",
    "Redelivery",
    "RunOutcome",
    "Store",
    "TaskIntake",
    "WorkflowRun",
    "migrations",
    "open_store",
    "refuse_nul",
]
