"""How far the chain's CPU can fall by making our handler code cheaper: the chain with its decisions made once.

Beside bare func-python and the chain as deployed, two chains whose ``function`` package shadows
the installed one (the working directory comes first on ``sys.path``) and wraps the handler's
``decide``: the first delivery is decoded, decided and encoded as always, and every later one is
answered with that first outcome, its events emitted again. In one, route-task's decision is
remembered; in the other, ingest-webhook's too (the HMAC check included). What those chains still
cost is func-python, our ASGI adapter and the emits: the part no change to decode -> decide ->
encode can remove. All are up at once and measured in alternating rounds at a fixed rate (CPU from
/proc of the function processes), as bench/event_loop_ab.py does.

    .venv/bin/python bench/decide_bound.py --rounds 6 --seconds 5 [--append]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.func_runtimes import FLOOR, ChainBuilds, chain_rounds, handler_shadow, rounds_parser  # noqa: E402

CHAIN = "chain: ingest -> route-task -> 2 sinks"
ROUTE_REMEMBERED = "chain, route-task's decision remembered"
BOTH_REMEMBERED = "chain, both decisions remembered"
REMEMBERING = '''"""{name} with its decision made once (bench only): later deliveries get the first outcome."""
from codex_pipeline.handlers.{module} import create_app
from codex_pipeline.shell.asgi import for_func_python


def remembering():
    app = create_app()
    handler = app.handler
    decide = handler.decide
    first = []

    def remembered(request):
        if not first:
            first.append(decide(request))
        return first[0]

    handler.decide = remembered
    return app


def new():
    return for_func_python(remembering)
'''


def main() -> int:
    args = rounds_parser(__doc__).parse_args()

    def chains(builds: ChainBuilds, work: Path) -> dict[str, tuple[Path, Path]]:
        route_remembering = handler_shadow(builds.route, work / "route-remembering", REMEMBERING, "route-task")
        ingest_remembering = handler_shadow(builds.ingest, work / "ingest-remembering", REMEMBERING, "ingest-webhook")
        return {
            CHAIN: (builds.ingest, builds.route),
            ROUTE_REMEMBERED: (builds.ingest, route_remembering),
            BOTH_REMEMBERED: (ingest_remembering, route_remembering),
        }

    cpu = chain_rounds(args, "codex-bench-bound-", chains)
    harness.publish(table(cpu, args), append=args.append)
    return 0


def table(cpu: dict[str, list[float]], args: argparse.Namespace) -> str:
    floor = cpu[FLOOR]
    lines = [
        "## The chain with its decisions made once: what handler code can still save (issue 14)",
        "",
        f"CPU per delivery at a fixed {args.rate:g}/s, {args.rounds} alternating rounds of {args.seconds:g} s, "
        f"every process up at once (CPU from /proc of the function processes). A remembered decision is "
        f"made for the first delivery and its outcome answered to every later one, its events emitted "
        f"again. Machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Command: "
        f"`.venv/bin/python bench/decide_bound.py --rounds {args.rounds} --seconds {args.seconds:g}`.",
        "",
        "| target | CPU per delivery ms, each round | median | vs bare (median of the rounds' ratios) |",
        "|---|---|---|---|",
    ]
    for name, values in cpu.items():
        ratio = statistics.median(v / f for v, f in zip(values, floor, strict=True))
        rounds = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"| {name} | {rounds} | {statistics.median(values):.2f} | {ratio:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
