"""What keeping credentials away from Codex costs a step: handing the tree over and back, and the
model proxy's added latency per streamed call.

    .venv/bin/python bench/agent_isolation.py [--append]

Hand-over: ``hand_over`` + ``take_back`` (which also kills the agent uid's processes) on a synthetic
checkout of N files in N/50 folders, as root with agent uid 43210; median of 5. Proxy: one streamed
``POST /v1/responses`` (3 server-sent events) to a loopback fake Responses API, direct and through
:class:`ModelProxy`, new connection each call as Codex's client opens them; median and p90 of 300.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codex_pipeline.steps.agent import AgentUser, hand_over, take_back
from codex_pipeline.steps.model_proxy import ModelProxy
from tests.fakes.model_api import FakeModelAPI

KEY = "sk-bench-key-0123456789"
AGENT = AgentUser(43210, 43210)


def tree(root: Path, files: int) -> None:
    (root / ".git").mkdir(parents=True)
    for i in range(files):
        folder = root / f"pkg{i // 50}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}.py").write_text("x = 1\n")


def handover_ms(files: int) -> float:
    runs = []
    for _ in range(5):
        root = Path(tempfile.mkdtemp(prefix="bench-handover-"))
        try:
            tree(root / "lab", files)
            started = time.perf_counter()
            hand_over(root / "lab", AGENT)
            take_back(root / "lab", AGENT)
            runs.append((time.perf_counter() - started) * 1000)
        finally:
            shutil.rmtree(root)
    return statistics.median(runs)


def call_ms(port: int) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/v1/responses",
        body=b'{"model": "m", "stream": true}',
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 200
    return (time.perf_counter() - started) * 1000


def proxy_figures() -> dict[str, tuple[float, float]]:
    figures = {}
    with FakeModelAPI(KEY) as upstream, ModelProxy(KEY, f"{upstream.url}/v1") as proxy:
        proxy_port = int(proxy.base_url.split(":")[2].split("/")[0])
        for name, port in (("direct", upstream.port), ("through the proxy", proxy_port)):
            samples = sorted(call_ms(port) for _ in range(300))
            figures[name] = (statistics.median(samples), samples[int(len(samples) * 0.9)])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (it starts processes as a second uid)")
    lines = [
        "",
        "## Codex without credentials: tree hand-over and the model proxy",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, load "
        f"average {os.getloadavg()[0]:.1f}. Command: `.venv/bin/python bench/agent_isolation.py --append`.",
        "",
        "| what | ms |",
        "|---|---|",
    ]
    for files in (1000, 10000):
        lines.append(f"| hand tree to the agent and back, {files} files | {handover_ms(files):.1f} |")
    for name, (median, p90) in proxy_figures().items():
        lines.append(f"| one streamed model call, {name} | {median:.2f} (p90 {p90:.2f}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with (Path(__file__).resolve().parent / "RESULTS.md").open("a") as results:
            results.write(text)


if __name__ == "__main__":
    main()
