"""Which run ``@<bot> retry`` re-runs: a pure decision over an issue's runs and what became of them.

An issue's runs are planning, implementation and review Workflows (the store's
``workflow_runs``). Only the newest run of each stage counts: an older one was superseded,
cancelled and run again, or retried already. Of those, a retry re-runs the newest that failed or
was cancelled; a stage whose newest run still runs, or succeeded, is not retried. What became of
a run is the store's ``run_outcomes`` when the pipeline recorded it (a cancel, a supersede), else
what Argo wrote in the Workflow's status (:func:`outcome_of`), which the caller then records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from codex_pipeline.wire.runs import CANCELLED, FAILED, SHUTDOWN_STOP, SUCCEEDED, WorkflowRun, WorkflowState

RETRYABLE = frozenset({FAILED, CANCELLED})
RUNNING = "running"
GONE = "unknown"  # the Workflow is gone and no outcome was recorded
# The Workflow name prefix of each template (the submitting functions' NAME_PREFIX): a retry
# submits the template of the run it repeats under the same kind of name.
NAME_PREFIXES: dict[str, str] = {
    "facteur-dispatch": "codex-planning",
    "github-codex-implementation": "github-codex-implementation",
    "github-codex-review": "github-codex-review",
}
_STOPPED = ("stopped with strategy", "terminated with strategy")  # Argo's messages for a shutdown


def outcome_of(state: WorkflowState | None) -> tuple[str, str]:
    """(outcome, detail) from what Argo wrote: succeeded, failed, cancelled (a Failed or Error
    Workflow that was asked to shut down), ``running`` while not finished, ``unknown`` when gone."""
    if state is None:
        return GONE, "the Workflow is gone and its outcome was not recorded"
    if state.phase == "Succeeded":
        return SUCCEEDED, state.message
    if state.phase in ("Failed", "Error"):
        stopped = state.shutdown in (SHUTDOWN_STOP, "Terminate") or any(
            word in state.message.lower() for word in _STOPPED
        )
        if stopped:
            return CANCELLED, state.stop_reason or state.message or "stopped"
        return FAILED, state.message or state.phase.lower()
    return RUNNING, state.phase or "not started yet"


def latest_per_stage(runs: Sequence[WorkflowRun]) -> list[WorkflowRun]:
    """The newest run of each stage (``runs`` oldest first, as the store lists them)."""
    newest: dict[str, WorkflowRun] = {}
    for run in runs:
        newest[run.stage] = run
    return sorted(newest.values(), key=lambda run: run.submitted_at)


@dataclass(frozen=True)
class Choice:
    """The run to re-run (None when there is none) and the reason, said to the user when refused."""

    run: WorkflowRun | None
    reason: str


def choose(runs: Sequence[WorkflowRun], outcomes: Mapping[str, tuple[str, str]]) -> Choice:
    """The newest of the stages' newest runs that failed or was cancelled.

    ``outcomes`` maps a run's name to (outcome, detail) for the runs :func:`latest_per_stage`
    gives; a run missing from it counts as still running."""
    latest = latest_per_stage(runs)
    if not latest:
        return Choice(None, "Nothing to retry: no Codex run of this issue is recorded.")
    retryable = [run for run in latest if outcomes.get(run.name, (RUNNING, ""))[0] in RETRYABLE]
    if retryable:
        run = retryable[-1]
        outcome, detail = outcomes[run.name]
        return Choice(
            run,
            f"retry the {run.stage} run {run.name} ({outcome}: {detail})"
            if detail
            else f"retry the {run.stage} run {run.name} ({outcome})",
        )
    states = "; ".join(f"{run.stage} `{run.name}`: {outcomes.get(run.name, (RUNNING, ''))[0]}" for run in latest)
    return Choice(None, f"Nothing to retry: no stage of this issue failed or was cancelled last ({states}).")
