"""A real HTTP server on loopback for stand-ins of outside services (sinks, APIs).

It lives in the library because ``codex-pipeline dev`` serves a GitHub stand-in on it (see
:mod:`codex_pipeline.dev.github_standin`); the tests build their fakes on it too.

Each fake subclasses :class:`FakeServer` and implements ``answer(recorded) -> (status,
headers, body)``. Every request is recorded so tests assert method, path, headers, body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


Answer = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    # A real API server accepts bursts; the stdlib default backlog of 5 resets concurrent connects.
    request_queue_size = 128
    daemon_threads = True


class FakeServer:
    """Start with ``with FakeServer() as server:``; ``server.url`` is its base URL."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle holds the body until
            # the client's delayed ACK (~40 ms a call), a delay no real API or sink adds.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.requests.append(recorded)
                status, headers, payload = outer.answer(recorded)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, recorded: Recorded) -> Answer:
        return 202, {}, b""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")


class RecordingSink(FakeServer):
    """A CloudEvents sink (what a KafkaSink or broker ingress is): records and answers."""

    def __init__(self, status: int = 202, delay: float = 0.0, script: Callable[[Recorded], int] | None = None) -> None:
        super().__init__()
        self.status = status
        self.delay = delay
        self.script = script

    def answer(self, recorded: Recorded) -> Answer:
        if self.delay:
            time.sleep(self.delay)
        status = self.script(recorded) if self.script else self.status
        return status, {}, b""
