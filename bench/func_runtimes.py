"""Throughput and CPU of ingest-webhook and the ingest -> route-task chain under func-python (issue 14).

Beside the floor: bare func-python (an ASGI function answering 202 with nothing of ours). Each
function runs from the venv func's build produces (tests/funcbuild.py); the task sinks are a
separate process answering 202 (bench/harness.py). A 12 KB signed ``issues.opened`` from a
trigger login, so route-task emits a task to both sinks. Closed loop at c=8 and c=32; p99 and
CPU per delivery at a fixed 200/s, CPU from the processes' own /proc counters (the chain counts
both function processes). Targets of issue 14 are marked in the last column.

    .venv/bin/python bench/func_runtimes.py --seconds 10 --append
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from codex_pipeline.wire.signatures import sign  # noqa: E402
from tests import funcbuild  # noqa: E402
from tests.payloads import github  # noqa: E402

SECRET = "bench-secret"
BARE_ASGI = '''"""Bare func-python: an ASGI function answering 202, nothing of ours."""


class Bare:
    async def handle(self, scope, receive, send):
        if scope.get("type") != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def new():
    return Bare()
'''


# ingest-webhook as it ran before issue 14 (worker thread + blocking emitter), for the same run: the
# handler's bound __call__ has no call_async, so the ASGI adapter takes the thread path.
THREADED_INGEST = '''"""ingest-webhook on the thread path (bench only)."""
from codex_pipeline.handlers.ingest_webhook import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def threaded():
    app = create_app()
    app.handler = app.handler.__call__
    return app


def new():
    return AsgiFunction(threaded)
'''


def delivery_body() -> bytes:
    payload = github.issues_opened(42, sender="alice", body="Steps to reproduce.\n" + "x" * 11_000)
    payload["issue"]["labels"] = [{"name": "codex"}]
    return json.dumps(payload).encode()


def prepare_delivery(body: bytes) -> harness.Prepare:
    signature = sign(SECRET, body)

    def prepare(n: int) -> tuple[bytes, dict[str, str]]:
        return body, {"content-type": "application/json", "x-github-event": "issues",
                      "x-github-delivery": str(uuid.uuid4()), "x-hub-signature-256": signature}

    return prepare


@contextmanager
def func_process(python: Path, build: Path, env: dict[str, str], log: Path) -> Iterator[funcbuild.FuncProcess]:
    process = funcbuild.start(python, build, env, log, timeout=120)
    try:
        yield process
    finally:
        process.stop()


def measure(url_port: int, prepare: harness.Prepare, pids: list[int], seconds: float, rate: float) -> dict[str, float]:
    harness.closed_loop(url_port, prepare, expect=202, concurrency=8, seconds=1)  # warm up
    c8 = harness.closed_loop(url_port, prepare, expect=202, concurrency=8, seconds=seconds)
    c32 = harness.closed_loop(url_port, prepare, expect=202, concurrency=32, seconds=seconds)
    before = sum(harness.cpu_seconds(pid) for pid in pids)
    fixed = harness.fixed_rate(url_port, prepare, expect=202, rate=rate, seconds=seconds)
    cpu = sum(harness.cpu_seconds(pid) for pid in pids) - before
    return {"c8": c8.per_second, "c32": c32.per_second, "p99": fixed.p(99),
            "cpu_ms": cpu / max(1, fixed.requests) * 1000,
            "errors": c8.errors + c32.errors + fixed.errors}


def port_of(process: funcbuild.FuncProcess) -> int:
    return int(process.url.rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence about the run (machine load, ...)")
    args = parser.parse_args()
    body = delivery_body()
    prepare = prepare_delivery(body)
    rows: dict[str, dict[str, float]] = {}
    work = Path(tempfile.mkdtemp(prefix="codex-bench-func-"))
    try:
        ingest_build = funcbuild.build_root("ingest-webhook", work / "ingest")
        route_build = funcbuild.build_root("route-task", work / "route")
        with harness.sink_process() as sink, \
                funcbuild.func_venv("ingest-webhook", ingest_build) as ingest_py, \
                funcbuild.func_venv("route-task", route_build) as route_py:
            # bare: the ingest venv's func-python, with a function package that shadows ours (cwd first)
            bare = work / "bare"
            shutil.copytree(ingest_build / "service", bare / "service")
            (bare / "function").mkdir()
            (bare / "function" / "__init__.py").write_text(BARE_ASGI)
            with func_process(ingest_py, bare, {}, work / "bare.log") as process:
                rows["bare func-python"] = measure(port_of(process), prepare, [process.process.pid],
                                                   args.seconds, args.rate)
            ingest_env = {"CODEX_WEBHOOK_SECRET": SECRET, "K_SINK": sink, "CODEX_LOG_LEVEL": "WARNING"}
            threaded = work / "threaded"
            shutil.copytree(ingest_build / "service", threaded / "service")
            (threaded / "function").mkdir()
            (threaded / "function" / "__init__.py").write_text(THREADED_INGEST)
            with func_process(ingest_py, threaded, ingest_env, work / "threaded.log") as process:
                rows["ingest-webhook, thread path (before)"] = measure(port_of(process), prepare,
                                                                       [process.process.pid], args.seconds, args.rate)
            with func_process(ingest_py, ingest_build, ingest_env, work / "ingest.log") as process:
                rows["ingest-webhook under func-python"] = measure(port_of(process), prepare,
                                                                   [process.process.pid], args.seconds, args.rate)
            route_env = {"CODEX_TASKS_SINK": sink, "CODEX_TASKS_JSON_SINK": sink + "/json",
                         "CODEX_TRIGGER_LOGINS": "alice", "CODEX_TRIGGER_LABEL": "codex",
                         "CODEX_PLANNER_LOGIN": "codex-planner", "CODEX_LOG_LEVEL": "WARNING"}
            with func_process(route_py, route_build, route_env, work / "route.log") as route, \
                    func_process(ingest_py, ingest_build, {**ingest_env, "K_SINK": route.url},
                                 work / "chain-ingest.log") as ingest:
                rows["chain: ingest -> route-task -> 2 sinks"] = measure(
                    port_of(ingest), prepare, [ingest.process.pid, route.process.pid], args.seconds, args.rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    publish(rows, args, len(body))
    return 0


def publish(rows: dict[str, dict[str, float]], args: argparse.Namespace, size: int) -> None:
    bare = rows["bare func-python"]
    ingest = rows["ingest-webhook under func-python"]
    chain = rows["chain: ingest -> route-task -> 2 sinks"]

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    targets = {
        "bare func-python": "floor",
        "ingest-webhook, thread path (before)": "for comparison",
        "ingest-webhook under func-python": (
            f"≥ 50% of bare at c=8/c=32: {ingest['c8'] / bare['c8']:.0%} / {ingest['c32'] / bare['c32']:.0%} "
            f"({mark(ingest['c8'] >= bare['c8'] / 2 and ingest['c32'] >= bare['c32'] / 2)})"),
        "chain: ingest -> route-task -> 2 sinks": (
            f"CPU ≤ 2.9x bare: {chain['cpu_ms'] / bare['cpu_ms']:.1f}x "
            f"({mark(chain['cpu_ms'] <= 2.9 * bare['cpu_ms'])}); p99 < 5 ms "
            f"({mark(chain['p99'] < 5)})"),
    }
    lines = [
        "## func-python: ingest-webhook and the ingest -> route-task chain (async emit path, issue 14)",
        "",
        f"{size // 1024} KB signed `issues.opened`, closed loop {args.seconds:g} s per concurrency, p99 and CPU "
        f"per delivery at a fixed {args.rate:g}/s (CPU from /proc of the function processes). Machine: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Command: `make bench-func` "
        f"(`.venv/bin/python bench/func_runtimes.py --seconds {args.seconds:g} --append`). {args.note}",
        "",
        f"| target | req/s c=8 | req/s c=32 | p99 at {args.rate:g}/s ms | CPU per delivery ms | errors "
        "| issue 14 target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['c8']:.0f} | {row['c32']:.0f} | {row['p99']:.2f} | {row['cpu_ms']:.2f} "
                     f"| {row['errors']:.0f} | {targets[name]} |")
    harness.publish("\n".join(lines) + "\n", append=args.append)


if __name__ == "__main__":
    raise SystemExit(main())
