"""What every benchmark here shares: processes under test, a sink in its own process, load, figures.

The function under test, the sink it emits to and the load generator run as three processes so
that the GIL of one never shows up as latency of another (the machine has 2 cores: figures are
for this machine, printed with it). Latency in the fixed-rate run is measured from the time a
request was *scheduled*, not sent, so a stall is counted for every request it delays.
"""

from __future__ import annotations

import http.client
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from codex_pipeline.dev import processes
from codex_pipeline.dev.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"

BARE_FUNCTION = '''"""The bare baseline: functions-framework with nothing of ours."""


def handle(request):
    request.get_data()
    return "", 202
'''

BARE_FORWARDER = '''"""The floor for any function that emits: read the body, POST it to K_SINK, answer 202."""
import http.client
import os
import threading
from urllib.parse import urlsplit

SINK = urlsplit(os.environ["K_SINK"])
LOCAL = threading.local()


def handle(request):
    body = request.get_data()
    conn = getattr(LOCAL, "conn", None)
    if conn is None:
        conn = LOCAL.conn = http.client.HTTPConnection(SINK.hostname, SINK.port, timeout=2)
    conn.request("POST", "/", body=body, headers={"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t",
                                                   "ce-source": "s", "content-type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    return "", 202
'''

SINK_PROGRAM = """
import asyncio

# A lean HTTP/1.1 keep-alive sink: the real one (a KafkaSink receiver) runs elsewhere, so its
# CPU should not be charged to the function on this 2-core machine.
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 202 Accepted\\r\\ncontent-length: 0\\r\\n\\r\\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, {platform.system()}"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def sink_process() -> Iterator[str]:
    """A CloudEvents sink (what a KafkaSink is to the function) in a process of its own."""
    process = subprocess.Popen([sys.executable, "-c", SINK_PROGRAM], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=5)


def bare_source(folder: Path, program: str = BARE_FUNCTION, name: str = "bare_main.py") -> Path:
    path = folder / name
    path.write_text(program)
    return path


def functions_framework(source: Path, port: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start a function exactly as `functions-framework --source ... --target handle` does (as dev does)."""
    return processes.start(source.stem, source, port, {**os.environ, **env}, Path(os.devnull)).process


def request_once(
    port: int, method: str, path: str, body: bytes, headers: Mapping[str, str], timeout: float = 5.0
) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def cold_start(
    start: Callable[[int], subprocess.Popen[bytes]],
    first_request: Callable[[int], int],
    expect: int,
    limit: float = 60.0,
) -> float:
    """Seconds from process start to the first answer with status ``expect``."""
    port = free_port()
    began = time.perf_counter()
    process = start(port)
    try:
        while time.perf_counter() - began < limit:
            if process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode} before answering")
            try:
                status = first_request(port)
            except (ConnectionError, OSError, http.client.HTTPException):
                time.sleep(0.002)
                continue
            if status == expect:
                return time.perf_counter() - began
            raise RuntimeError(f"first answer was {status}, expected {expect}")
        raise RuntimeError(f"no answer within {limit} s")
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for candidate in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{candidate}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    try:
        found = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return found + [grandchild for child in found for grandchild in _children(child)]


@contextmanager
def serving(start: Callable[[int], subprocess.Popen[bytes]], probe: Callable[[int], int]) -> Iterator[int]:
    """A started process on a free port, once ``probe`` answers; yields the port.

    The process id is available as ``serving.pid`` of the last started process (for CPU figures).
    """
    port = free_port()
    process = start(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode}")
            try:
                probe(port)
                break
            except (ConnectionError, OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        LAST_PID[0] = process.pid
        yield port
    finally:
        _stop(process)


LAST_PID = [0]


@dataclass
class Load:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


Prepare = Callable[[int], tuple[bytes, dict[str, str]]]


class _Client:
    """One keep-alive load client; a failed request reconnects and counts as an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, prepared: tuple[bytes, dict[str, str]], expect: int, path: str = "/") -> bool:
        body, headers = prepared
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            answer = self.conn.getresponse()
            answer.read()
            return answer.status == expect
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            return False

    def close(self) -> None:
        self.conn.close()


def closed_loop(port: int, prepare: Prepare, *, expect: int, concurrency: int, seconds: float, path: str = "/") -> Load:
    """Saturating load: ``concurrency`` keep-alive clients, each sending as soon as answered."""
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    counter = iter(range(10**9))

    def client() -> None:
        client_conn = _Client(port)
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            began = time.perf_counter()
            ok = client_conn.post(prepare(n), expect, path)
            mine.append((time.perf_counter() - began) * 1000)
            failed += not ok
        client_conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(len(latencies), errors[0], time.perf_counter() - began, latencies)


def fixed_rate(port: int, prepare: Prepare, *, expect: int, rate: float, seconds: float, workers: int = 32) -> Load:
    """Open-loop load at ``rate`` requests/s; latency counts from each request's scheduled time."""
    total = int(rate * seconds)
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        client_conn = _Client(port)
        while (job := jobs.get()) is not None:
            n, scheduled = job
            ok = client_conn.post(prepare(n), expect)
            elapsed = (time.perf_counter() - scheduled) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        client_conn.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    for n in range(total):
        scheduled = began + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put((n, scheduled))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return Load(len(latencies), errors[0], time.perf_counter() - began, latencies)


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="codex-bench-"))


def publish(section: str, *, append: bool) -> None:
    """Print a result section, and add it to bench/RESULTS.md when asked (``--append``)."""
    print(section)
    if append:
        append_results(section)


def append_results(section: str) -> None:
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(existing.rstrip("\n") + "\n\n" + section.strip("\n") + "\n")
