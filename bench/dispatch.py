"""dispatch-planning: latency of a planning delivery at 100/s, throughput ceiling, duplicate storm.

One planning delivery = decode the binary CloudEvent (protobuf task), record the intake, look
for a run of that delivery, create the Workflow (dry-run: one JSON file; kubernetes: a POST to a
fake API server in its own process), record the run, answer with the reply CloudEvent. Each
delivery has a new delivery id, so none is answered from the store as a duplicate; the storm
sends one delivery 50 times at once and counts the Workflows that exist afterwards.

Processes: dispatch-planning under functions-framework (default server: 1 worker, 8 threads),
the load client (this process), and the fake Kubernetes API when that submitter is measured.
Stores: SQLite in a scratch folder and a fresh database on the PostgreSQL server of
``--postgres-url`` (default: CODEX_TEST_DATABASE_URL or this machine's server).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES, Event, encode_binary

FUNCTION = harness.ROOT / "functions" / "dispatch-planning" / "main.py"
DEFAULT_POSTGRES = os.environ.get("CODEX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

FAKE_KUBERNETES = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.fakes.kubernetes import FakeKubernetes

server = FakeKubernetes()
server.__enter__()
server.kubeconfig(Path(sys.argv[1]))
print(server.port, flush=True)
for line in sys.stdin:
    print(len(server.workflows), flush=True)
"""


@contextmanager
def fake_kubernetes(kubeconfig: Path) -> Iterator[subprocess.Popen[str]]:
    program = FAKE_KUBERNETES.format(root=str(harness.ROOT))
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(kubeconfig)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield process
    finally:
        process.terminate()
        process.wait(timeout=5)


def workflows_in(fake: subprocess.Popen[str]) -> int:
    assert fake.stdin is not None and fake.stdout is not None
    fake.stdin.write("count\n")
    fake.stdin.flush()
    return int(fake.stdout.readline())


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"codex_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo("", **{**conninfo_to_dict(server_url), "dbname": name})
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delivery(delivery_id: str) -> tuple[bytes, dict[str, str]]:
    task = tasks.from_json_dict(
        {
            "stage": "planning",
            "prompt": "Plan the change",
            "repository": "proompteng/lab",
            "base": "main",
            "head": "codex/issue-1636-plan",
            "issueNumber": 1636,
            "issueUrl": "https://github.com/proompteng/lab/issues/1636",
            "issueTitle": "Replay planning workflow",
            "issueBody": "x" * 2000,
            "sender": "alice",
            "deliveryId": delivery_id,
        }
    )
    event = Event(
        id=tasks.task_event_id(delivery_id, "planning"),
        source="route-task",
        type=TASK_TYPES["planning"],
        subject="1636",
        datacontenttype="application/protobuf",
        data=tasks.to_protobuf(task),
        extensions={"partitionkey": "proompteng/lab#1636"},
    )
    headers, body = encode_binary(event)
    return body, headers


def prepare(n: int) -> tuple[bytes, dict[str, str]]:
    return delivery(str(uuid.uuid4()))


def storm(port: int, count: int = 50) -> tuple[list[float], list[dict[str, object]], float]:
    """``count`` identical deliveries at once; (latencies ms, answers, wall seconds)."""
    body, headers = delivery(str(uuid.uuid4()))
    barrier = threading.Barrier(count)
    latencies: list[float] = []
    answers: list[dict[str, object]] = []
    lock = threading.Lock()

    def send() -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        began = time.perf_counter()
        conn.request("POST", "/", body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        elapsed = (time.perf_counter() - began) * 1000
        conn.close()
        with lock:
            latencies.append(elapsed)
            answers.append({"status": answer.status, **(json.loads(data) if answer.status == 202 else {})})

    began = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, answers, time.perf_counter() - began


def measure(
    label: str, env: dict[str, str], args: argparse.Namespace, count_workflows: Callable[[], int]
) -> dict[str, object]:
    def start(port: int) -> subprocess.Popen[bytes]:
        return harness.functions_framework(FUNCTION, port, env)

    def probe(port: int) -> int:
        return harness.request_once(port, "GET", "/health/readiness", b"", {})

    with harness.serving(start, probe) as port:
        harness.closed_loop(port, prepare, expect=202, concurrency=2, seconds=1.0)  # warm-up
        rate = harness.fixed_rate(port, prepare, expect=202, rate=args.rate, seconds=args.seconds)
        ceiling = harness.closed_loop(port, prepare, expect=202, concurrency=args.concurrency, seconds=args.seconds)
        before = count_workflows()
        latencies, answers, wall = storm(port)
        created = count_workflows() - before
    fresh = sum(1 for a in answers if a.get("duplicate") is False)
    print(
        f"{label}: {args.rate:.0f}/s p50 {rate.p(50):.1f} ms p99 {rate.p(99):.1f} ms errors {rate.errors}; "
        f"ceiling {ceiling.per_second:.0f}/s (p99 {ceiling.p(99):.1f} ms, errors {ceiling.errors}); "
        f"storm: {created} workflow(s), {fresh} non-duplicate answer(s), "
        f"{sum(1 for a in answers if a['status'] == 202)}/50 answered 202 in {wall * 1000:.0f} ms"
    )
    return {
        "label": label,
        "rate": rate,
        "ceiling": ceiling,
        "storm_created": created,
        "storm_fresh": fresh,
        "storm_ok": sum(1 for a in answers if a["status"] == 202),
        "storm_p99": harness.percentile(latencies, 99),
        "storm_wall": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries/s of the fixed-rate phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the fixed-rate and ceiling phases")
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the ceiling phase")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="PostgreSQL server for a fresh database")
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    folder = harness.scratch()
    rows = []

    def dry_run_count(name: str) -> Callable[[], int]:
        return lambda: len(list((folder / name).rglob("*.json")))

    base = {"CODEX_ARGO_SUBMITTER": "dry-run", "CODEX_LOG_LEVEL": "WARNING"}
    rows.append(
        measure(
            "SQLite + dry-run",
            {
                **base,
                "CODEX_DATABASE_URL": f"sqlite:///{folder}/state.db",
                "CODEX_DRY_RUN_DIR": str(folder / "wf-sqlite"),
            },
            args,
            dry_run_count("wf-sqlite"),
        )
    )
    with fresh_postgres(args.postgres_url) as url:
        rows.append(
            measure(
                "PostgreSQL + dry-run",
                {**base, "CODEX_DATABASE_URL": url, "CODEX_DRY_RUN_DIR": str(folder / "wf-pg")},
                args,
                dry_run_count("wf-pg"),
            )
        )
    with fresh_postgres(args.postgres_url) as url, fake_kubernetes(folder / "kubeconfig") as fake:
        rows.append(
            measure(
                "PostgreSQL + kubernetes (fake API server)",
                {
                    **base,
                    "CODEX_DATABASE_URL": url,
                    "CODEX_ARGO_SUBMITTER": "kubernetes",
                    "CODEX_KUBECONFIG": str(folder / "kubeconfig"),
                },
                args,
                lambda: workflows_in(fake),
            )
        )

    table = [
        "## dispatch-planning: planning deliveries through the function",
        "",
        f"Binary CloudEvent with a protobuf planning task (2 KB issue body), each with a new delivery id: record "
        f"intake, find run, create Workflow, record run, reply CloudEvent. functions-framework default server "
        f"(1 worker, 8 threads). Fixed rate: {args.rate:.0f} deliveries/s for {args.seconds:.0f} s (latency from "
        f"each request's scheduled time); ceiling: {args.concurrency} keep-alive clients for {args.seconds:.0f} s; "
        f"storm: one delivery sent 50 times at once. Machine: {harness.machine()}, load average "
        f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after (the machine is shared). Command: "
        f"`.venv/bin/python bench/dispatch.py{' --append' if args.append else ''}`.",
        "",
        f"| store + submitter | {args.rate:.0f}/s p50 ms | {args.rate:.0f}/s p99 ms | ceiling deliveries/s "
        "(p99 ms) | storm: workflows created / non-duplicate answers / 202s | storm p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        rate, ceiling = row["rate"], row["ceiling"]
        assert isinstance(rate, harness.Load) and isinstance(ceiling, harness.Load)
        table.append(
            f"| {row['label']} | {rate.p(50):.1f} | {rate.p(99):.1f} (errors {rate.errors}) | "
            f"{ceiling.per_second:.0f} ({ceiling.p(99):.1f}, errors {ceiling.errors}) | "
            f"{row['storm_created']} / {row['storm_fresh']} / {row['storm_ok']} | {row['storm_p99']:.0f} |"
        )
    text = "\n".join(table)
    harness.publish(text, append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
