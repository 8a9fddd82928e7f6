"""ingest-webhook against hostile clients and sinks, under both runtimes: the figures of issue 15.

- memory: resident memory of the server's processes before and at the peak while one client
  streams a 1 GiB chunked body (and while four do at once), and the answer they get;
- slow clients: how long a real signed delivery takes while N clients hold connections (half
  trickle their headers a byte every 0.5 s, half send headers and no body); functions-framework
  with gunicorn's default 8 threads (2 cores x 4) and with the 32 `codex-pipeline dev` sets,
  func-python (hypercorn) with 50 and 200;
- emit deadline: the answer time with the default settings (2 s per attempt, 3 attempts, 8 s
  total) when the sink closes each connection 1.8 s after the request, or trickles its answer.

    .venv/bin/python bench/hostile.py            # prints the table
    .venv/bin/python bench/hostile.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from tests.fakes.hostile import HostileSink
from tests.fakes.httpserver import RecordingSink
from tests.rawhttp import chunked, exchange, group_rss, request_head
from tests.runtimes import RUNTIMES, Served, serve
from tests.test_hostile_ingest import GIB, SECRET, delivery, slow_clients_hold


def memory(served: Served, clients: int) -> str:
    body = delivery(secret=None)
    requests.post(served.url + "/", data=body[1], headers=body[0], timeout=10)  # warm up
    baseline = group_rss(served.pid)
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, group_rss(served.pid))
            time.sleep(0.02)

    def one(_: int) -> str:
        headers = {**delivery(secret=None)[0], "Transfer-Encoding": "chunked"}
        answer = exchange(served.url, request_head(served.url, headers), chunked(GIB), timeout=120)
        return f"{answer.status} after {answer.after:.2f} s ({answer.sent / 2**20:.0f} MiB sent)"

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(one, range(clients)))
    finally:
        stop.set()
        sampler.join()
    return (
        f"{baseline / 2**20:.0f} -> {peak / 2**20:.0f} MiB (+{(peak - baseline) / 2**20:.0f} MiB); "
        f"{'; '.join(sorted(set(answers)) if clients > 1 else answers)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    work = harness.scratch()
    rows: list[tuple[str, str, str]] = []
    with RecordingSink() as sink:
        unsigned = {
            "CODEX_WEBHOOK_SECRET": "",
            "CODEX_WEBHOOK_ALLOW_UNSIGNED": "true",
            "K_SINK": sink.url,
            "CODEX_LOG_LEVEL": "ERROR",
        }
        for runtime in RUNTIMES:
            with serve("ingest-webhook", runtime, unsigned, work / f"mem-{runtime}") as served:
                for clients in (1, 4):
                    rows.append((runtime, f"1 GiB chunked body, {clients} client(s) at once", memory(served, clients)))
        signed = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": sink.url, "CODEX_LOG_LEVEL": "ERROR"}
        cases = [
            ("functions-framework", "8", (8,)),
            ("functions-framework", "32", (16, 31)),
            ("func-python", "", (50, 200)),
        ]
        for runtime, threads, counts in cases:
            env = {**signed, **({"THREADS": threads} if threads else {})}
            with serve("ingest-webhook", runtime, env, work / f"slow-{runtime}-{threads}") as served:
                for count in counts:
                    label = f"real delivery beside {count} slow clients" + (f" (THREADS={threads})" if threads else "")
                    try:
                        elapsed, status = slow_clients_hold(served, count, timeout=10)
                        rows.append((runtime, label, f"{status} in {elapsed * 1000:.0f} ms"))
                    except requests.Timeout:
                        rows.append((runtime, label, "no answer within 10 s"))
    for mode, delay in (("close", 1.8), ("trickle", 0.2)):
        with HostileSink(mode, delay) as hostile:
            for runtime in RUNTIMES:
                env = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": hostile.url, "CODEX_LOG_LEVEL": "ERROR"}
                with serve("ingest-webhook", runtime, env, work / f"sink-{mode}-{runtime}") as served:
                    headers, body = delivery()
                    started = time.monotonic()
                    answer = requests.post(served.url + "/", data=body, headers=headers, timeout=30)
                    what = (
                        "closes 1.8 s after each request" if mode == "close" else "trickles its answer (1 byte/0.2 s)"
                    )
                    rows.append(
                        (
                            runtime,
                            f"sink {what}, default settings",
                            f"{answer.status_code} after {time.monotonic() - started:.2f} s",
                        )
                    )
    table = "\n".join(
        [
            "## ingest-webhook against hostile clients and sinks (issue 15)",
            "",
            f"Memory: resident memory of the server's processes (gunicorn master + worker; hypercorn) before and at "
            f"the peak, sampled every 20 ms, default CODEX_WEBHOOK_MAX_BYTES (25 MiB). Slow clients: half trickle "
            f"headers a byte every 0.5 s, half send headers and no body. Machine: {harness.machine()}. "
            "Command: `.venv/bin/python bench/hostile.py --append`.",
            "",
            "| runtime | case | result |",
            "|---|---|---|",
            *[f"| {' | '.join(row)} |" for row in rows],
        ]
    )
    harness.publish(table, append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
