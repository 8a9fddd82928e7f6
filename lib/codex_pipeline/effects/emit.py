"""Posting CloudEvents to a sink (a KafkaSink, a broker, or the local router).

Bounded on purpose: ingest-webhook must answer GitHub well inside its 10 s (Discord: 3 s), so
every delivery has one total deadline for all its emit attempts together
(``CODEX_SINK_DEADLINE_SECONDS``), each attempt its own bound (``CODEX_SINK_TIMEOUT_SECONDS``),
and both are wall-clock bounds on the whole exchange, not per socket operation: a sink that
trickles its answer one byte at a time is cut off like one that never answers. Every failure
surfaces as :class:`Unavailable` (503) so the caller's caller retries. Emission is idempotent
by event id downstream.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from codex_pipeline.errors import Unavailable
from codex_pipeline.wire.events import Event, encode_binary

if TYPE_CHECKING:
    import http.client
    import ssl

_RETRYABLE_STATUS = frozenset({404, 408, 409, 429}) | frozenset(range(500, 600))
DEFAULT_DEADLINE = 8.0


def deadline_after(seconds: float) -> float:
    """An absolute deadline (``time.monotonic()`` clock) ``seconds`` from now, to share between emits."""
    return time.monotonic() + seconds


class Attempts:
    """The retry rules of one emit, shared by :class:`Emitter` and the event loop's ``AsyncEmitter``
    so that both keep the same promise; each only sleeps and posts its own way.

    ``pauses()`` gives the backoff before each attempt (0 before the first) while the next one
    still fits before ``until``; ``window()`` the attempt's own deadline after that pause (None:
    no time left); ``settle(status)`` says whether an answer delivered the event (True), is worth
    another attempt (False) or ends the emit (None); ``error()`` is the 503 to raise at the end.
    """

    def __init__(self, attempts: int, backoff: float, timeout: float, until: float) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.until = until
        self.problem = "no attempt made"

    def pauses(self) -> Iterator[float]:
        for attempt in range(self.attempts):
            pause = self.backoff * (2 ** (attempt - 1)) if attempt else 0.0
            if attempt and time.monotonic() + pause >= self.until:
                return
            yield pause

    def window(self) -> float | None:
        attempt_until = min(self.until, time.monotonic() + self.timeout)
        return attempt_until if attempt_until > time.monotonic() else None

    def settle(self, status: int) -> bool | None:
        if 200 <= status < 300:
            return True
        self.problem = f"HTTP {status}"
        return False if status in _RETRYABLE_STATUS else None

    def error(self, event_id: str) -> Unavailable:
        problem = self.problem
        if time.monotonic() >= self.until - 0.001 and problem in ("Timeout", "no attempt made"):
            problem = "deadline passed"
        return Unavailable(f"sink did not accept event {event_id} ({problem})")


class _Deadline:
    """Mixed into the socket classes: every send and receive first re-arms the socket timeout to
    what is left before ``deadline``, so the sum of all waits is bounded, not each wait alone."""

    deadline: float | None = None

    def _arm(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("emit deadline passed")
        self.settimeout(left)  # type: ignore[attr-defined]

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().recv_into(*args, **kwargs)  # type: ignore[misc, no-any-return]

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._arm()
        return super().recv(*args, **kwargs)  # type: ignore[misc, no-any-return]

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().send(*args, **kwargs)  # type: ignore[misc, no-any-return]

    def sendall(self, data: Any, *args: Any) -> None:
        # sendall in pieces so a sink that reads slowly cannot hold one call past the deadline
        view = memoryview(data).cast("B")
        while view:
            self._arm()
            sent = super().send(view[:65536], *args)  # type: ignore[misc]
            view = view[sent:]


class _DeadlineSocket(_Deadline, socket.socket):
    pass


@functools.cache
def _deadline_ssl_socket() -> type[ssl.SSLSocket]:
    """The TLS twin of :class:`_DeadlineSocket`, made on the first https sink: ``ssl`` and
    ``http.client`` load with the blocking client's first connection, not at import, so a
    func-python function (which posts through ``sink_connections``) never loads them."""
    import ssl

    class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
        pass

    return _DeadlineSSLSocket


def _connect(
    address: tuple[str, int], timeout: float | None = None, source_address: tuple[str, int] | None = None, *args: Any
) -> socket.socket:
    raw = socket.create_connection(address, timeout, source_address, *args)
    wrapped = _DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
    wrapped.settimeout(timeout)
    return wrapped


def _set_deadline(conn: http.client.HTTPConnection, until: float | None) -> None:
    if isinstance(conn.sock, _Deadline):
        conn.sock.deadline = until


class Emitter:
    """Sends events in binary mode to one sink URL over one keep-alive connection per thread.

    http.client rather than requests or urllib3: a sink is a cluster-local address, so proxy
    lookups and pool bookkeeping buy nothing, and they cost most of ingest-webhook's CPU per
    delivery (measured for bench/RESULTS.md: requests ~400 us, urllib3 ~165 us, http.client
    ~58 us of CPU per 8 KB POST).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff: float = 0.1,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
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
        self.deadline = deadline
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before (a kept-alive one)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        import http.client

        if self._https:
            import ssl

            context = ssl.create_default_context()
            context.sslsocket_class = _deadline_ssl_socket()
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        conn._create_connection = _connect  # type: ignore[attr-defined]
        self._local.conn = conn
        return conn, False

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, headers: dict[str, str], body: bytes, until: float) -> int:
        """One exchange, over by ``until``; notes in ``reused`` whether it ran on a kept-alive connection."""
        conn, reused = self._connection()
        self._local.reused = reused
        try:
            if conn.sock is None:
                conn.timeout = max(0.001, min(self.timeout, until - time.monotonic()))
                conn.connect()
            _set_deadline(conn, until)
            conn.request("POST", self._path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
        except Exception:
            self._drop_connection()
            raise
        if answer.will_close:
            self._drop_connection()
        else:
            _set_deadline(conn, None)
        return answer.status

    def emit(self, event: Event, deadline: float | None = None) -> None:
        """Deliver ``event`` or raise :class:`Unavailable` by ``deadline`` (absolute, monotonic;
        default: ``self.deadline`` seconds from now). Share one deadline between the emits of one
        delivery so that together they stay inside the caller's answer time."""
        import http.client  # loaded by the first connection already: a dictionary lookup

        until = deadline if deadline is not None else deadline_after(self.deadline)
        headers, body = encode_binary(event)
        plan = Attempts(self.attempts, self.backoff, self.timeout, until)
        for pause in plan.pauses():
            if pause:
                time.sleep(pause)
            attempt_until = plan.window()
            if attempt_until is None:
                break
            try:
                try:
                    status = self._post(headers, body, attempt_until)
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    if getattr(self._local, "reused", False) is not True:
                        raise
                    # a kept-alive connection the sink had closed meanwhile: one immediate retry on a
                    # fresh connection (the failed one was dropped), not counted as an attempt
                    status = self._post(headers, body, attempt_until)
            except TimeoutError:
                plan.problem = "Timeout"
                continue
            except (OSError, http.client.HTTPException):
                plan.problem = "ConnectionError"
                continue
            settled = plan.settle(status)
            if settled:
                return
            if settled is None:
                break
        raise plan.error(event.id)

    def close(self) -> None:
        self._drop_connection()
