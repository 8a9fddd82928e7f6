"""One behaviour suite for both Store backends: SQLite (a file) and PostgreSQL (the real server)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from codex_pipeline.effects.store import (
    CANCELLED,
    FAILED,
    CreatedIssue,
    OnceState,
    Redelivery,
    RunOutcome,
    Store,
    TaskIntake,
    WorkflowRun,
    migrations,
    open_store,
)
from codex_pipeline.effects.store.once import do_once
from codex_pipeline.errors import Unavailable
from tests.conftest import free_port


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    opened.migrate()
    yield opened
    opened.close()


def delivery() -> str:
    return str(uuid.uuid4())


def intake(delivery_id: str, stage: str = "planning", body: bytes = b"\x08\x01") -> TaskIntake:
    return TaskIntake(
        stage, delivery_id, "proompteng/lab", 1636, body, '{"stage":"planning","repository":"proompteng/lab"}'
    )


def run(delivery_id: str, name: str | None = None, at: datetime | None = None) -> WorkflowRun:
    return WorkflowRun(
        "argo-workflows",
        name or f"codex-planning-{uuid.uuid4().hex[:12]}",
        "facteur-dispatch",
        "planning",
        "proompteng/lab",
        1636,
        delivery_id,
        at or datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC),
    )


def test_migrate_is_idempotent(store: Store) -> None:
    everything = [m.version for m in migrations(store.backend)]
    assert store.applied_migrations() == everything
    assert store.migrate() == []
    assert store.applied_migrations() == everything


def test_intake_is_kept_once_per_stage_and_delivery(store: Store) -> None:
    one = delivery()
    assert store.record_intake(intake(one)) is True
    assert store.record_intake(intake(one, body=b"\x08\x02")) is False
    assert store.record_intake(intake(one, stage="implementation")) is True
    assert store.record_intake(intake(delivery())) is True


def test_a_recorded_run_is_found_by_delivery_and_by_name(store: Store) -> None:
    one = delivery()
    assert store.find_run("planning", one) is None
    recorded = store.record_run(run(one, "codex-planning-a"))
    assert store.find_run("planning", one) == recorded
    assert store.get_run("argo-workflows", "codex-planning-a") == recorded
    assert store.find_run("implementation", one) is None
    assert recorded.submitted_at == datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    assert recorded.submitted_at.utcoffset() == timedelta(0)


def test_the_first_record_of_a_run_wins(store: Store) -> None:
    one = delivery()
    name = f"codex-planning-{uuid.uuid4().hex[:8]}"
    first = store.record_run(run(one, name, datetime(2026, 1, 1, tzinfo=UTC)))
    second = store.record_run(run(one, name, datetime(2026, 2, 2, tzinfo=UTC)))
    assert second == first
    assert second.submitted_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_the_same_name_in_another_namespace_is_another_run(store: Store) -> None:
    one = delivery()
    name = f"codex-planning-{uuid.uuid4().hex[:8]}"
    store.record_run(run(one, name))
    other = WorkflowRun(
        "staging", name, "facteur-dispatch", "planning", "proompteng/lab", 1, one, datetime(2026, 3, 3, tzinfo=UTC)
    )
    assert store.record_run(other) == other
    assert store.get_run("staging", name) == other


def test_a_key_completed_without_a_claim_is_done_for_good(store: Store) -> None:
    key = f"ready-to-merge:proompteng/lab#{uuid.uuid4().hex[:6]}"
    store.complete_once(key)  # e.g. the effect was found done on GitHub
    assert store.claim_once(key, owner="a", lease_seconds=0) is OnceState.DONE
    store.clear_once(key)  # a done key stays done: clearing only releases claims not yet done
    assert store.claim_once(key, owner="b", lease_seconds=0) is OnceState.DONE


def test_claims_are_exclusive_until_done_released_or_expired(store: Store) -> None:
    key = f"handoff:{uuid.uuid4()}"
    assert store.claim_once(key, owner="a", lease_seconds=60) is OnceState.CLAIMED
    assert store.claim_once(key, owner="b", lease_seconds=60) is OnceState.BUSY
    assert store.claim_once(key, owner="a", lease_seconds=60) is OnceState.CLAIMED  # its own retry
    store.clear_once(key)  # the effect failed: released
    assert store.claim_once(key, owner="b", lease_seconds=60) is OnceState.CLAIMED
    time.sleep(0.2)  # b died holding it; a short lease has run out by now
    assert store.claim_once(key, owner="c", lease_seconds=60) is OnceState.BUSY
    assert store.claim_once(key, owner="c", lease_seconds=0.1) is OnceState.CLAIMED
    store.complete_once(key)
    for owner in ("a", "b", "c"):
        assert store.claim_once(key, owner=owner, lease_seconds=0) is OnceState.DONE
    store.clear_once(key)
    assert store.claim_once(key, owner="d", lease_seconds=0) is OnceState.DONE


def test_claim_under_concurrency_has_one_holder(store: Store) -> None:
    key = f"handoff:{uuid.uuid4()}"
    results: list[OnceState] = []
    barrier = threading.Barrier(20)

    def race(owner: str) -> None:
        barrier.wait()
        results.append(store.claim_once(key, owner=owner, lease_seconds=60))

    threads = [threading.Thread(target=race, args=(f"owner-{n}",)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.value for r in results) == ["busy"] * 19 + ["claimed"]


def test_do_once_runs_the_effect_once_and_survives_a_holder_that_died(store: Store) -> None:
    key = f"no-plan:{uuid.uuid4()}"
    posted: list[str] = []
    assert do_once(store, key, lambda: posted.append("reply")) is True
    assert do_once(store, key, lambda: posted.append("again")) is False
    assert posted == ["reply"]

    crashed = f"handoff:{uuid.uuid4()}"
    store.claim_once(crashed, owner="process-that-died", lease_seconds=60)  # claimed, never posted
    with pytest.raises(Unavailable, match="another delivery"):
        do_once(store, crashed, lambda: posted.append("too early"))
    time.sleep(0.2)
    assert do_once(store, crashed, lambda: posted.append("handoff"), lease_seconds=0.1) is True
    assert posted == ["reply", "handoff"]


def test_do_once_releases_the_claim_when_the_effect_fails(store: Store) -> None:
    key = f"handoff:{uuid.uuid4()}"

    def failing() -> None:
        raise Unavailable("GitHub is down")

    with pytest.raises(Unavailable, match="GitHub is down"):
        do_once(store, key, failing)
    assert do_once(store, key, lambda: None) is True


def test_do_once_records_an_effect_found_done_outside(store: Store) -> None:
    key = f"handoff:{uuid.uuid4()}"
    assert do_once(store, key, lambda: pytest.fail("must not post"), already_done=lambda: True) is False
    assert store.claim_once(key, owner="x", lease_seconds=0) is OnceState.DONE


def test_concurrent_record_run_keeps_one_row(store: Store) -> None:
    one = delivery()
    name = f"codex-planning-{uuid.uuid4().hex[:8]}"
    seen: list[WorkflowRun] = []
    barrier = threading.Barrier(10)

    def race(i: int) -> None:
        barrier.wait()
        seen.append(store.record_run(run(one, name, datetime(2026, 1, 1 + i, tzinfo=UTC))))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert store.get_run("argo-workflows", name) == seen[0]


def test_a_created_issue_is_found_by_its_key_and_the_first_record_wins(store: Store) -> None:
    key = f"discord-plan:{uuid.uuid4().int % 10**18}"
    assert store.find_created_issue(key) is None
    first = CreatedIssue(key, "acme/widgets", 58, "https://github.com/acme/widgets/issues/58")
    assert store.record_created_issue(first) == first
    assert store.record_created_issue(CreatedIssue(key, "acme/widgets", 59, "https://x/59")) == first
    assert store.find_created_issue(key) == first
    assert store.find_created_issue(key + "0") is None


def test_concurrent_records_of_one_created_issue_keep_one(store: Store) -> None:
    key = f"discord-plan:{uuid.uuid4().hex}"
    seen: list[CreatedIssue] = []

    def race(number: int) -> None:
        seen.append(store.record_created_issue(CreatedIssue(key, "acme/widgets", number, f"https://x/{number}")))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({s.issue_number for s in seen}) == 1
    assert store.find_created_issue(key) == seen[0]


def test_ping_answers_when_the_database_does(store: Store) -> None:
    assert store.ping() is True


def test_two_stores_on_one_database_see_each_other(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        first.migrate()
        second.migrate()
        key = f"shared:{uuid.uuid4()}"
        assert first.claim_once(key, owner="first", lease_seconds=60) is OnceState.CLAIMED
        assert second.claim_once(key, owner="second", lease_seconds=60) is OnceState.BUSY
    finally:
        first.close()
        second.close()


# --- backend specifics ------------------------------------------------------------------


def test_a_fresh_postgres_database_migrates_from_nothing(postgres_server_url: str) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"codex_fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo("", **{**conninfo_to_dict(postgres_server_url), "dbname": name})
    try:
        store = open_store(url)
        assert store.applied_migrations() == []
        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda: results.append(store.migrate())) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Four concurrent migrators: each migration applied exactly once.
        assert sorted(v for applied in results for v in applied) == [m.version for m in migrations("postgres")]
        with psycopg.connect(url) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'codex_kb'"
                )
            }
        assert {"task_intake", "workflow_runs", "once_markers", "created_issues", "schema_migrations"} <= tables
        store.close()
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_down_is_unavailable() -> None:
    store = open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", connect_timeout=0.5)
    try:
        with pytest.raises(Unavailable, match="PostgreSQL"):
            store.find_run("planning", "x")
        assert store.ping() is False
    finally:
        store.close()


def test_postgres_unavailable_message_never_shows_the_password() -> None:
    store = open_store(f"postgresql://postgres:hunter2-secret@127.0.0.1:{free_port()}/nothing", connect_timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            store.claim_once("x", owner="o", lease_seconds=60)
        assert "hunter2" not in caught.value.message
    finally:
        store.close()


def test_sqlite_url_forms(tmp_path: Path) -> None:
    from codex_pipeline.effects.store.sqlite import path_from_url

    assert path_from_url("sqlite:///.codex-pipeline/state.db") == ".codex-pipeline/state.db"
    assert path_from_url("sqlite:////var/lib/codex/state.db") == "/var/lib/codex/state.db"
    memory = open_store("sqlite:///:memory:")
    assert memory.migrate() == [m.version for m in migrations("sqlite")]
    memory.close()
    nested = open_store(f"sqlite:///{tmp_path}/a/b/state.db")
    nested.migrate()
    assert (tmp_path / "a" / "b" / "state.db").is_file()
    nested.close()


def test_unknown_database_url_names_only_the_scheme() -> None:
    with pytest.raises(ValueError, match="mysql://") as caught:
        open_store("mysql://root:pw-secret@db/x")
    assert "pw-secret" not in str(caught.value)


def test_sqlite_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_pipeline.effects.store import sqlite as backend

    monkeypatch.setattr(backend, "BUSY_TIMEOUT_SECONDS", 0.2)
    path = tmp_path / "locked.db"
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    # Another process holds the write lock (what a stuck writer looks like).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(30)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(Unavailable, match="locked"):
            store.claim_once("k", owner="o", lease_seconds=60)
    finally:
        holder.kill()
        holder.wait()
        store.close()


def test_migrate_cli_applies_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from codex_pipeline.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    every = [m.version for m in migrations("sqlite")]
    assert f"applied {every}; now at version {every[-1]}" in capsys.readouterr().out
    assert main(["migrate", "--database-url", url]) == 0
    assert "applied nothing" in capsys.readouterr().out
    assert main(["migrate", "--database-url", url, "--status"]) == 0
    assert "pending none" in capsys.readouterr().out


def test_postgres_connection_killed_while_idle_is_replaced(postgres_url: str) -> None:
    """A server restart or idle timeout breaks pooled connections: the next call still works."""
    import psycopg

    store = open_store(postgres_url, max_connections=1)
    try:
        store.migrate()
        assert store.claim_once(f"before:{uuid.uuid4()}", owner="o", lease_seconds=60) is OnceState.CLAIMED
        pooled = store._call(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone())  # type: ignore[attr-defined]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(%s)", (pooled[0],)).fetchone()
        assert killed == (True,)
        assert store.claim_once(f"after:{uuid.uuid4()}", owner="o", lease_seconds=60) is OnceState.CLAIMED
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_markers_written_before_claims_existed_stay_done(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A database at version 1 (where a once marker meant "done") upgraded to claims with leases."""
    import importlib

    module = importlib.import_module(f"codex_pipeline.effects.store.{backend}")
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'v1.db'}", None
        insert = "INSERT INTO once_markers (key, marked_at) VALUES ('old', '2026-01-01T00:00:00+00:00')"
    else:
        url, cleanup = _fresh_postgres(request.getfixturevalue("postgres_server_url"))
        insert = "INSERT INTO codex_kb.once_markers (key) VALUES ('old')"
    try:
        with monkeypatch.context() as patch:
            patch.setattr(module, "migrations", lambda name: migrations(name)[:1])
            old = open_store(url)
            assert old.migrate() == [1]
            old.close()
        _execute(url, insert)
        upgraded = open_store(url)
        assert upgraded.migrate() == [m.version for m in migrations(backend)][1:]
        assert upgraded.claim_once("old", owner="new", lease_seconds=0) is OnceState.DONE
        upgraded.close()
    finally:
        if cleanup:
            cleanup()


def _execute(url: str, statement: str) -> None:
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(statement)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _fresh_postgres(server_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"codex_v1_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_conninfo("", **{**conninfo_to_dict(server_url), "dbname": name}), drop


def test_a_redelivery_is_claimed_once_and_found_by_its_guid(store: Store) -> None:
    hook = f"acme/widgets:{uuid.uuid4().int % 10**9}"
    first = Redelivery(hook, 9001, "guid-a", "issues", 503)
    assert store.claim_redelivery(first) is True
    assert store.claim_redelivery(first) is False  # never asked for twice
    assert store.claim_redelivery(Redelivery(hook, 9002, "guid-a", "issues", 0)) is True
    assert store.claim_redelivery(Redelivery(f"{hook}0", 9001, "guid-a", "issues", 503)) is True  # another hook
    found = store.redeliveries(hook, ["guid-a", "guid-b"])
    assert [(r.delivery_id, r.guid, r.status_code) for r in found] == [(9001, "guid-a", 503), (9002, "guid-a", 0)]
    assert all(r.requested_at is not None and r.requested_at.tzinfo is not None for r in found)
    assert store.redeliveries(hook, ["guid-b"]) == []


def test_a_released_redelivery_can_be_claimed_again(store: Store) -> None:
    hook = f"app-{uuid.uuid4().hex[:8]}"
    assert store.claim_redelivery(Redelivery(hook, 7, "g", "push", 502))
    store.release_redelivery(hook, 7)
    assert store.redeliveries(hook, ["g"]) == []
    assert store.claim_redelivery(Redelivery(hook, 7, "g", "push", 502))


def test_the_reconcile_cursor_is_kept_per_hook(store: Store) -> None:
    hook = f"acme/widgets:{uuid.uuid4().int % 10**9}"
    assert store.reconcile_cursor(hook) is None
    at = datetime(2026, 11, 29, 18, 0, 5, tzinfo=UTC)
    store.save_reconcile_cursor(hook, at)
    store.save_reconcile_cursor(f"{hook}0", at + timedelta(hours=1))
    assert store.reconcile_cursor(hook) == at
    store.save_reconcile_cursor(hook, at - timedelta(minutes=3))  # a cursor may move back (an open failure)
    assert store.reconcile_cursor(hook) == at - timedelta(minutes=3)


# --- active runs (migration 0004) -------------------------------------------------------------


def active(
    issue: int, name: str, at: datetime, stage: str = "review", repository: str = "Proompteng/Lab"
) -> WorkflowRun:
    return WorkflowRun("argo-workflows", name, "github-codex-review", stage, repository, issue, delivery(), at)


def test_the_newer_run_becomes_active_and_an_older_one_never_displaces_it(store: Store) -> None:
    issue = uuid.uuid4().int % 10**9
    early, late = datetime(2026, 11, 25, 12, 0, tzinfo=UTC), datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
    assert store.active_run("proompteng/lab", issue, "review") is None
    first = store.set_active_run(active(issue, "review-a", early))
    assert (first.name, first.submitted_at) == ("review-a", early)
    assert store.set_active_run(active(issue, "review-b", late)).name == "review-b"
    assert store.set_active_run(active(issue, "review-a", early)).name == "review-b"  # a late redelivery
    found = store.active_run("PROOMPTENG/lab", issue, "review")  # GitHub names compare case-insensitively
    assert found is not None and found.name == "review-b" and found.issue_number == issue
    # Stages and issues are separate places.
    assert store.active_run("proompteng/lab", issue, "implementation") is None
    assert store.active_run("proompteng/lab", issue + 1, "review") is None
    assert store.set_active_run(active(issue, "impl-a", early, stage="implementation")).name == "impl-a"


def test_clearing_forgets_only_that_run(store: Store) -> None:
    issue = uuid.uuid4().int % 10**9
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    held = store.set_active_run(active(issue, "review-a", at))
    assert store.clear_active_run(active(issue, "review-other", at)) is False
    assert store.clear_active_run(held) is True
    assert store.active_run("proompteng/lab", issue, "review") is None
    assert store.clear_active_run(held) is False


def test_concurrent_takeovers_leave_the_newest_active(store: Store) -> None:
    issue = uuid.uuid4().int % 10**9
    base = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    runs = [active(issue, f"review-{n}", base + timedelta(seconds=n)) for n in range(12)]
    threads = [threading.Thread(target=store.set_active_run, args=(r,)) for r in reversed(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = store.active_run("proompteng/lab", issue, "review")
    assert found is not None and found.name == "review-11"


# --- run outcomes (migration 0006) ------------------------------------------------------------


def test_the_runs_of_an_issue_come_oldest_first_whatever_the_case_of_the_repository(store: Store) -> None:
    issue = uuid.uuid4().int % 10**9
    base = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    late = store.record_run(active(issue, f"impl-{issue}", base + timedelta(minutes=5), stage="implementation"))
    early = store.record_run(active(issue, f"plan-{issue}", base, stage="planning", repository="proompteng/lab"))
    store.record_run(active(issue + 1, f"other-{issue}", base))
    assert [r.name for r in store.issue_runs("PROOMPTENG/LAB", issue)] == [early.name, late.name]
    assert store.issue_runs("proompteng/lab", issue + 2) == []


def test_the_first_outcome_recorded_for_a_run_wins(store: Store) -> None:
    name = f"review-{uuid.uuid4().hex[:12]}"
    assert store.run_outcome("argo-workflows", name) is None
    first = store.record_outcome(RunOutcome("argo-workflows", name, CANCELLED, "cancelled by alice"))
    assert first == RunOutcome("argo-workflows", name, CANCELLED, "cancelled by alice")
    # Argo's own "Failed" for the stopped Workflow, read later, does not replace who stopped it.
    assert store.record_outcome(RunOutcome("argo-workflows", name, FAILED, "Stopped with strategy 'Stop'")) == first
    assert store.run_outcome("argo-workflows", name) == first
    assert store.run_outcome("other-namespace", name) is None
