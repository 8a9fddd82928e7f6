"""Workflow steps: start-up cost, Codex event parsing rate, and what a step adds around Codex.

- cold start: ``codex-pipeline step plan --dry-run`` in a fresh process (decode, prompt, print),
  median (min) of N, and which heavy modules it loaded (none of kubernetes, psycopg, requests);
- parsing: ``EventReader.feed`` over a realistic ``codex exec --json`` stream, events/s;
- overhead: ``step implement`` end to end (git fetch/checkout, commit, push to a bare remote,
  progress comment, draft PR, link, recap against the fake GitHub over HTTP) minus the time of
  the fake ``codex`` alone, median of N.

Usage: .venv/bin/python bench/steps.py [--runs 7] [--append]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = str(Path(sys.executable).parent / "codex-pipeline")

PAYLOAD = json.dumps(
    {
        "stage": "planning",
        "prompt": "Dry run",
        "repository": "proompteng/lab",
        "issueNumber": 999,
        "base": "main",
        "issueUrl": "https://github.com/proompteng/lab/issues/999",
        "title": "Codex dry run",
        "body": "Testing orchestration",
    }
)
PROBE = (
    "import sys, runpy; sys.argv = ['codex-pipeline', 'step', 'plan', '--dry-run', '--workflow-name', 'w'];"
    "import codex_pipeline.cli as c; import contextlib, io\n"
    "with contextlib.redirect_stdout(io.StringIO()): c.main(sys.argv[1:])\n"
    "print(','.join(m for m in ('kubernetes', 'psycopg', 'psycopg_pool', 'requests', 'functions_framework',"
    " 'boto3', 'opentelemetry.sdk') if m in sys.modules))"
)


def cold_start(runs: int) -> tuple[float, float, str]:
    env = {**os.environ, "PAYLOAD": PAYLOAD}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [CLI, "step", "plan", "--dry-run", "--workflow-name", "w"], env=env, check=True, capture_output=True
        )
        times.append((time.perf_counter() - started) * 1000)
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    return statistics.median(times), min(times), loaded or "none"


def parse_rate(seconds: float = 2.0) -> float:
    from codex_pipeline.steps.codex import EventReader

    events = [
        {"type": "item.completed", "item": {"id": "i", "type": "reasoning", "text": "**Plan**\n\nRead files."}},
        {
            "type": "item.started",
            "item": {
                "id": "c",
                "type": "command_execution",
                "command": "bash -lc ls",
                "aggregated_output": "",
                "exit_code": None,
                "status": "in_progress",
            },
        },
        {
            "type": "item.completed",
            "item": {
                "id": "c",
                "type": "command_execution",
                "command": "bash -lc ls",
                "aggregated_output": "a\nb\nc\n" * 20,
                "exit_code": 0,
                "status": "completed",
            },
        },
        {
            "type": "item.completed",
            "item": {
                "id": "f",
                "type": "file_change",
                "status": "completed",
                "changes": [{"path": "/w/app.py", "kind": "update"}],
            },
        },
        {"type": "item.completed", "item": {"id": "m", "type": "agent_message", "text": "Done.\n" * 10}},
    ]
    lines = [json.dumps(e) + "\n" for e in events]
    reader, count = EventReader(), 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for line in lines:
            reader.feed(line)
        count += len(lines)
    return count / (time.perf_counter() - started)


def step_overhead(runs: int) -> tuple[float, float, float]:
    """Median ms of the whole step, median ms of the fake codex alone, GitHub calls per step."""
    from tests.fakes.github import FakeGitHub
    from tests.steps_support import bare_remote, codex_env

    token = "ghp_benchToken0123456789"
    totals, codex_only = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gh = FakeGitHub(tokens=(token,))
        with gh:
            gh.add_repo("acme/widgets")
            for run in range(runs):
                remote = bare_remote(tmp, f"remote-{run}.git")
                env = {
                    **os.environ,
                    **codex_env(tmp / "bin", tmp / f"rec-{run}", edits={"app.py": "x = 1\n"}),
                    "CODEX_GITHUB_TOKEN": token,
                    "CODEX_GITHUB_API_URL": gh.url,
                }
                task = {
                    "stage": "implementation",
                    "repository": "acme/widgets",
                    "issueNumber": 100 + run,
                    "base": "main",
                    "issueTitle": "Bench run",
                    "issueBody": "x",
                    "planCommentBody": "## Task Breakdown\n1. one\n2. two\n",
                }
                env["EVENT_BODY"] = base64.b64encode(json.dumps(task).encode()).decode()
                started = time.perf_counter()
                subprocess.run(
                    [
                        CLI,
                        "step",
                        "implement",
                        "--workdir",
                        str(tmp / f"w-{run}"),
                        "--workflow-name",
                        f"wf-{run}",
                        "--remote-url",
                        remote.as_uri(),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                totals.append((time.perf_counter() - started) * 1000)
                work = tmp / f"c-{run}"
                work.mkdir()
                started = time.perf_counter()
                subprocess.run(
                    ["codex", "exec", "--json", "-"],
                    input=b"prompt",
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                codex_only.append((time.perf_counter() - started) * 1000)
        calls = len(gh.requests) / runs
    total, codex = statistics.median(totals), statistics.median(codex_only)
    return total, codex, calls


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--append", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()
    median, fastest, loaded = cold_start(args.runs)
    rate = parse_rate()
    total, codex, calls = step_overhead(args.runs)
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, {platform.system()}"
    report = f"""
## Workflow steps: start-up, Codex event parsing, overhead around Codex

Median (min) of {args.runs} fresh processes. Machine: {machine}. Command: `.venv/bin/python bench/steps.py --append`.

| measure | figure |
|---|---|
| `codex-pipeline step plan --dry-run` cold start | {median:.0f} ms ({fastest:.0f}) |
| heavy modules loaded by it (kubernetes, psycopg, requests, functions_framework, boto3, otel sdk) | {loaded} |
| `codex exec --json` events parsed | {rate:,.0f} events/s |
| `step implement` end to end (fake codex, bare remote, fake GitHub over HTTP) | {total:.0f} ms |
| the fake `codex` alone | {codex:.0f} ms |
| what the step adds (git init/fetch/checkout/commit/push, {calls:.0f} GitHub calls) | {total - codex:.0f} ms |
"""
    print(report)
    if args.append:
        with (ROOT / "bench" / "RESULTS.md").open("a") as results:
            results.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
