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
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.func_runtimes import FLOOR, ChainBuilds, chain_rounds, handler_shadow, rounds_parser  # noqa: E402

ON_ASYNCIO = '''"""{name} on asyncio's event loop (bench only): new() without for_func_python."""
from codex_pipeline.handlers.{module} import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new():
    return AsgiFunction(create_app)
'''


def main() -> int:
    args = rounds_parser(__doc__).parse_args()

    def chains(builds: ChainBuilds, work: Path) -> dict[str, tuple[Path, Path]]:
        return {
            "chain on uvloop": (builds.ingest, builds.route),
            "chain on asyncio": (
                handler_shadow(builds.ingest, work / "ingest-asyncio", ON_ASYNCIO, "ingest-webhook"),
                handler_shadow(builds.route, work / "route-asyncio", ON_ASYNCIO, "route-task"),
            ),
        }

    cpu = chain_rounds(args, "codex-bench-loop-", chains)
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
    floor = statistics.median(cpu[FLOOR])
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
