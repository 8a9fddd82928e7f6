"""request-review: latency of a review delivery with the fake GitHub answering in 0 ms and in 50 ms.

One review delivery = decode the task, look up the PR, its unresolved review threads, the check
runs and commit statuses of its head (four GitHub calls, made in two round trips: threads beside
the PR lookup, statuses beside check runs), build the review context, record the intake, submit
through the dry-run submitter, record the run, answer with the reply CloudEvent.

Three processes: the fake GitHub API (tests/fakes/github.py, a threaded HTTP server that sleeps
``latency`` per request), request-review under functions-framework, and this load client. Each
delivery has a new delivery id, so none is answered from the store as a duplicate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from codex_pipeline.core import review
from codex_pipeline.effects.github import GitHubClient, TokenAuth
from codex_pipeline.handlers.request_review import RequestReview
from codex_pipeline.shell.config import Settings
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES, Event, encode_binary

FUNCTION = harness.ROOT / "functions" / "request-review" / "main.py"
REPO = "acme/widgets"
SHA = "d" * 40

FAKE_GITHUB = """
import sys
sys.path.insert(0, {root!r})
from tests.fakes.github import FakeGitHub

server = FakeGitHub(latency=float(sys.argv[1]))
server.__enter__()
server.add_repo("acme/widgets")
server.add_pull("acme/widgets", 1, head="codex/issue-1-fix", head_sha="{sha}", mergeable=False,
                mergeable_state="dirty")
for i in range(25):
    server.add_thread("acme/widgets", 1, f"Please handle case {{i}}", resolved=i % 5 == 0)
for i in range(12):
    server.add_check_run("acme/widgets", "{sha}", f"ci / job {{i}}", conclusion="failure" if i == 3 else "success")
server.add_status("acme/widgets", "{sha}", "lint", "success")
server.add_status("acme/widgets", "{sha}", "deploy/preview", "error")
print(server.port, flush=True)
sys.stdin.read()
"""


@contextmanager
def fake_github(latency: float) -> Iterator[str]:
    program = FAKE_GITHUB.format(root=str(harness.ROOT), sha=SHA)
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.terminate()
        process.wait(timeout=5)


def prepare(n: int) -> tuple[bytes, dict[str, str]]:
    delivery = str(uuid.uuid4())
    task = tasks.from_json_dict(
        {
            "stage": "review",
            "repository": REPO,
            "issueNumber": 1,
            "deliveryId": delivery,
            "issueUrl": f"https://github.com/{REPO}/pull/1",
            "sender": "alice",
        }
    )
    event = Event(
        id=f"{delivery}:review",
        source="route-task",
        type=TASK_TYPES["review"],
        subject="1",
        datacontenttype="application/protobuf",
        data=tasks.to_protobuf(task),
        extensions={"partitionkey": f"{REPO}#1"},
    )
    headers, body = encode_binary(event)
    return body, headers


def sequential(port: int, count: int) -> list[float]:
    latencies = []
    for n in range(count):
        body, headers = prepare(n)
        began = time.perf_counter()
        status = harness.request_once(port, "POST", "/", body, headers, timeout=30)
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 202:
            raise RuntimeError(f"review delivery answered {status}")
    return latencies


def client_phase(github: str, iterations: int, seconds: float) -> tuple[float, float, float, float]:
    """In this process: GitHub calls/s (1 and 4 threads) and the review-context build (p50, p99 ms)."""
    import threading
    from typing import Any, cast

    client = GitHubClient(TokenAuth("test-token"), github)
    handler = RequestReview(Settings(), cast(Any, None), cast(Any, None), client)

    def calls_per_second(threads: int) -> float:
        stop_at = time.perf_counter() + seconds
        counts = [0] * threads

        def work(i: int) -> None:
            while time.perf_counter() < stop_at:
                client.get_pull(REPO, 1)
                counts[i] += 1

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts) / seconds

    single, four = calls_per_second(1), calls_per_second(4)
    builds = []
    for _ in range(iterations):
        began = time.perf_counter()
        review.build_review_context(*handler.snapshot(REPO, 1))
        builds.append((time.perf_counter() - began) * 1000)
    return single, four, harness.percentile(builds, 50), harness.percentile(builds, 99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200, help="sequential deliveries per GitHub latency")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of the concurrent phase")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in the concurrent phase")
    parser.add_argument("--database-url", default=None, help="store (default: SQLite in a scratch folder)")
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()

    folder = harness.scratch()
    rows = []
    for latency_ms in (0, 50):
        with fake_github(latency_ms / 1000) as github:
            env = {
                "CODEX_DATABASE_URL": args.database_url or f"sqlite:///{folder}/state-{latency_ms}.db",
                "CODEX_ARGO_SUBMITTER": "dry-run",
                "CODEX_DRY_RUN_DIR": str(folder / f"wf-{latency_ms}"),
                "CODEX_GITHUB_API_URL": github,
                "CODEX_GITHUB_TOKEN": "test-token",
                "CODEX_LOG_LEVEL": "WARNING",
            }

            def start(port: int, env: dict[str, str] = env) -> subprocess.Popen[bytes]:
                return harness.functions_framework(FUNCTION, port, env)

            def probe(port: int) -> int:
                return harness.request_once(port, "GET", "/health/liveness", b"", {})

            inproc = client_phase(github, args.deliveries, min(args.seconds, 3.0))
            with harness.serving(start, probe) as port:
                sequential(port, 10)  # warm: connections, first imports, SQLite pages
                latencies = sequential(port, args.deliveries)
                load = harness.closed_loop(
                    port, prepare, expect=202, concurrency=args.concurrency, seconds=args.seconds
                )
        floor = 2 * latency_ms
        rows.append(
            (
                latency_ms,
                harness.percentile(latencies, 50),
                harness.percentile(latencies, 99),
                floor,
                4 * latency_ms,
                load,
                inproc,
            )
        )
        written = len(list((folder / f"wf-{latency_ms}").rglob("*.json")))
        print(
            f"github {latency_ms} ms: p50 {rows[-1][1]:.1f} ms, p99 {rows[-1][2]:.1f} ms; "
            f"{args.concurrency} clients: {load.per_second:.0f}/s p99 {load.p(99):.1f} ms, errors {load.errors}; "
            f"{written} workflows written"
        )

    table = [
        "## request-review: one review delivery against a fake GitHub",
        "",
        f"Review task for a PR with 20 unresolved threads (of 25), 12 check runs (1 failing), 2 statuses (1 error), "
        f"mergeable_state=dirty; four GitHub calls per delivery, dry-run submitter, "
        f"{'the given database' if args.database_url else 'SQLite store'}. Sequential: {args.deliveries} "
        f"deliveries one at a time after 10 warm-up; concurrent: {args.concurrency} keep-alive clients for "
        f"{args.seconds:.0f} s. The last two columns run in the bench process against the same fake: "
        f"`GitHubClient.get_pull` calls/s, and `RequestReview.snapshot` + `build_review_context` per PR. "
        f"Machine: {harness.machine()}. Command: `.venv/bin/python bench/review.py"
        f"{' --append' if args.append else ''}`.",
        "",
        "| GitHub latency | p50 ms | p99 ms | floor (2 round trips) ms | serial calls would be ms "
        "| concurrent deliveries/s (p99 ms) | client GET calls/s (1 / 4 threads) | review-context build p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for latency_ms, p50, p99, floor, serial, load, (one, four, b50, b99) in rows:
        table.append(
            f"| {latency_ms} ms | {p50:.1f} | {p99:.1f} | {floor} | {serial} | "
            f"{load.per_second:.0f} ({load.p(99):.1f}, errors {load.errors}) | {one:.0f} / {four:.0f} | "
            f"{b50:.1f} / {b99:.1f} |"
        )
    text = "\n".join(table)
    harness.publish(text, append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
