"""``@<bot> retry``: submit again the task of an issue's last failed or cancelled run.

request-review acts on the ``codex.command`` retry route-task emits (it holds the store, the
submitter and GitHub). The run to repeat is a pure choice (:mod:`codex_pipeline.core.retry`) over the
issue's recorded runs and what became of them. Outcomes come from two places:

- the store's ``run_outcomes``, where the pipeline writes the stops it makes itself (a cancel says
  who, a supersede names the newer run);
- otherwise the Workflow's status, as its controller wrote it (``WorkflowSubmitter.state``: the
  Kubernetes API in production, the Workflow file that ``dev``'s executor updates in ``make run``).
  A final outcome read there is recorded, so it outlives the Workflow's TTL.

The steps themselves hold no database credentials and no event sink, so the exit handler does
not report outcomes; it only writes the recap on GitHub.

The retry submits the task kept at intake (``task_intake``; for an implementation that is the
task pinned to its plan's SHA-256, so an edited plan is still refused) under the retry comment's
delivery id, with the template and namespace of the run it repeats. A redelivery of the same
comment finds the run it submitted (the delivery id is its key) and submits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from codex_pipeline.core.retry import NAME_PREFIXES, choose, latest_per_stage, outcome_of
from codex_pipeline.effects.store import OUTCOMES, RunOutcome, WorkflowRun
from codex_pipeline.wire import tasks

if TYPE_CHECKING:
    from codex_pipeline.effects.argo import WorkflowSubmitter
    from codex_pipeline.effects.store import Store


@dataclass(frozen=True)
class Retried:
    """The run submitted for the retry (None when nothing was retried) and why, or what."""

    run: WorkflowRun | None
    reason: str
    duplicate: bool = False


def known_outcome(store: Store, submitter: WorkflowSubmitter, run: WorkflowRun) -> tuple[str, str]:
    """(outcome, detail) of ``run``: the store's record, else the Workflow's status (recorded when final)."""
    recorded = store.run_outcome(run.namespace, run.name)
    if recorded is not None:
        return recorded.outcome, recorded.detail
    outcome, detail = outcome_of(submitter.state(run.namespace, run.name))
    if outcome in OUTCOMES:
        store.record_outcome(RunOutcome(run.namespace, run.name, outcome, detail))
    return outcome, detail


def retry(
    store: Store,
    submitter: WorkflowSubmitter,
    *,
    repository: str,
    issue: int,
    delivery_id: str,
    branch_prefix: str,
    argo_ui_url: str | None = None,
) -> Retried:
    """Re-run the issue's last failed or cancelled stage once for this delivery; see the module doc.
    The parameters are those of a first submission (``argo_ui_url``: the check's details link).
    Raises Unavailable (503) when the store or the Kubernetes API is down."""
    from codex_pipeline.handlers.submitting import BRANCH_STAGES, Submission, submit_once, take_over

    runs = store.issue_runs(repository, issue)
    earlier = next((run for run in runs if run.delivery_id == delivery_id), None)
    if earlier is not None:  # a redelivery of the retry comment
        return Retried(earlier, f"retried as {earlier.name}", duplicate=True)
    outcomes = {run.name: known_outcome(store, submitter, run) for run in latest_per_stage(runs)}
    choice = choose(runs, outcomes)
    original = choice.run
    if original is None:
        return Retried(None, choice.reason)
    intake = store.find_intake(original.stage, original.delivery_id)
    if intake is None:
        return Retried(None, f"Nothing to retry: the task of `{original.name}` was not kept.")
    task = tasks.decode(intake.payload, "application/protobuf")
    task.delivery_id = delivery_id
    if original.stage == "planning":
        from codex_pipeline.handlers.dispatch_planning import planning_parameters

        task.replan = True  # asked for again: planning is otherwise once per issue
        parameters = planning_parameters(task)
    else:
        from codex_pipeline.handlers.submitting import TaskDelivery, workflow_parameters

        parameters = workflow_parameters(TaskDelivery(task, None), branch_prefix=branch_prefix, argo_ui_url=argo_ui_url)
    # The one look-up of this delivery was issue_runs above (it found no earlier run): known=None.
    spec = Submission(
        "request-review",
        original.stage,
        original.template,
        NAME_PREFIXES.get(original.template, original.template),
        original.namespace,
    )
    result = submit_once(store, submitter, spec, task, known=None, parameters=parameters)
    run = WorkflowRun(
        result.namespace,
        result.name,
        original.template,
        original.stage,
        original.repository,
        original.issue_number,
        delivery_id,
        result.submitted_at,
    )
    store.clear_active_run(original)  # it ended: nothing to stop, the retry takes its place
    if original.stage in BRANCH_STAGES:
        take_over(store, submitter, run, created=not result.duplicate)
    else:
        store.set_active_run(run)
    return Retried(run, f"{choice.reason}: submitted {run.name}", duplicate=result.duplicate)
