"""The load generator of bench/ (bench/load.py) against a real HTTP/1.1 server.

Its figures decide issue targets, so what it promises is held here: every request is counted
once, a stall is charged to every request it delays (latency from the scheduled time, not the
send), and a server that closes a kept-alive connection after an answer costs no error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load


class _Handler(BaseHTTPRequestHandler):
    """202 to every POST; ``x-delay-ms`` holds the answer back, ``x-close`` closes the connection after it."""

    protocol_version = "HTTP/1.1"
    seen: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.seen.append(len(body))
        delay = int(self.headers.get("x-delay-ms", "0"))
        if delay:
            time.sleep(delay / 1000)
        self.send_response(int(self.headers.get("x-status", "202")))
        self.send_header("content-length", "0")
        if self.headers.get("x-close"):
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the generator opens its 32 connections at once
    daemon_threads = True


@pytest.fixture
def server() -> Iterator[int]:
    _Handler.seen = []
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fixed_rate_sends_every_scheduled_request_once(server: int) -> None:
    body = b"x" * 13000
    done = load.fixed_rate(server, lambda n: (body, {"x-n": str(n)}), expect=202, rate=100, seconds=1)
    assert (done.requests, done.errors) == (100, 0)
    assert _Handler.seen == [13000] * 100
    assert 0.95 <= done.seconds < 3


def test_a_stall_is_charged_to_every_request_it_delays(server: int) -> None:
    # one connection, the first answer held back 200 ms: the nine requests scheduled meanwhile
    # (every 20 ms) wait behind it, and each one's latency counts that wait
    def prepare(n: int) -> tuple[bytes, dict[str, str]]:
        return b"{}", {"x-delay-ms": "200"} if n == 0 else {}

    done = load.fixed_rate(server, prepare, expect=202, rate=50, seconds=1, connections=1)
    assert (done.requests, done.errors) == (50, 0)
    slow = [ms for ms in done.latencies_ms if ms >= 20]
    assert len(slow) >= 9, sorted(done.latencies_ms)[-12:]
    assert max(done.latencies_ms) >= 200


def test_a_closed_connection_is_opened_again_without_an_error(server: int) -> None:
    def prepare(n: int) -> tuple[bytes, dict[str, str]]:
        return b"{}", {"x-close": "1"} if n % 3 == 0 else {}

    done = load.closed_loop(server, prepare, expect=202, concurrency=2, seconds=0.5)
    assert done.errors == 0
    assert done.requests == len(_Handler.seen) > 6


def test_an_answer_other_than_the_expected_one_counts_as_an_error(server: int) -> None:
    def prepare(n: int) -> tuple[bytes, dict[str, str]]:
        return b"{}", {"x-status": "503"} if n % 2 else {}

    done = load.fixed_rate(server, prepare, expect=202, rate=40, seconds=0.5)
    assert (done.requests, done.errors) == (20, 10)


def test_the_threaded_instrument_before_counts_alike(server: int) -> None:
    done = load.threaded_fixed_rate(server, lambda n: (b"{}", {}), expect=202, rate=40, seconds=0.5, workers=4)
    assert (done.requests, done.errors) == (20, 0)
