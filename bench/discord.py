"""Discord ``/plan`` in: how far ingest-webhook's answer stays inside Discord's 3 s.

- verify: Ed25519 verification of one signed modal submission (timestamp + ~1.5 KB body),
  in this process, per call;
- answer: a signed modal submission POSTed to ``/discord/interactions`` of ingest-webhook under
  functions-framework, emitted into a sink in its own process, one keep-alive client,
  sequential; p50/p99/max of the full round trip (verify + policy + emit + answer);
- cold start: process start -> first answered PING, median (min) of N fresh processes.

    .venv/bin/python bench/discord.py            # prints the table
    .venv/bin/python bench/discord.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.discord.interactions import SignatureVerifier
from tests import discord_support as ds

INGEST = harness.ROOT / "functions" / "ingest-webhook" / "main.py"
PATH = "/discord/interactions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    app = ds.DiscordApp()

    headers, body = app.signed(ds.plan_submission())
    verifier = SignatureVerifier(app.public_key_hex)
    rounds = 2000
    began = time.perf_counter()
    for _ in range(rounds):
        assert verifier.verify(headers["X-Signature-Timestamp"], body, headers["X-Signature-Ed25519"])
    verify_us = (time.perf_counter() - began) / rounds * 1e6

    with harness.sink_process() as sink:
        env = {
            "CODEX_WEBHOOK_SECRET": "bench",
            "K_SINK": sink,
            "CODEX_DISCORD_PUBLIC_KEY": app.public_key_hex,
            "CODEX_DISCORD_ALLOWED_USERS": ds.ALLOWED_USER,
            "CODEX_LOG_LEVEL": "WARNING",
        }

        def start(port: int) -> subprocess.Popen[bytes]:
            return harness.functions_framework(INGEST, port, env)

        def ping(port: int) -> int:
            h, b = app.signed(ds.ping())
            return harness.request_once(port, "POST", PATH, b, h)

        colds = [harness.cold_start(start, ping, 200) for _ in range(args.cold)]
        samples: list[float] = []
        with harness.serving(start, ping) as port:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(args.requests):
                h, b = app.signed(ds.plan_submission(interaction_id=str(1314000000000000000 + i)))
                t0 = time.perf_counter()
                conn.request("POST", PATH, body=b, headers=h)
                answer = conn.getresponse()
                payload = answer.read()
                samples.append(time.perf_counter() - t0)
                assert answer.status == 200 and json.loads(payload)["type"] == 4, payload
            conn.close()

    load = os.getloadavg()[0]
    rows = [
        ("Ed25519 verify of one submission (in process)", f"{verify_us:.0f} us"),
        (
            f"/plan submission answered (verify + emit), {args.requests} sequential",
            f"p50 {harness.percentile(samples, 50) * 1000:.1f} ms, p99 {harness.percentile(samples, 99) * 1000:.1f} ms,"
            f" max {max(samples) * 1000:.1f} ms",
        ),
        ("cold start to the first PING answer", f"{statistics.median(colds) * 1000:.0f} ms ({min(colds) * 1000:.0f})"),
    ]
    table = "\n".join(["| measure | figure |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    section = (
        f"## Discord /plan: ingest-webhook's interaction answer\n\nMachine: {harness.machine()}, "
        f"load average {load:.1f} (shared). Command: `.venv/bin/python bench/discord.py --append`. "
        "Discord's deadline for the answer is 3 s.\n\n" + table + "\n"
    )
    print(section)
    if args.append:
        harness.append_results(section)


if __name__ == "__main__":
    main()
