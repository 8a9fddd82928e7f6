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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# the load generators live in bench/load.py; the benches reach them through here
from bench.load import Load as Load
from bench.load import Prepare as Prepare
from bench.load import closed_loop as closed_loop
from bench.load import fixed_rate as fixed_rate
from bench.load import percentile as percentile
from bench.load import threaded_fixed_rate as threaded_fixed_rate
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

try:
    import uvloop
except ImportError:
    uvloop = None

ANSWER = b"HTTP/1.1 202 Accepted\\r\\ncontent-length: 0\\r\\n\\r\\n"


class Sink(asyncio.Protocol):
    # A lean HTTP/1.1 keep-alive sink answering 202 as requests complete: it stands in for the
    # KafkaSink receiver, whose time is not ours, so it should add as little CPU and latency to
    # the chain as a Python process can (a protocol, no stream reader or task per request).

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data):
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\\r\\n\\r\\n")
            if end < 0:
                return
            length = 0
            for line in bytes(buffer[:end]).split(b"\\r\\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(buffer) < end + 4 + length:
                return
            del buffer[: end + 4 + length]
            self.transport.write(ANSWER)


async def main():
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


(uvloop.run if uvloop else asyncio.run)(main())
"""


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, {platform.system()}"


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
