"""route() never raises: any JSON value as payload, any event name, realistic payloads damaged anywhere.

A raise in route-task would answer 500 and the broker would retry a poisoned delivery until it
dead-letters, so the core must turn anything into tasks or an ignore reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_pipeline.core.names import PLAN_MARKER
from codex_pipeline.core.policy import Policy
from codex_pipeline.core.routing import ROUTED_TYPES, RouteResult, route
from codex_pipeline.wire import tasks
from tests.payloads import github

POLICY = Policy(
    trigger_logins=frozenset({"alice", "octocat"}),
    trigger_label="codex",
    planner_login="octocat",
    bot_mention="@tuslagch",
)
# Text with lone surrogates too (JSON escapes allow them) and the strings the rules look for.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.sampled_from(
        [
            "alice",
            "octocat",
            "codex",
            "execute plan",
            "@tuslagch review",
            PLAN_MARKER,
            "OWNER",
            "codex/issue-1-x",
            "closed",
            "2026-11-25T10:02:41Z",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00+14:00",
        ]
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
EVENT_TYPES = st.one_of(
    st.sampled_from(sorted(ROUTED_TYPES)), st.sampled_from(["issues", "issue_comment", "push"]), TEXT
)
REAL = [
    ("issues", lambda: github.issues_opened(sender="alice")),
    ("issues", lambda: github.issues_labeled("codex", sender="alice")),
    ("issue_comment", lambda: github.issue_comment(f"{PLAN_MARKER}\nplan", author="octocat")),
    ("issue_comment", lambda: github.issue_comment("execute plan", author="alice")),
    ("issue_comment", lambda: github.issue_comment("@tuslagch review", on_pr=True)),
    ("pull_request", lambda: github.pull_request_event()),
    ("check_suite", lambda: github.check_suite_completed(pulls=[(57, "main"), (58, "dev")])),
    ("check_run", lambda: github.check_run_completed()),
    ("pull_request_review", lambda: github.pull_request_review_submitted()),
    ("pull_request_review_thread", lambda: github.pull_request_review_thread()),
]


def _check(result: RouteResult) -> None:
    assert isinstance(result, RouteResult)
    assert isinstance(result.reason, str) and result.reason
    for routed in result.tasks:
        tasks.to_protobuf(routed.task)
        json.dumps(tasks.to_json_dict(routed.task))
        assert routed.event_id and routed.type and routed.partition_key


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=EVENT_TYPES, payload=JSON, delivery=TEXT)
def test_any_json_payload(event_type: str, payload: Any, delivery: str) -> None:
    _check(route(event_type, payload, delivery, POLICY))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A real payload with a few values anywhere in it replaced by arbitrary JSON (or removed)."""
    index = draw(st.integers(0, len(REAL) - 1))
    event, build = REAL[index]
    payload = build()
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(payload)
        path = draw(st.sampled_from(paths))
        parent: Any = payload
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return github.event_type(event, payload) if isinstance(payload.get("action"), str) else event, payload


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(case=damaged(), received=st.none() | st.datetimes(timezones=st.just(UTC)) | st.datetimes())
def test_damaged_real_payloads(case: tuple[str, dict[str, Any]], received: datetime | None) -> None:
    event_type, payload = case
    _check(route(event_type, payload, "delivery-1", POLICY, received_at=received))
