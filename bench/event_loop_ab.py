"""The ingest -> route-task chain on uvloop (as deployed) against the same chain on asyncio's loop.

Both chains are up at once beside bare func-python and are measured in alternating rounds at a
fixed rate, so that the machine's drift between runs (a tenth or more of the floor's CPU) falls on
both alike; the figure to read is each round's asyncio/uvloop ratio. The asyncio chain runs the
same build with a ``function`` package that shadows the installed one (the working directory
comes first on ``sys.path``) and returns ``AsgiFunction`` without ``for_func_python``'s policy.

    .venv/bin/python bench/event_loop_ab.py --rounds 6 --seconds 5 [--append]
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.func_runtimes import (  # noqa: E402
    chain_builds,
    cpu_rounds,
    delivery_body,
    prepare_delivery,
    rounds_parser,
    shadowing_build,
    start_chain,
    start_floor,
)

ON_ASYNCIO = '''"""{name} on asyncio's event loop (bench only): new() without for_func_python."""
from codex_pipeline.handlers.{module} import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new():
    return AsgiFunction(create_app)
'''


def on_asyncio(build: Path, name: str, folder: Path) -> Path:
    """``build``'s service with a ``function`` package that skips the uvloop policy."""
    return shadowing_build(build, folder, ON_ASYNCIO.format(name=name, module=name.replace("-", "_")))


def main() -> int:
    args = rounds_parser(__doc__).parse_args()
    prepare = prepare_delivery(delivery_body())
    work = Path(tempfile.mkdtemp(prefix="codex-bench-loop-"))
    try:
        with chain_builds(work) as builds, ExitStack() as running:
            targets = {
                "bare func-python": start_floor(running, builds, work),
                "chain on uvloop": start_chain(running, builds, work, builds.ingest, builds.route, "uvloop"),
                "chain on asyncio": start_chain(
                    running,
                    builds,
                    work,
                    on_asyncio(builds.ingest, "ingest-webhook", work / "ingest-asyncio"),
                    on_asyncio(builds.route, "route-task", work / "route-asyncio"),
                    "asyncio",
                ),
            }
            cpu = cpu_rounds(targets, prepare, rounds=args.rounds, seconds=args.seconds, rate=args.rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [a / u for a, u in zip(cpu["chain on asyncio"], cpu["chain on uvloop"], strict=True)]
    lines = [
        "## The chain on uvloop against asyncio's loop (issue 14)",
        "",
        f"CPU per delivery at a fixed {args.rate:g}/s, {args.rounds} alternating rounds of {args.seconds:g} s, "
        f"every process up at once (CPU from /proc of the function processes). Machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end. Command: "
        f"`.venv/bin/python bench/event_loop_ab.py --rounds {args.rounds} --seconds {args.seconds:g}`.",
        "",
        "| target | CPU per delivery ms, each round | median | vs bare |",
        "|---|---|---|---|",
    ]
    floor = statistics.median(cpu["bare func-python"])
    for name, values in cpu.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | {median:.2f} | {median / floor:.2f}x |")
    lines += [
        "",
        "asyncio/uvloop per round: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f" (median {statistics.median(ratios):.2f}).",
    ]
    harness.publish("\n".join(lines) + "\n", append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
