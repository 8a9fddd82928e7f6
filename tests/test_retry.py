"""Which run ``@<bot> retry`` re-runs (outcome_of, choose: tables), and retrying.retry against a real SQLite store
and the dry-run submitter (planning again as a replan, an implementation pinned to its plan)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from codex_pipeline.core.retry import GONE, NAME_PREFIXES, RUNNING, choose, outcome_of
from codex_pipeline.effects.argo import DryRunSubmitter, WorkflowState
from codex_pipeline.effects.store import CANCELLED, FAILED, SUCCEEDED, RunOutcome, Store, WorkflowRun, open_store
from codex_pipeline.handlers import dispatch_planning, promote_plan, request_review
from codex_pipeline.handlers.retrying import retry
from codex_pipeline.handlers.submitting import Submission, submit_once
from codex_pipeline.wire import tasks
from tests.task_events import task

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def run(name: str, stage: str, minutes: int) -> WorkflowRun:
    return WorkflowRun(
        "argo-workflows", name, "t", stage, "acme/widgets", 12, f"d-{name}", AT + timedelta(minutes=minutes)
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
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
    ],
)
def test_outcome_of_the_workflow_status(state: WorkflowState | None, expected: str) -> None:
    assert outcome_of(state)[0] == expected


def test_a_stop_made_by_the_pipeline_says_who() -> None:
    state = WorkflowState("Failed", "Stopped with strategy 'Stop'", "Stop", "cancelled by alice")
    assert outcome_of(state) == (CANCELLED, "cancelled by alice")


ROWS = [
    (
        "the failed implementation is retried",
        [run("plan", "planning", 0), run("impl", "implementation", 5)],
        {"plan": (SUCCEEDED, ""), "impl": (FAILED, "exit 1")},
        "impl",
    ),
    (
        "a cancelled review is retried",
        [run("impl", "implementation", 0), run("rev", "review", 5)],
        {"impl": (SUCCEEDED, ""), "rev": (CANCELLED, "cancelled by alice")},
        "rev",
    ),
    (
        "the newest of two failed stages is retried",
        [run("impl", "implementation", 0), run("rev", "review", 5)],
        {"impl": (FAILED, ""), "rev": (FAILED, "")},
        "rev",
    ),
    (
        "an older failure of a stage that ran again since is not retried",
        [run("rev-1", "review", 0), run("rev-2", "review", 5)],
        {"rev-2": (SUCCEEDED, "")},
        None,
    ),
    (
        "a superseded run is not retried while its successor runs",
        [run("rev-1", "review", 0), run("rev-2", "review", 5)],
        {"rev-2": (RUNNING, "Running")},
        None,
    ),
    ("nothing ran", [], {}, None),
    (
        "a run whose outcome is unknown is not retried",
        [run("impl", "implementation", 0)],
        {"impl": (GONE, "gone")},
        None,
    ),
    ("a failed planning run is retried", [run("plan", "planning", 0)], {"plan": (FAILED, "")}, "plan"),
]


@pytest.mark.parametrize(("runs", "outcomes", "chosen"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_choose(runs: list[WorkflowRun], outcomes: dict[str, tuple[str, str]], chosen: str | None) -> None:
    choice = choose(runs, outcomes)
    assert (choice.run.name if choice.run else None) == chosen
    if chosen is None:
        assert choice.reason.startswith("Nothing to retry")


def test_the_refusal_names_each_stage_and_what_became_of_it() -> None:
    choice = choose(
        [run("impl", "implementation", 0), run("rev", "review", 5)], {"impl": (SUCCEEDED, ""), "rev": (RUNNING, "")}
    )
    assert "implementation `impl`: succeeded" in choice.reason and "review `rev`: running" in choice.reason


def test_name_prefixes_are_the_submitting_functions() -> None:
    for function in (dispatch_planning, promote_plan, request_review):
        assert NAME_PREFIXES[function.TEMPLATE] == function.NAME_PREFIX


# ---------------------------------------------------------------- retry against a real store and dry-run submitter


def submitted_as_the_function_does(
    store: Store, submitter: DryRunSubmitter, stage: str, task: tasks.CodexTask
) -> WorkflowRun:
    from codex_pipeline.handlers.submitting import TaskDelivery, workflow_parameters

    template = {"planning": dispatch_planning.TEMPLATE, "implementation": promote_plan.TEMPLATE}[stage]
    parameters = (
        dispatch_planning.planning_parameters(task)
        if stage == "planning"
        else workflow_parameters(TaskDelivery(task, None), branch_prefix="codex/")
    )
    spec = Submission("test", stage, template, NAME_PREFIXES[template], "argo-workflows")
    result = submit_once(
        store, submitter, spec, task, known=store.find_run(stage, task.delivery_id), parameters=parameters
    )
    run = store.get_run(result.namespace, result.name)
    assert run is not None
    store.set_active_run(run)
    return run


@pytest.fixture
def effects(tmp_path: Path) -> Iterator[tuple[Store, DryRunSubmitter]]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    yield store, DryRunSubmitter(tmp_path / "workflows")
    store.close()


def test_a_failed_planning_run_is_planned_again_as_a_replan(effects: tuple[Store, DryRunSubmitter]) -> None:
    store, submitter = effects
    planned = submitted_as_the_function_does(store, submitter, "planning", task("planning", 12))
    submitter.update(
        "argo-workflows", planned.name, lambda w: w.update(status={"phase": "Failed", "message": "child 'plan' failed"})
    )
    answer = retry(store, submitter, repository="acme/widgets", issue=12, delivery_id="retry-1", branch_prefix="codex/")
    assert answer.run is not None and answer.run.name.startswith("codex-planning-acme-widgets-12-")
    assert answer.run.template == "facteur-dispatch" and not answer.duplicate
    workflow = json.loads(submitter.path_of("argo-workflows", answer.run.name).read_text())
    [payload] = workflow["spec"]["arguments"]["parameters"]
    again = tasks.from_json_dict(json.loads(base64.b64decode(payload["value"])))
    assert (again.delivery_id, again.replan, again.issue_number) == ("retry-1", True, 12)
    assert store.run_outcome("argo-workflows", planned.name) == RunOutcome(
        "argo-workflows", planned.name, FAILED, "child 'plan' failed"
    )  # read from the status, kept
    active = store.active_run("acme/widgets", 12, "planning")
    assert active is not None and active.name == answer.run.name
    # The same retry delivered again submits nothing more.
    assert (
        retry(
            store, submitter, repository="acme/widgets", issue=12, delivery_id="retry-1", branch_prefix="codex/"
        ).duplicate
        is True
    )
    assert len(list((submitter.folder / "argo-workflows").glob("*.json"))) == 2


def test_a_cancelled_implementation_runs_again_pinned_to_the_same_plan(effects: tuple[Store, DryRunSubmitter]) -> None:
    store, submitter = effects
    pinned = "a" * 64
    first = submitted_as_the_function_does(
        store, submitter, "implementation", task("implementation", 12, planSha256=pinned, planCommentBody="the plan")
    )
    store.record_outcome(RunOutcome(first.namespace, first.name, CANCELLED, "cancelled by alice"))
    answer = retry(store, submitter, repository="acme/widgets", issue=12, delivery_id="retry-2", branch_prefix="codex/")
    assert answer.run is not None and answer.run.name.startswith("github-codex-implementation-acme-widgets-12-")
    assert "cancelled by alice" in answer.reason
    workflow = json.loads(submitter.path_of("argo-workflows", answer.run.name).read_text())
    body = next(p["value"] for p in workflow["spec"]["arguments"]["parameters"] if p["name"] == "eventBody")
    again = json.loads(base64.b64decode(body))
    assert (again["planSha256"], again["deliveryId"], again["planCommentBody"]) == (pinned, "retry-2", "the plan")
    assert workflow["spec"]["synchronization"] == {"mutexes": [{"name": "codex-acme-widgets-12"}]}
    # The cancelled run had ended: the retry takes its place without stopping it again.
    assert "shutdown" not in json.loads(submitter.path_of("argo-workflows", first.name).read_text())["spec"]


def test_nothing_recorded_for_the_issue_is_nothing_to_retry(effects: tuple[Store, DryRunSubmitter]) -> None:
    store, submitter = effects
    answer = retry(store, submitter, repository="acme/widgets", issue=99, delivery_id="r", branch_prefix="codex/")
    assert answer.run is None and answer.reason.startswith("Nothing to retry: no Codex run")
