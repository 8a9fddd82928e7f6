"""Posting CloudEvents to a sink (a KafkaSink, a broker, or the local router).

Bounded on purpose: ingest-webhook must answer GitHub well inside its 10 s, so attempts and
per-attempt timeout are settings, and every failure surfaces as :class:`Unavailable` (503)
so the caller's caller retries. Emission is idempotent by event id downstream.
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from codex_pipeline.errors import Unavailable
from codex_pipeline.events import Event, encode_binary

_RETRYABLE_STATUS = frozenset({404, 408, 409, 429}) | frozenset(range(500, 600))


class Emitter:
    """Sends events in binary mode to one sink URL over one keep-alive connection per thread.

    http.client rather than requests or urllib3: a sink is a cluster-local address, so proxy
    lookups and pool bookkeeping buy nothing, and they cost most of ingest-webhook's CPU per
    delivery (measured for bench/RESULTS.md: requests ~400 us, urllib3 ~165 us, http.client
    ~58 us of CPU per 8 KB POST).
    """

    def __init__(self, url: str, *, timeout: float = 2.0, attempts: int = 3, backoff: float = 0.1) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sink URL must be http(s)://host[:port][/path], got {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = factory(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, headers: dict[str, str], body: bytes) -> int:
        conn = self._connection()
        try:
            conn.request("POST", self._path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
        except Exception:
            self._drop_connection()
            raise
        if answer.will_close:
            self._drop_connection()
        return answer.status

    def emit(self, event: Event) -> None:
        headers, body = encode_binary(event)
        last_problem = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                try:
                    status = self._post(headers, body)
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    status = self._post(headers, body)  # a kept-alive connection the sink had closed
            except TimeoutError:
                last_problem = "Timeout"
                continue
            except (OSError, http.client.HTTPException):
                last_problem = "ConnectionError"
                continue
            if 200 <= status < 300:
                return
            last_problem = f"HTTP {status}"
            if status not in _RETRYABLE_STATUS:
                break
        raise Unavailable(f"sink did not accept event {event.id} ({last_problem})")

    def close(self) -> None:
        self._drop_connection()
