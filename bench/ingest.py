"""ingest-webhook beside a bare functions-framework function, in one run on this machine.

Measures what issue 2 names, for signed ~8 KB ``issues.opened`` deliveries emitted into a sink
that runs in its own process:

- cold start: process start -> first 202 to a real delivery, median of N fresh processes each,
  the two functions interleaved so machine noise hits both alike;
- saturated throughput (closed loop, C keep-alive clients) and its p50/p99;
- p50/p99 at a fixed 200 deliveries/s (open loop, latency from the scheduled send time).

Targets: cold start <= 1.5x bare; throughput >= 50% of bare; p99 < 20 ms at 200/s. A third
subject, a bare forwarder that only POSTs each body to the sink, shows what one emit costs
on its own, so the figures separate the price of the hop from the price of our code.

    .venv/bin/python bench/ingest.py            # prints the table
    .venv/bin/python bench/ingest.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.wire.signatures import sign
from tests.test_ingest_webhook import issue_opened

SECRET = "bench-secret"
INGEST = harness.ROOT / "functions" / "ingest-webhook" / "main.py"


def delivery_body(target_bytes: int = 8192) -> bytes:
    body = json.dumps(issue_opened(number=42, body_size=0)).encode()
    return json.dumps(issue_opened(number=42, body_size=max(0, target_bytes - len(body)))).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per function for cold start")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in the saturated phase")
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries/s in the fixed-rate phase")
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()

    body = delivery_body()
    signature = sign(SECRET, body)

    def prepare(n: int) -> tuple[bytes, dict[str, str]]:
        return body, {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": str(uuid.UUID(int=n + 1)),
            "X-Hub-Signature-256": signature,
            "X-GitHub-Hook-ID": "1",
        }

    def first(port: int) -> int:
        payload, headers = prepare(0)
        return harness.request_once(port, "POST", "/", payload, headers)

    folder = harness.scratch()
    bare = harness.bare_source(folder)
    forwarder = harness.bare_source(folder, harness.BARE_FORWARDER, "forwarder_main.py")
    rows: list[tuple[str, str, str, str, str]] = []
    with harness.sink_process() as sink:
        env = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": sink, "CODEX_LOG_LEVEL": "WARNING"}
        subjects = {
            "bare functions-framework": lambda port: harness.functions_framework(bare, port, {}),
            "bare forwarder (POST to sink, nothing else)": lambda port: harness.functions_framework(
                forwarder, port, {"K_SINK": sink}
            ),
            "ingest-webhook": lambda port: harness.functions_framework(INGEST, port, env),
        }
        cold: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(args.runs):
            for name, start in subjects.items():
                cold[name].append(harness.cold_start(start, first, expect=202))

        loads = {}
        for name, start in subjects.items():
            with harness.serving(start, first) as port:
                harness.closed_loop(port, prepare, expect=202, concurrency=args.concurrency, seconds=1.0)  # warm
                cpu_before = harness.cpu_seconds(harness.LAST_PID[0])
                saturated = harness.closed_loop(
                    port, prepare, expect=202, concurrency=args.concurrency, seconds=args.seconds
                )
                cpu_us = (harness.cpu_seconds(harness.LAST_PID[0]) - cpu_before) / saturated.requests * 1e6
                steady = harness.fixed_rate(port, prepare, expect=202, rate=args.rate, seconds=args.seconds)
            loads[name] = (saturated, steady)
            rows.append(
                (
                    name,
                    f"{harness.median_ms(cold[name]):.0f} ({min(cold[name]) * 1000:.0f})",
                    f"{saturated.per_second:.0f} (p50 {saturated.p(50):.1f}, p99 {saturated.p(99):.1f}, "
                    f"errors {saturated.errors})",
                    f"p50 {steady.p(50):.1f}, p99 {steady.p(99):.1f} (errors {steady.errors})",
                    f"{cpu_us:.0f}",
                )
            )

    bare_name, forwarder_name, ingest_name = list(subjects)
    cold_ratio = statistics.median(cold[ingest_name]) / statistics.median(cold[bare_name])
    throughput_ratio = loads[ingest_name][0].per_second / loads[bare_name][0].per_second
    floor_ratio = loads[forwarder_name][0].per_second / loads[bare_name][0].per_second
    p99 = loads[ingest_name][1].p(99)
    verdict = [
        f"cold start {cold_ratio:.2f}x bare (target <= 1.5x): {'met' if cold_ratio <= 1.5 else 'MISSED'}",
        f"throughput {throughput_ratio:.0%} of bare (target >= 50%): {'met' if throughput_ratio >= 0.5 else 'MISSED'}",
        f"for scale: a bare forwarder that only POSTs each body to the sink reaches {floor_ratio:.0%} of bare; "
        f"ingest-webhook reaches {loads[ingest_name][0].per_second / loads[forwarder_name][0].per_second:.0%} "
        "of the forwarder",
        f"p99 at {args.rate:.0f}/s {p99:.1f} ms (target < 20 ms): {'met' if p99 < 20 else 'MISSED'}",
    ]
    table = "\n".join(
        [
            "## ingest-webhook vs bare functions-framework",
            "",
            f"Signed {len(body)}-byte `issues.opened` deliveries; ingest-webhook emits each to a sink in its own "
            f"process. Cold start: process start -> first 202, median (min) of {args.runs} fresh processes, "
            f"interleaved. Saturated: {args.concurrency} keep-alive clients for {args.seconds:.0f} s. Fixed rate: "
            f"{args.rate:.0f}/s for {args.seconds:.0f} s, latency from the scheduled send. "
            f"Machine: {harness.machine()}. "
            "Command: `.venv/bin/python bench/ingest.py --append`.",
            "",
            "| function | cold start ms | saturated deliveries/s (ms) | at fixed rate (ms) "
            "| function CPU us/delivery |",
            "|---|---|---|---|---|",
            *[f"| {' | '.join(row)} |" for row in rows],
            "",
            *[f"- {line}" for line in verdict],
        ]
    )
    harness.publish(table, append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
