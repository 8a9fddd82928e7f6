"""route-task: decisions per second of the pure core, import cost and cold start beside a bare function.

- decisions/s: :func:`codex_pipeline.core.routing.route` over a mix of real-shaped payloads
  (tests/payloads/github.py: planning, plan, execute plan, review, readiness, and as many
  ignored deliveries), payloads already parsed, in this process; target >= 20,000/s.
- import: wall time of ``python -c "import codex_pipeline.handlers.route_task"`` beside
  ``python -c pass`` (the bare interpreter), median of N fresh processes, interleaved.
- cold start: process start -> first 202 to a real CloudEvent (a readiness check, so both sinks
  are written) under functions-framework, beside a bare functions-framework function answering
  202; median (min) of N fresh processes, interleaved; target <= 1.5x bare.

    .venv/bin/python bench/route.py            # prints the table
    .venv/bin/python bench/route.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.core.names import PLAN_MARKER
from codex_pipeline.core.policy import Policy
from codex_pipeline.core.routing import route
from tests.payloads import github

ROUTE_TASK = harness.ROOT / "functions" / "route-task" / "main.py"
POLICY = Policy(
    trigger_logins=frozenset({"alice", "gregkonush"}),
    trigger_label="codex",
    planner_login="codex-planner",
    bot_mention="@tuslagch",
)
PLAN = PLAN_MARKER + "\n## Objective\nAdd retry.\n## Task Breakdown\n" + "".join(f"{i}. step\n" for i in range(40))


def mix() -> list[tuple[str, dict[str, Any]]]:
    """Half tasks, half ignored: the shapes a busy repository sends."""
    cases: list[tuple[str, dict[str, Any]]] = [
        ("issues", github.issues_opened(sender="alice")),
        ("issues", github.issues_labeled("codex", sender="alice")),
        ("issue_comment", github.issue_comment(PLAN, author="codex-planner")),
        ("issue_comment", github.issue_comment("Looks right.\n\nexecute plan", author="alice")),
        ("issue_comment", github.issue_comment("@tuslagch review", on_pr=True)),
        ("pull_request", github.pull_request_event()),
        ("check_suite", github.check_suite_completed()),
        ("check_run", github.check_run_completed()),
        ("issues", github.issues_opened(sender="mallory")),
        ("issue_comment", github.issue_comment("Thanks!\n```\nexecute plan\n```", author="alice")),
        ("issue_comment", github.issue_comment("execute plan", author="alice", action="edited")),
        ("issue_comment", github.issue_comment(PLAN, author="mallory")),
        ("pull_request", github.pull_request_event(head_ref="feature/x")),
        ("check_suite", github.check_suite_completed(head_branch="main")),
        ("push", github.push()),
        ("pull_request_review", github.pull_request_review_submitted(fork=True)),
    ]
    return [(github.event_type(event, payload), payload) for event, payload in cases]


def decisions_per_second(seconds: float) -> tuple[float, int]:
    cases = mix()
    for event_type, payload in cases:  # warm
        route(event_type, payload, "d", POLICY)
    done = 0
    tasks = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        for event_type, payload in cases:
            tasks += len(route(event_type, payload, "8f2c6a10-4a1b-11ef-9b1e-6a3c2b1d0e01", POLICY).tasks)
        done += len(cases)
    return done / (time.perf_counter() - began), tasks * len(cases) // max(done, 1)


def wall(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True, cwd=harness.ROOT)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per subject")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the decisions loop")
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()

    rate, tasks_per_mix = decisions_per_second(args.seconds)

    imports: dict[str, list[float]] = {
        "bare interpreter (`python -c pass`)": [],
        "import codex_pipeline.handlers.route_task": [],
    }
    for _ in range(args.runs):
        imports["bare interpreter (`python -c pass`)"].append(wall([sys.executable, "-c", "pass"]))
        imports["import codex_pipeline.handlers.route_task"].append(
            wall([sys.executable, "-c", "import codex_pipeline.handlers.route_task"])
        )

    headers, body = github.cloudevent("pull_request", github.pull_request_event())

    def first(port: int) -> int:
        return harness.request_once(port, "POST", "/", body, {**headers, "ce-id": str(uuid.uuid4())})

    folder = harness.scratch()
    bare = harness.bare_source(folder)
    with harness.sink_process() as sink:
        env = {
            "CODEX_TASKS_SINK": sink,
            "CODEX_TASKS_JSON_SINK": sink,
            "CODEX_LOG_LEVEL": "WARNING",
            "CODEX_TRIGGER_LOGINS": "alice",
        }
        subjects: dict[str, Callable[[int], subprocess.Popen[bytes]]] = {
            "bare functions-framework": lambda port: harness.functions_framework(bare, port, {}),
            "route-task": lambda port: harness.functions_framework(ROUTE_TASK, port, env),
        }
        cold: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(args.runs):
            for name, start in subjects.items():
                cold[name].append(harness.cold_start(start, first, expect=202))

    bare_import, module_import = (statistics.median(v) for v in imports.values())
    cold_ratio = statistics.median(cold["route-task"]) / statistics.median(cold["bare functions-framework"])
    verdict = [
        f"pure core: {rate:,.0f} decisions/s (target >= 20,000/s): {'met' if rate >= 20_000 else 'MISSED'}",
        f"cold start {cold_ratio:.2f}x bare (target <= 1.5x): {'met' if cold_ratio <= 1.5 else 'MISSED'}",
        f"importing the function module costs {(module_import - bare_import) * 1000:.0f} ms over the bare interpreter",
    ]
    table = "\n".join(
        [
            "## route-task: pure core, import, cold start",
            "",
            f"Decisions: `route()` over a mix of {len(mix())} real-shaped payloads (half become tasks, "
            f"{tasks_per_mix} tasks per mix), parsed, one process, {args.seconds:.0f} s. Import and cold start: median "
            f"(min) of {args.runs} fresh processes, interleaved; cold start is process start -> first 202 to a "
            "readiness CloudEvent (both sinks written) under functions-framework. "
            f"Machine: {harness.machine()}. Command: `.venv/bin/python bench/route.py --append`.",
            "",
            "| subject | ms |",
            "|---|---|",
            *[f"| {name} | {harness.median_ms(v):.0f} ({min(v) * 1000:.0f}) |" for name, v in imports.items()],
            *[f"| cold start: {name} | {harness.median_ms(v):.0f} ({min(v) * 1000:.0f}) |" for name, v in cold.items()],
            "",
            *[f"- {line}" for line in verdict],
        ]
    )
    harness.publish(table, append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
