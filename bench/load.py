"""Load from one process without Python threads in the way: an event-driven HTTP/1.1 client.

The first instrument was 8-32 threads, each on its own blocking ``http.client`` connection. On
the 2-core machine that put the GIL and the thread hand-offs into every figure: bare func-python,
a function that serves a request in a tenth of a millisecond, read about 2 ms p99 at 200/s, and on
a slower machine of the same kind 10.7 ms and fewer requests a second than ingest-webhook. Here
one reader thread owns every connection through epoll and parses answers as they arrive; for the
fixed rate a second thread only sleeps to each request's scheduled time and writes it. Both block
outside the GIL nearly all the time, so neither waits for the other for more than a few
microseconds.

Latency of the fixed rate counts from the time a request was *scheduled*, not sent, so a stall
is counted for every request it delays (no coordinated omission). Answers must be framed by
Content-Length (what hypercorn and gunicorn send for these functions); anything else counts as an
error and the connection is opened again.
"""

from __future__ import annotations

import collections
import http.client
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Prepare = Callable[[int], tuple[bytes, dict[str, str]]]
_HEAD_END = b"\r\n\r\n"


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


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class _Connection:
    """One kept-alive connection: the request it carries and the answer bytes so far."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._open()
        self.buffer = bytearray()
        self.busy = False  # a request is out and its answer not read yet
        self.since = 0.0  # when the request was scheduled (fixed rate) or sent (closed loop)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def reopen(self) -> None:
        self.sock.close()
        self.sock = self._open()
        self.buffer.clear()

    def answer(self) -> tuple[int, bool] | None:
        """(status, the server closes the connection) once the whole answer is in the buffer
        (consumed), None while it is not. hypercorn closes a connection after 1000 requests."""
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").lower()
        length = None
        closing = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip() == "content-length":
                length = int(value)
            elif name.strip() == "connection":
                closing = "close" in value
        if length is None:
            raise ValueError("an answer without Content-Length")
        if len(self.buffer) < end + 4 + length:
            return None
        del self.buffer[: end + 4 + length]
        return int(head[9:12]), closing


def _request(port: int, path: str, prepared: tuple[bytes, dict[str, str]]) -> bytes:
    body, headers = prepared
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


class _Driver:
    """The reader: answers as they arrive on any connection, a request written per free connection."""

    def __init__(self, port: int, prepare: Prepare, expect: int, path: str, connections: int) -> None:
        self.port, self.prepare, self.expect, self.path = port, prepare, expect, path
        self.selector = selectors.EpollSelector()
        self.idle: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[tuple[int, float]] = collections.deque()  # (n, scheduled)
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0
        for _ in range(connections):
            connection = _Connection(port)
            self.selector.register(connection.sock, selectors.EVENT_READ, connection)
            self.idle.append(connection)

    def send(self, connection: _Connection, n: int, since: float) -> bool:
        """Write request ``n``; False when the connection failed (counted, and opened again)."""
        connection.since = since
        connection.busy = True
        try:
            connection.sock.sendall(_request(self.port, self.path, self.prepare(n)))
        except OSError:
            self._failed(connection)
            return False
        return True

    def offer(self, n: int, scheduled: float) -> None:
        """A scheduled request: written now on an idle connection, or queued for the next one free."""
        with self.lock:
            connection = self.idle.popleft() if self.idle else None
            if connection is None:
                self.waiting.append((n, scheduled))
                return
            connection.busy = True  # taken: the reader leaves it alone from here
        if not self.send(connection, n, scheduled):
            self._finished(connection)

    def pump(self, timeout: float) -> list[_Connection]:
        """Read what arrived within ``timeout``; the connections whose answer completed."""
        done = []
        for key, _ in self.selector.select(timeout):
            connection: _Connection = key.data
            with self.lock:  # the server closed an idle connection (its keep-alive timeout)
                if not connection.busy:
                    self._reopen(connection)
                    continue
            try:
                chunk = connection.sock.recv(262144)
                if not chunk:
                    raise ConnectionError("closed")
                connection.buffer += chunk
                answer = connection.answer()
            except (OSError, ValueError):
                self._failed(connection)
                done.append(connection)
                continue
            if answer is not None:
                connection.busy = False
                self.latencies.append((time.perf_counter() - connection.since) * 1000)
                status, closing = answer
                self.errors += status != self.expect
                if closing:
                    self._reopen(connection)
                done.append(connection)
        return done

    def _failed(self, connection: _Connection) -> None:
        connection.busy = False
        self.errors += 1
        self.latencies.append((time.perf_counter() - connection.since) * 1000)
        self._reopen(connection)

    def _reopen(self, connection: _Connection) -> None:
        self.selector.unregister(connection.sock)
        connection.reopen()
        self.selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _finished(self, connection: _Connection) -> None:
        """A connection free again: the oldest queued request goes out on it, else it waits."""
        with self.lock:
            job = self.waiting.popleft() if self.waiting else None
            if job is None:
                self.idle.append(connection)
                return
        if not self.send(connection, *job):
            self._finished(connection)

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def closed_loop(port: int, prepare: Prepare, *, expect: int, concurrency: int, seconds: float, path: str = "/") -> Load:
    """Saturating load: ``concurrency`` keep-alive connections, each sending again once answered."""
    driver = _Driver(port, prepare, expect, path, concurrency)
    counter = iter(range(10**9))
    began = time.perf_counter()
    stop_at = began + seconds
    outstanding = 0
    try:
        free = list(driver.idle)
        driver.idle.clear()
        while free or outstanding:
            for connection in free:
                while time.perf_counter() < stop_at:
                    if driver.send(connection, next(counter), time.perf_counter()):
                        outstanding += 1
                        break
            free = driver.pump(1.0)
            outstanding -= len(free)
        elapsed = time.perf_counter() - began
    finally:
        driver.close()
    return Load(len(driver.latencies), driver.errors, elapsed, driver.latencies)


def fixed_rate(
    port: int,
    prepare: Prepare,
    *,
    expect: int,
    rate: float,
    seconds: float,
    connections: int = 32,
    path: str = "/",
) -> Load:
    """Open-loop load at ``rate`` requests/s over up to ``connections`` kept-alive connections."""
    driver = _Driver(port, prepare, expect, path=path, connections=connections)
    total = int(rate * seconds)
    began = time.perf_counter()

    def schedule() -> None:
        for n in range(total):
            scheduled = began + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            driver.offer(n, scheduled)

    scheduler = threading.Thread(target=schedule, daemon=True)
    scheduler.start()
    try:
        while len(driver.latencies) < total:
            for connection in driver.pump(0.05):
                driver._finished(connection)
            if not scheduler.is_alive() and not driver.waiting and len(driver.idle) == connections:
                break
        elapsed = time.perf_counter() - began
    finally:
        scheduler.join()
        driver.close()
    return Load(len(driver.latencies), driver.errors, elapsed, driver.latencies)


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


def threaded_fixed_rate(
    port: int, prepare: Prepare, *, expect: int, rate: float, seconds: float, workers: int = 32
) -> Load:
    """The instrument before this module: ``workers`` threads on blocking connections, fed from a
    queue at ``rate`` requests/s (kept to show what the GIL and thread hand-offs added to p99)."""
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
