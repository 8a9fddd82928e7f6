"""Instructions per delivery of ingest-webhook, route-task and the chain under func-python (issue 14).

The CPU figures of bench/func_runtimes.py move by a tenth from round to round on this VM; these
do not (bench/instructions.py: callgrind, counters zeroed after a warm-up, dumped after
``--deliveries`` deliveries sent one at a time over one kept connection). Each target is a
func-python process as ``func deploy`` builds it, beside the same bare function the CPU bench
uses as its floor, and bare func-python that first POSTs ingest-webhook's one 13 KB emit or
route-task's two 23 KB emits (bench/emit_floor.py): so the table splits the chain into what
func-python, the emits and our own code execute. Instructions are not time: see
bench/instructions.py for what they leave out; the HMAC's share (libcrypto) is shown apart.

    .venv/bin/python bench/func_instructions.py [--deliveries 200] [--append]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness, instructions  # noqa: E402
from bench.emit_floor import VARIANTS, emitting_build  # noqa: E402
from bench.func_runtimes import (  # noqa: E402
    CHAIN,
    SECRET,
    bare_func_build,
    chain_builds,
    delivery_body,
    func_process,
    port_of,
    prepare_delivery,
    route_delivery,
    route_environment,
)
from tests import funcbuild  # noqa: E402

WARM_UP = 30
SETTLE = 10  # deliveries in the first counted window, which bench/instructions.py throws away


def deliver(port: int, prepare: harness.Prepare, count: int) -> None:
    """``count`` deliveries one after another over one kept connection, each answered 202."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for n in range(count):
            body, headers = prepare(n)
            connection.request("POST", "/", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 202:
                raise RuntimeError(f"delivery {n} answered {answer.status}, expected 202")
    finally:
        connection.close()


def count(
    folder: Path, port: int, prepare: harness.Prepare, processes: list[tuple[str, int]], deliveries: int
) -> dict[str, instructions.Counted]:
    """Instructions per delivery of each ``(tag, pid)`` while ``port`` serves ``deliveries``."""
    deliver(port, prepare, WARM_UP)
    instructions.window(folder, processes, lambda: deliver(port, prepare, SETTLE))  # reads high: thrown away
    counted = instructions.window(folder, processes, lambda: deliver(port, prepare, deliveries))
    return {tag: figures.per(deliveries) for tag, figures in counted.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    instructions.require_valgrind()
    body = delivery_body()
    prepare, routed = prepare_delivery(body), route_delivery(body)
    work = Path(tempfile.mkdtemp(prefix="codex-bench-instructions-"))
    rows: dict[str, dict[str, instructions.Counted]] = {}
    try:
        with chain_builds(work) as builds, ExitStack() as running:
            ingest_env = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": builds.sink, "CODEX_LOG_LEVEL": "WARNING"}
            route_env = route_environment(builds.sink)

            def up(tag: str, python: Path, build: Path, env: dict[str, str]) -> funcbuild.FuncProcess:
                counted = instructions.under_callgrind(python, work, tag)
                return running.enter_context(func_process(counted, build, env, work / f"{tag}.log"))

            def measure(name: str, started: list[tuple[str, funcbuild.FuncProcess]], load: harness.Prepare) -> None:
                front = started[0][1]
                processes = [(tag, process.process.pid) for tag, process in started]
                rows[name] = count(work, port_of(front), load, processes, args.deliveries)
                shown = ", ".join(f"{tag} {figures.total / 1e6:.3f}M" for tag, figures in rows[name].items())
                print(f"{name}: {shown} instructions per delivery", file=sys.stderr, flush=True)

            for name, (sinks, size) in VARIANTS.items():  # the floor, then bare func-python that emits
                folder = work / f"variant-{sinks}"
                if sinks:
                    emitting_build(builds.ingest, folder, sinks, size)
                else:  # the CPU bench's floor itself
                    bare_func_build(builds.ingest, folder)
                env = {"K_SINK": builds.sink} if sinks else {}
                tag = f"variant-{sinks}"
                measure(name, [(tag, up(tag, builds.ingest_python, folder, env))], prepare)
            ingest = up("ingest", builds.ingest_python, builds.ingest, ingest_env)
            measure("ingest-webhook under func-python", [("ingest", ingest)], prepare)
            route = up("route", builds.route_python, builds.route, route_env)
            measure("route-task under func-python", [("route", route)], routed)
            chain_route = up("chain-route", builds.route_python, builds.route, route_env)
            chain_ingest = up(
                "chain-ingest", builds.ingest_python, builds.ingest, {**ingest_env, "K_SINK": chain_route.url}
            )
            measure(CHAIN, [("chain-ingest", chain_ingest), ("chain-route", chain_route)], prepare)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    publish(rows, args)
    return 0


def publish(rows: dict[str, dict[str, instructions.Counted]], args: argparse.Namespace) -> None:
    totals = {name: sum(c.total for c in parts.values()) for name, parts in rows.items()}
    crypto = {name: sum(c.crypto for c in parts.values()) for name, parts in rows.items()}
    floor = totals["bare func-python"]
    lines = [
        "## Instructions per delivery under func-python, counted by callgrind (issue 14)",
        "",
        "13 KB signed `issues.opened`; each process under valgrind's callgrind, warmed with "
        f"{WARM_UP} deliveries and one window of {SETTLE} thrown away, then {args.deliveries} deliveries "
        "sent one at a time (bench/instructions.py). "
        "User-space instructions, not time: no system calls or loopback, and valgrind's CPU has no SHA "
        "extensions, so the HMAC runs OpenSSL's generic code (its libcrypto share is shown apart). "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}. Command: "
        f"`.venv/bin/python bench/func_instructions.py --deliveries {args.deliveries}`.",
        "",
        "| target | M instructions per delivery | of which libcrypto | vs bare | vs bare without libcrypto |",
        "|---|---|---|---|---|",
    ]
    for name, total in totals.items():
        parts = rows[name]
        split = " + ".join(f"{c.total / 1e6:.3f} ({tag})" for tag, c in parts.items()) if len(parts) > 1 else ""
        shown = f"{total / 1e6:.3f}" + (f" = {split}" if split else "")
        lines.append(
            f"| {name} | {shown} | {crypto[name] / 1e6:.3f} | {total / floor:.2f}x | "
            f"{(total - crypto[name]) / floor:.2f}x |"
        )
    harness.publish("\n".join(lines) + "\n", append=args.append)


if __name__ == "__main__":
    raise SystemExit(main())
