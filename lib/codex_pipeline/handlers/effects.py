"""What the three effect functions open at start-up: the store and the Workflow submitter.

A function must start even while its database is down: Knative would otherwise restart it in a
loop, and nothing would answer the broker. So migrations are applied lazily: tried at start-up,
then again before the next request until they succeed; until then readiness is false and
requests answer 503 (the broker retries them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from codex_pipeline.errors import ConfigurationError, Unavailable
from codex_pipeline.wire.http import Handler, Request, Response

if TYPE_CHECKING:
    from codex_pipeline.effects.argo import WorkflowSubmitter
    from codex_pipeline.effects.store import Store
    from codex_pipeline.shell.app import FunctionApp
    from codex_pipeline.shell.config import Settings

_log = logging.getLogger("codex_pipeline.effects")


class LazyMigration:
    """Migrations applied once per process, retried on each call while the database is down."""

    def __init__(self, store: Store, *, enabled: bool) -> None:
        from codex_pipeline.shell.readiness import BoundedCheck

        self.store = store
        self._done = not enabled
        self._lock = threading.Lock()
        self._probe = BoundedCheck(self._check, what="database")

    def ensure(self) -> None:
        if self._done:
            return
        with self._lock:
            if not self._done:
                self.store.migrate()
                self._done = True

    def ready(self) -> tuple[bool, str]:
        """(ready, why) within the probe's budget (see :mod:`codex_pipeline.shell.readiness`)."""
        return self._probe()

    def _check(self) -> tuple[bool, str]:
        try:
            self.ensure()
        except Unavailable as exc:
            return False, f"database: migrations cannot run: {exc.message}"
        if not self.store.ping():
            return False, f"database ({self.store.backend}): does not answer"
        return True, f"database ({self.store.backend}) answers"

    def guard(self, handler: Handler) -> Handler:
        """``handler`` behind :meth:`ensure`: a request while migrations cannot run answers 503."""
        return _Guarded(handler, self)


class _Guarded:
    """A handler that runs its migrations first; other attributes are the handler's own."""

    def __init__(self, inner: Handler, migration: LazyMigration) -> None:
        self.inner = inner
        self.migration = migration

    def __call__(self, request: Request) -> Response:
        self.migration.ensure()
        return self.inner(request)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def open_effects(settings: Settings, function: str) -> tuple[Store, WorkflowSubmitter, LazyMigration]:
    """The store (``CODEX_DATABASE_URL``), the submitter (``CODEX_ARGO_SUBMITTER``) and their migration."""
    from codex_pipeline.effects.argo import create_submitter
    from codex_pipeline.effects.store import open_store

    try:
        store = open_store(settings.database_url, connect_timeout=settings.database_timeout)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    submitter = create_submitter(
        settings.argo_submitter, dry_run_dir=settings.dry_run_dir, kubeconfig=settings.kubeconfig
    )
    migration = LazyMigration(store, enabled=settings.migrate_on_start)
    try:
        migration.ensure()
    except Unavailable as exc:  # start anyway: readiness stays false and requests answer 503 until it is back
        _log.warning(f"{function}: migrations not applied yet: {exc.message}")
    return store, submitter, migration


def effect_app(
    name: str,
    settings: Settings | None,
    build: Callable[[Settings, Store, WorkflowSubmitter, LazyMigration], Handler],
    *,
    guarded: bool = True,
) -> FunctionApp:
    """The one shell of the three effect functions: settings, logs and telemetry set up, the store
    and submitter opened, the handler behind the migration guard (unless it runs the migration
    itself, ``guarded=False``), POST only, readiness from the migration, the OIDC sender check."""
    from codex_pipeline.effects import oidc
    from codex_pipeline.shell import logs, telemetry
    from codex_pipeline.shell.app import FunctionApp
    from codex_pipeline.shell.config import load_settings

    settings = settings or load_settings()
    logs.configure(settings.log_level)
    telemetry.setup(name)
    store, submitter, migration = open_effects(settings, name)
    handler = build(settings, store, submitter, migration)
    return FunctionApp(
        name,
        migration.guard(handler) if guarded else handler,
        methods=("POST",),
        ready=migration.ready,
        authenticate=oidc.from_settings(settings),
    )
