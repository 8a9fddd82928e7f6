"""``codex-pipeline step plan|implement|review``: the programs the WorkflowTemplates run.

Inputs come from files (the templates pass ``--payload-file``/``--event-body-file``: base64 text
Argo writes from a raw input artifact) or, for local runs, the environment (``PAYLOAD``,
``EVENT_BODY``), never from argv: they carry untrusted issue text. Exit status 0 means the step's
effect is on GitHub; anything else fails the Argo step (which may retry it; every effect is safe to repeat).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from codex_pipeline.cli.values import seconds
from codex_pipeline.shell.config import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span

STEP_SERVICE = "codex-pipeline-step"

STAGES = {
    "plan": ("codex_pipeline.steps.plan", "post the plan comment for a planning task"),
    "implement": ("codex_pipeline.steps.implement", "implement an approved plan: branch, draft PR, progress"),
    "review": ("codex_pipeline.steps.review", "one review pass on a Codex pull request"),
    "finish": ("codex_pipeline.steps.finish", "exit handler: recap a stale progress comment, complete the check"),
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir",
        help=f"where the repository is checked out (default: the setting CODEX_WORKDIR, else {Settings.workdir})",
    )
    parser.add_argument(
        "--workflow-name",
        help="the Argo workflow name, {{workflow.name}} (default: $ARGO_WORKFLOW_NAME, $CODEX_WORKFLOW_NAME)",
    )
    parser.add_argument(
        "--remote-url",
        help="git remote to clone (default: https://github.com/<repo>.git, or $CODEX_GIT_URL with {repo})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved task, Codex command and prompt; clone, run and post nothing",
    )
    parser.add_argument("--log", help="transcript file (default: the stage's .codex-*.log in the workdir)")
    codex = parser.add_argument_group("Codex CLI (defaults from CODEX_MODEL, CODEX_REASONING, ...)")
    codex.add_argument("--model", help="model (default gpt-5.1-codex-max)")
    codex.add_argument("--reasoning", help="reasoning effort (default high)")
    codex.add_argument("--search", action=argparse.BooleanOptionalAction, default=None, help="web search tool")
    codex.add_argument(
        "--yolo",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run without approvals or sandbox (the spec's --mode yolo)",
    )
    codex.add_argument(
        "--codex-arg", action="append", default=[], metavar="ARG", help="extra argument for `codex exec` (repeatable)"
    )
    codex.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="seconds before Codex is stopped (default 10800)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    # allow_abbrev=False: a template's `--payload` must not silently mean `--payload-file`.
    plan = stages.add_parser("plan", help=STAGES["plan"][1], description=STAGES["plan"][1], allow_abbrev=False)
    plan.add_argument(
        "--payload-file", help="task file: base64 of the task JSON, or the JSON itself; - for stdin (default: $PAYLOAD)"
    )
    plan.add_argument("--output", help="plan output file (default: <workdir>/.codex-plan-output.md)")
    _common(plan)
    for name in ("implement", "review"):
        sub = stages.add_parser(name, help=STAGES[name][1], description=STAGES[name][1], allow_abbrev=False)
        sub.add_argument("--event-body-file", help="base64 task JSON file, - for stdin (default: $EVENT_BODY)")
        _common(sub)
    finish = stages.add_parser("finish", help=STAGES["finish"][1], description=STAGES["finish"][1], allow_abbrev=False)
    finish.add_argument(
        "--stage",
        dest="finish_stage",
        choices=("plan", "implement", "review"),
        required=True,
        help="the stage whose workflow ended",
    )
    finish.add_argument(
        "--workflow-status",
        help="{{workflow.status}} (default: $WORKFLOW_STATUS); {{workflow.failures}} is read from $WORKFLOW_FAILURES",
    )
    finish.add_argument("--payload-file", help="planning task JSON file (default: $PAYLOAD)")
    finish.add_argument("--event-body-file", help="base64 task JSON file (default: $EVENT_BODY)")
    finish.add_argument("--workflow-name", help="the Argo workflow name, {{workflow.name}}")


def run(args: argparse.Namespace) -> int:
    import importlib

    from codex_pipeline.errors import PipelineError, StartupError, StepError
    from codex_pipeline.shell import metrics
    from codex_pipeline.shell.logs import configure
    from codex_pipeline.steps.context import environ_of, step_settings

    settings = step_settings(environ_of(args))  # a wrong setting stops here: one line, exit 2
    configure(settings.log_level)
    if getattr(args, "workdir", "") is None:
        args.workdir = settings.workdir
    module = importlib.import_module(STAGES[args.stage][0])
    with traced(args.stage) as span:
        try:
            result: int = module.run(args)
        except (StepError, StartupError, PipelineError) as exc:
            import sys

            print(f"codex-pipeline step {args.stage}: {exc}", file=sys.stderr)
            result = exit_status(exc)
        span.set_attribute("process.exit.code", result)
        if args.stage == "finish":  # the exit handler sees how the whole run ended, even a killed pod
            status = args.workflow_status or os.environ.get("WORKFLOW_STATUS") or "Unknown"
            metrics.run_ended(RUN_STAGES[args.finish_stage], status.strip().lower())
    return result


def exit_status(error: Exception) -> int:
    """A step's or a start-up error's own status; for an HTTP answer a step met (GitHub, a task
    decoder): 2 when it can never succeed (4xx), 1 when a retry may (5xx)."""
    from codex_pipeline.errors import PipelineError

    if isinstance(error, PipelineError):
        return 2 if error.status < 500 else 1
    return int(getattr(error, "exit_status", 1))


# The stage names the functions use (codex.stage) for each step's.
RUN_STAGES = {"plan": "planning", "implement": "implementation", "review": "review"}


@contextmanager
def traced(stage: str) -> Iterator[Span | Any]:
    """The step's span, a child of the trace its Workflow was submitted in (``TRACEPARENT``, which
    every WorkflowTemplate sets from its ``traceparent`` parameter); spans and metrics are exported
    before the step exits (it is a short-lived pod). With no trace to continue, no collector and no
    metrics installed, nothing of OpenTelemetry is loaded."""
    from codex_pipeline.shell import metrics, spans

    traceparent = os.environ.get("TRACEPARENT") or None
    if traceparent is None and not metrics.configured() and not metrics.enabled():
        yield spans.NO_SPAN
        return
    from codex_pipeline.shell import telemetry

    try:
        telemetry.setup(STEP_SERVICE)
        name = RUN_STAGES.get(stage, stage)
        with (
            metrics.stage(name),
            telemetry.span(f"step.{stage}", traceparent=traceparent, attributes={telemetry.ATTR_STAGE: name}) as span,
        ):
            yield span
    finally:
        telemetry.shutdown()
