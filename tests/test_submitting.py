"""The one submitting path of dispatch-planning, promote-plan and request-review.

Each function handles real deliveries in-process against a real SQLite store, the dry-run
submitter and the GitHub stand-in; the store's own SQL statement log (SQLite's trace callback on
the store's connection) shows how often each delivery looked its run up: once, first delivery and
redelivery alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_pipeline.effects.argo import DryRunSubmitter
from codex_pipeline.effects.github import GitHubClient, TokenAuth
from codex_pipeline.effects.store import open_store
from codex_pipeline.effects.store.sqlite import SqliteStore
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire.http import Headers, Request
from tests.fakes.github import FakeGitHub
from tests.task_events import cloudevent, effect_env, task

REPO = "acme/widgets"
PLAN = "<!-- codex:plan -->\n## Objective\nFix it.\n## Task Breakdown\n1. Do it."


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[SqliteStore, list[str], FakeGitHub, Path]]:
    with FakeGitHub(tokens=("test-token",)) as github:
        github.add_repo(REPO)
        store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
        assert isinstance(store, SqliteStore)
        store.migrate()
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)  # the store's own statement log, nothing replaced
        yield store, statements, github, tmp_path
        store.close()


def run_lookups(statements: list[str]) -> int:
    """``find_run``: the store's select of a run by (stage, delivery id)."""
    return sum(
        1 for s in statements if "FROM workflow_runs" in s and "delivery_id =" in s and s.lstrip().startswith("SELECT")
    )


def deliver_twice(handler: object, kind: str, codex_task: object, statements: list[str]) -> list[int]:
    headers, body = cloudevent(kind, codex_task)  # type: ignore[arg-type]
    counts = []
    for _ in range(2):  # the first delivery, then the broker's redelivery of it
        statements.clear()
        answer = handler(Request("POST", "/", Headers(headers), body))  # type: ignore[operator]
        assert answer.status == 202, answer.body
        counts.append(run_lookups(statements))
    return counts


def test_dispatch_planning_looks_its_run_up_once_per_delivery(
    world: tuple[SqliteStore, list[str], FakeGitHub, Path],
) -> None:
    from codex_pipeline.handlers.dispatch_planning import DispatchPlanning

    store, statements, github, tmp = world
    settings = load_settings(
        effect_env(f"sqlite:///{tmp / 'state.db'}", tmp, github.url, CODEX_PLANNER_LOGIN="planner-bot")
    )
    client = GitHubClient(TokenAuth("test-token"), api_url=github.url, max_wait=0)
    handler = DispatchPlanning(settings, store, DryRunSubmitter(tmp / "workflows"), github=client)
    number = int(github.add_issue(REPO, "Fix it", "It is broken.")["number"])
    assert deliver_twice(handler, "planning", task("planning", number), statements) == [1, 1]


def test_promote_plan_looks_its_run_up_once_per_delivery(
    world: tuple[SqliteStore, list[str], FakeGitHub, Path],
) -> None:
    from codex_pipeline.handlers.promote_plan import PromotePlan

    store, statements, github, tmp = world
    settings = load_settings(
        effect_env(f"sqlite:///{tmp / 'state.db'}", tmp, github.url, CODEX_PLANNER_LOGIN="planner-bot")
    )
    client = GitHubClient(TokenAuth("test-token"), api_url=github.url, max_wait=0)
    handler = PromotePlan(settings, store, DryRunSubmitter(tmp / "workflows"), client)
    number = uuid.uuid4().int % 900_000 + 1000
    codex_task = task("implementation", number, planCommentBody=PLAN, planCommentId=77)
    assert deliver_twice(handler, "implementation", codex_task, statements) == [1, 1]


def test_request_review_looks_its_run_up_once_per_delivery(
    world: tuple[SqliteStore, list[str], FakeGitHub, Path],
) -> None:
    from codex_pipeline.handlers.request_review import RequestReview

    store, statements, github, tmp = world
    settings = load_settings(effect_env(f"sqlite:///{tmp / 'state.db'}", tmp, github.url))
    client = GitHubClient(TokenAuth("test-token"), api_url=github.url, max_wait=0)
    handler = RequestReview(settings, store, DryRunSubmitter(tmp / "workflows"), client)
    number = uuid.uuid4().int % 900_000 + 1000
    github.add_pull(REPO, number, head=f"codex/issue-{number}-fix", head_sha=uuid.uuid4().hex + "0" * 8)
    github.add_thread(REPO, number, "please rename")
    assert deliver_twice(handler, "review", task("review", number), statements) == [1, 1]
