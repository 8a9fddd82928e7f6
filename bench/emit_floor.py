"""What the chain costs before any handler code: bare func-python plus emits through our client.

Issue 14 reads the ingest -> route-task chain's CPU against one bare func-python function. The
chain is two func-python processes and three emits, so part of its cost is there before any of
our decoding or routing runs. This measures that part at a fixed rate: a bare ASGI function, then
the same function POSTing a fixed body once (ingest-webhook's 13 KB raw event) or to two sinks at
once (route-task's two 23 KB task events) through ``sink_connections`` before answering 202.

    .venv/bin/python bench/emit_floor.py --seconds 8 [--append]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.func_runtimes import (  # noqa: E402
    cpu_at_rate,
    delivery_body,
    func_process,
    port_of,
    prepare_delivery,
    shadowing_build,
)
from tests import funcbuild  # noqa: E402

EMITTING_ASGI = '''"""Bare func-python that POSTs a fixed body to K_SINK {sinks} time(s) at once, then answers 202."""
import asyncio
import os

from codex_pipeline.effects.sink_connections import SinkConnections

BODY = b"x" * {size}
HEADERS = {{"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t", "ce-source": "s"}}


class Emitting:
    def __init__(self):
        self.sinks = None

    async def handle(self, scope, receive, send):
        if scope.get("type") != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if self.sinks is None:
            self.sinks = [SinkConnections(os.environ["K_SINK"]) for _ in range({sinks})]
        until = asyncio.get_running_loop().time() + 2
        exchanges = [sink.send(HEADERS, BODY, until) for sink in self.sinks]
        for sink, exchange in zip(self.sinks, exchanges):
            if exchange is None:
                exchange = await sink.open_and_send(HEADERS, BODY, until)
            await exchange.answer()
        await send({{"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}})
        await send({{"type": "http.response.body", "body": b""}})


def new():
    return Emitting()
'''
VARIANTS = {
    "bare func-python": (0, 0),
    "bare + one 13 KB emit (ingest-webhook's)": (1, 13_000),
    "bare + two 23 KB emits at once (route-task's)": (2, 23_000),
}


def emitting_build(build: Path, folder: Path, sinks: int, size: int) -> Path:
    """``build``'s func-python service with a ``function`` package that emits ``sinks`` bodies of
    ``size`` bytes before answering (it shadows ours: the working directory comes first on ``sys.path``)."""
    return shadowing_build(build, folder, EMITTING_ASGI.format(sinks=sinks, size=size))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    prepare = prepare_delivery(delivery_body())
    work = Path(tempfile.mkdtemp(prefix="codex-bench-emit-floor-"))
    cpu: dict[str, float] = {}
    try:
        build = funcbuild.build_root("ingest-webhook", work / "ingest")
        with harness.sink_process() as sink, funcbuild.func_venv("ingest-webhook", build) as python:
            for name, (sinks, size) in VARIANTS.items():
                folder = emitting_build(build, work / f"variant-{sinks}", sinks, size)
                with func_process(python, folder, {"K_SINK": sink}, work / f"{sinks}.log") as process:
                    port = port_of(process)
                    harness.closed_loop(port, prepare, expect=202, concurrency=8, seconds=1)  # warm up
                    cpu[name] = cpu_at_rate(port, prepare, [process.process.pid], args.seconds, args.rate)
                print(f"{name}: {cpu[name]:.3f} ms", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = cpu["bare func-python"]
    lines = [
        "## What the chain costs before any handler code (issue 14)",
        "",
        f"CPU per delivery at a fixed {args.rate:g}/s for {args.seconds:g} s (from /proc of the function process). "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Command: `.venv/bin/python bench/emit_floor.py`.",
        "",
        "| function | CPU per delivery ms | vs bare |",
        "|---|---|---|",
        *(f"| {name} | {ms:.2f} | {ms / floor:.2f}x |" for name, ms in cpu.items()),
    ]
    harness.publish("\n".join(lines) + "\n", append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
