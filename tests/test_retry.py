"""Which run ``@<bot> retry`` re-runs: outcome_of (Argo's status) and choose (the issue's runs), as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codex_pipeline.argo import WorkflowState
from codex_pipeline.functions import dispatch_planning, promote_plan, request_review
from codex_pipeline.retry import GONE, NAME_PREFIXES, RUNNING, choose, outcome_of
from codex_pipeline.store import CANCELLED, FAILED, SUCCEEDED, WorkflowRun

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def run(name: str, stage: str, minutes: int) -> WorkflowRun:
    return WorkflowRun("argo-workflows", name, "t", stage, "acme/widgets", 12, f"d-{name}",
                       AT + timedelta(minutes=minutes))


@pytest.mark.parametrize(("state", "expected"), [
    (WorkflowState("Succeeded"), SUCCEEDED),
    (WorkflowState("Failed", "child 'implement' failed"), FAILED),
    (WorkflowState("Error", "pod deleted"), FAILED),
    (WorkflowState("Failed", "Stopped with strategy 'Stop'"), CANCELLED),
    (WorkflowState("Failed", "", shutdown="Stop", stop_reason="cancelled by alice"), CANCELLED),
    (WorkflowState("Failed", "Stopped with strategy 'Terminate'"), CANCELLED),
    (WorkflowState("Running", shutdown="Stop"), RUNNING),  # asked to stop, exit handler still running
    (WorkflowState("Pending"), RUNNING),
    (WorkflowState(""), RUNNING),  # created, not picked up by the controller yet
    (None, GONE),
])
def test_outcome_of_the_workflow_status(state: WorkflowState | None, expected: str) -> None:
    assert outcome_of(state)[0] == expected


def test_a_stop_made_by_the_pipeline_says_who() -> None:
    state = WorkflowState("Failed", "Stopped with strategy 'Stop'", "Stop", "cancelled by alice")
    assert outcome_of(state) == (CANCELLED, "cancelled by alice")


ROWS = [
    ("the failed implementation is retried", [run("plan", "planning", 0), run("impl", "implementation", 5)],
     {"plan": (SUCCEEDED, ""), "impl": (FAILED, "exit 1")}, "impl"),
    ("a cancelled review is retried", [run("impl", "implementation", 0), run("rev", "review", 5)],
     {"impl": (SUCCEEDED, ""), "rev": (CANCELLED, "cancelled by alice")}, "rev"),
    ("the newest of two failed stages is retried", [run("impl", "implementation", 0), run("rev", "review", 5)],
     {"impl": (FAILED, ""), "rev": (FAILED, "")}, "rev"),
    ("an older failure of a stage that ran again since is not retried",
     [run("rev-1", "review", 0), run("rev-2", "review", 5)], {"rev-2": (SUCCEEDED, "")}, None),
    ("a superseded run is not retried while its successor runs",
     [run("rev-1", "review", 0), run("rev-2", "review", 5)], {"rev-2": (RUNNING, "Running")}, None),
    ("nothing ran", [], {}, None),
    ("a run whose outcome is unknown is not retried", [run("impl", "implementation", 0)],
     {"impl": (GONE, "gone")}, None),
    ("a failed planning run is retried", [run("plan", "planning", 0)], {"plan": (FAILED, "")}, "plan"),
]


@pytest.mark.parametrize(("runs", "outcomes", "chosen"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_choose(runs: list[WorkflowRun], outcomes: dict[str, tuple[str, str]], chosen: str | None) -> None:
    choice = choose(runs, outcomes)
    assert (choice.run.name if choice.run else None) == chosen
    if chosen is None:
        assert choice.reason.startswith("Nothing to retry")


def test_the_refusal_names_each_stage_and_what_became_of_it() -> None:
    choice = choose([run("impl", "implementation", 0), run("rev", "review", 5)],
                    {"impl": (SUCCEEDED, ""), "rev": (RUNNING, "")})
    assert "implementation `impl`: succeeded" in choice.reason and "review `rev`: running" in choice.reason


def test_name_prefixes_are_the_submitting_functions() -> None:
    for function in (dispatch_planning, promote_plan, request_review):
        assert NAME_PREFIXES[function.TEMPLATE] == function.NAME_PREFIX
