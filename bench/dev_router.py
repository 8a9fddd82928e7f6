"""The local router of ``codex-pipeline dev``: what its durability (SQLite, synchronous commits) costs.

The router runs in its own process (as in ``dev``) with the topology of eventing/; route-task is a
lean subscriber answering 202 in a third process, so only the router's work is measured:

- ingress: binary CloudEvents (~4 KB raw deliveries) POSTed to the KafkaSink ingress of
  ``github.webhook.events`` by C keep-alive clients for S seconds: accepted/s and p50/p99 of the
  202 (each one is a committed, fsynced append);
- drain: after the load stops, how long until every accepted event was delivered to route-task
  (fan-out + one HTTP delivery + two commits each), as deliveries/s over the whole run;
- restart: N deliveries held (subscriber absent), then a new router with the subscriber: time
  until all N are delivered.

    .venv/bin/python bench/dev_router.py            # prints the table
    .venv/bin/python bench/dev_router.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.wire.events import Event, encode_binary

ROUTER_PROGRAM = """
import io, sys, time
from pathlib import Path
from codex_pipeline.dev.log import EventLog
from codex_pipeline.dev.router import Router
from codex_pipeline.dev.topology import load
from codex_pipeline.dev.view import View
db, eventing, subscriber = sys.argv[1], sys.argv[2], sys.argv[3]
log = EventLog(Path(db))
router = Router(load(Path(eventing)), log, View(io.StringIO()), {"route-task": subscriber} if subscriber else {})
print(router.start(), flush=True)
while True:
    time.sleep(3600)
"""
SINK_PATH = "/codex/github-webhook-events"


def start_router(db: Path, subscriber: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", ROUTER_PROGRAM, str(db), str(harness.ROOT / "eventing"), subscriber],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)


def event(n: int, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers, data = encode_binary(
        Event(
            id=f"bench-{n}",
            source="https://github.com/acme/widgets",
            type="com.github.issues.opened",
            subject="42",
            datacontenttype="application/json",
            data=body,
            extensions={"partitionkey": "acme/widgets#42"},
        )
    )
    return data, headers


def deliveries(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/topics", timeout=10) as answer:
        counts: dict[str, int] = json.load(answer)["deliveries"]
    return counts


def load(port: int, body: bytes, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """``clients`` keep-alive producers posting events to the KafkaSink ingress for ``seconds``."""
    done = harness.closed_loop(
        port, lambda n: event(n, body), expect=202, concurrency=clients, seconds=seconds, path=SINK_PATH
    )
    return done.requests, done.errors, done.latencies_ms


def wait_done(port: int, total: int, timeout: float = 300.0) -> float:
    began = time.perf_counter()
    while deliveries(port).get("done", 0) < total:
        assert time.perf_counter() - began < timeout, deliveries(port)
        time.sleep(0.02)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--held", type=int, default=1000, help="deliveries pending before the restart phase")
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    body = json.dumps({"action": "opened", "issue": {"number": 42, "body": "x" * 3800}}).encode()
    folder = harness.scratch()
    load_before = os.getloadavg()[0]
    with harness.sink_process() as subscriber:
        router, port = start_router(folder / "load.db", subscriber + "/")
        try:
            began = time.perf_counter()
            accepted, errors, latencies = load(port, body, args.clients, args.seconds)
            sent_for = time.perf_counter() - began
            drain = wait_done(port, accepted - errors)
            total_for = time.perf_counter() - began
        finally:
            stop(router)
        held, port = start_router(folder / "restart.db", "")
        try:
            load(port, body, 1, 0.0)  # warm
            for n in range(args.held):
                data, headers = event(n, body)
                request = urllib.request.Request(f"http://127.0.0.1:{port}{SINK_PATH}", data=data, headers=headers)
                urllib.request.urlopen(request, timeout=10).read()
            while deliveries(port).get("pending", 0) < args.held:
                time.sleep(0.02)
        finally:
            stop(held)
        began = time.perf_counter()
        again, port = start_router(folder / "restart.db", subscriber + "/")
        try:
            wait_done(port, args.held)
            restart_for = time.perf_counter() - began
        finally:
            stop(again)
    load_after = os.getloadavg()[0]
    rows = [
        f"| ingress, {args.clients} clients, {args.seconds:g} s | {accepted / sent_for:.0f} accepted/s "
        f"(errors {errors}) | {harness.percentile(latencies, 50):.1f} | {harness.percentile(latencies, 99):.1f} |",
        f"| drain after the load | {accepted / total_for:.0f} delivered/s over the run; last delivered "
        f"{drain:.2f} s after the load stopped | | |",
        f"| restart with {args.held} held | all delivered {restart_for:.2f} s after the router process started "
        f"({args.held / restart_for:.0f}/s incl. start) | | |",
    ]
    section = "\n".join(
        [
            "## codex-pipeline dev: the local router",
            "",
            f"Router in its own process (eventing/ topology, SQLite WAL with synchronous=FULL), route-task replaced by "
            f"a lean 202 subscriber in a third process; ~4 KB binary CloudEvents on github.webhook.events. "
            f"Machine: {harness.machine()}, load average {load_before:.1f} before / {load_after:.1f} after (shared). "
            f"Command: `.venv/bin/python bench/dev_router.py --append`.",
            "",
            "| phase | throughput | p50 ms | p99 ms |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(section)
    if args.append:
        harness.append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
