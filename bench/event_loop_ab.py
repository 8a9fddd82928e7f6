"""The ingest -> route-task chain on uvloop (as deployed) against the same chain on asyncio's loop.

Both chains are up at once beside bare func-python and are measured in alternating rounds at a
fixed rate, so that the machine's drift between runs (a tenth or more of the floor's CPU) falls on
both alike; the figure to read is each round's asyncio/uvloop ratio. The asyncio chain runs the
same build with a ``function`` package that shadows the installed one (the working directory
comes first on ``sys.path``) and returns ``AsgiFunction`` without ``for_func_python``'s policy.

    .venv/bin/python bench/event_loop_ab.py --rounds 6 --seconds 5 [--append]
"""

from __future__ import annotations

import argparse
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
    SECRET,
    bare_func_build,
    chain_builds,
    cpu_at_rate,
    delivery_body,
    func_process,
    port_of,
    prepare_delivery,
    route_environment,
)

ON_ASYNCIO = '''"""{name} on asyncio's event loop (bench only): new() without for_func_python."""
from codex_pipeline.handlers.{module} import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new():
    return AsgiFunction(create_app)
'''


def on_asyncio(build: Path, name: str, folder: Path) -> Path:
    """A copy of ``build`` whose ``function`` package skips the uvloop policy."""
    shutil.copytree(build, folder)
    (folder / "function").mkdir()
    module = name.replace("-", "_")
    (folder / "function" / "__init__.py").write_text(ON_ASYNCIO.format(name=name, module=module))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    prepare = prepare_delivery(delivery_body())
    work = Path(tempfile.mkdtemp(prefix="codex-bench-loop-"))
    cpu: dict[str, list[float]] = {"bare func-python": [], "chain on uvloop": [], "chain on asyncio": []}
    try:
        with chain_builds(work) as builds, ExitStack() as running:
            sink, ingest_build, ingest_py = builds.sink, builds.ingest, builds.ingest_python
            route_build, route_py = builds.route, builds.route_python
            route_env = route_environment(sink)

            def chain(ingest: Path, route: Path, tag: str) -> tuple[int, list[int]]:
                routed = running.enter_context(func_process(route_py, route, route_env, work / f"{tag}-route.log"))
                ingest_env = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": routed.url, "CODEX_LOG_LEVEL": "WARNING"}
                front = running.enter_context(func_process(ingest_py, ingest, ingest_env, work / f"{tag}-ingest.log"))
                return port_of(front), [front.process.pid, routed.process.pid]

            bare = bare_func_build(ingest_build, work / "bare")
            bare_fp = running.enter_context(func_process(ingest_py, bare, {}, work / "bare.log"))
            targets = {
                "bare func-python": (port_of(bare_fp), [bare_fp.process.pid]),
                "chain on uvloop": chain(ingest_build, route_build, "uvloop"),
                "chain on asyncio": chain(
                    on_asyncio(ingest_build, "ingest-webhook", work / "ingest-asyncio"),
                    on_asyncio(route_build, "route-task", work / "route-asyncio"),
                    "asyncio",
                ),
            }
            for port, _pids in targets.values():
                harness.closed_loop(port, prepare, expect=202, concurrency=8, seconds=1)  # warm up
            for turn in range(args.rounds):
                names = list(targets)
                order = names if turn % 2 == 0 else [names[0], *reversed(names[1:])]  # the chains swap turns
                for name in order:
                    port, pids = targets[name]
                    cpu[name].append(cpu_at_rate(port, prepare, pids, args.seconds, args.rate))
                print(" ".join(f"{name} {values[-1]:.3f}" for name, values in cpu.items()), file=sys.stderr)
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
