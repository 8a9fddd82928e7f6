"""Kept-alive HTTP/1.1 connections from the event loop to one sink, for :class:`AsyncEmitter`.

A sink (a KafkaSink, a Broker's ingress, the local router) is one cluster-local HTTP/1.1 server
that answers each POST with a status and a short body. Measured on the 2-core machine of
bench/RESULTS.md (13 KB POST over a kept connection, CPU of the posting process, one run): httpx
1.05 ms, aiohttp 0.21 ms, h11 over asyncio streams 0.16 ms, this module 0.07 ms (0.08 ms when it
read the answer through asyncio streams, in the round before). Three such POSTs make up
most of what the ingest -> route-task chain adds to func-python's own cost (issue 14), so the
exchange is written here as an :class:`asyncio.Protocol`: one request written as one buffer, the
answer read by its framing (Content-Length, chunked, or to the end of the connection) straight
from the bytes the loop hands over, with no stream reader and no task in between, and the
connection kept when HTTP/1.1 allows it. TLS (an ``https://`` sink) goes through the same
protocol with the default context.

What a sink might send and this module refuses to guess at (a malformed status line, a header
block over 64 KiB, an answer body over 1 MiB, bytes nobody asked for) fails the exchange; the
emitter then retries on a new connection.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
BODY_LIMIT = 1024 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
_PLAIN_START = b"HTTP/1.1 2"
_PLAIN_TAIL = b"\r\ncontent-length: 0\r\n\r\n"


class MalformedAnswer(OSError):
    """The sink's answer is not HTTP/1.x as written: the connection is dropped, the attempt failed."""


class StaleConnection(ConnectionError):
    """A kept-alive connection the sink had closed before answering: safe to retry at once."""


class _Connection(asyncio.Protocol):
    """One connection to the sink and the answer it is waiting for (one exchange at a time).

    The answer is parsed from the buffer each time bytes arrive: a sink's answers are a few
    hundred bytes, so reading them again costs less than keeping a parser's state.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.used = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def begin(self, waiter: asyncio.Future[tuple[int, bool]]) -> None:
        self.buffer.clear()
        self.waiter = waiter

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self.buffer += data
        try:
            answer = _parse_answer(self.buffer, ended=False)
        except MalformedAnswer as error:
            waiter.set_exception(error)
            self.close()
            return
        if answer is not None:
            self.waiter = None
            waiter.set_result(answer)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if not self.buffer:
            if self.used:
                waiter.set_exception(StaleConnection("the sink had closed the kept-alive connection"))
            else:
                waiter.set_exception(ConnectionError("the sink closed the connection before answering"))
            return
        try:
            answer = _parse_answer(self.buffer, ended=True)
        except MalformedAnswer as error:
            waiter.set_exception(error)
            return
        if answer is None:
            waiter.set_exception(ConnectionError("the sink closed the connection mid-answer"))
        else:
            waiter.set_result((answer[0], False))

    def usable(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SinkConnections:
    """Idle connections to one sink, reused newest first; one exchange per connection at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sink URL must be http(s)://host[:port][/path], got {url!r}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = parts.port is None or parts.port == (443 if self._tls else 80)
        authority = parts.hostname if default_port else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # an IPv6 literal keeps its brackets in Host
            authority = f"[{parts.hostname}]" + ("" if default_port else f":{parts.port}")
        self._request_line = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Deadlines of the answers awaited, and one timer for the earliest of them: arming and
        # cancelling a timer per exchange cost more than the rest of a kept-alive exchange's Python.
        self._deadlines: dict[asyncio.Future[tuple[int, bool]], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def _open(self) -> _Connection:
        context = None
        if self._tls:
            import ssl

            context = ssl.create_default_context()
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self._host, self._port, ssl=context)
        return connection

    def _head(self, headers: dict[str, str], length: int) -> bytes:
        """The request head, refused when a header name or value would break its line."""
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        # each line holds one CR and one LF of its own: any more came from a name or a value
        if lines.count("\r") != len(headers) or lines.count("\n") != len(headers):
            raise ValueError("a header name or value holds a line break")
        return f"{self._request_line}{lines}Content-Length: {length}\r\n\r\n".encode("latin-1")

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
        return None  # every kept connection was closed by the sink meanwhile (an idle timeout)

    async def post(self, headers: dict[str, str], body: bytes, until: float | None = None) -> int:
        """POST ``body`` and return the status, by ``until`` (the running loop's clock) if given.

        Raises :class:`TimeoutError` past ``until``, and :class:`StaleConnection` when a reused
        connection turned out closed before any answer (the caller retries at once).
        """
        exchange = self.send(headers, body, until) or await self.open_and_send(headers, body, until)
        return await exchange.answer()

    def send(
        self,
        headers: dict[str, str],
        body: bytes,
        until: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Exchange | None:
        """Write the request now on a kept connection, with nothing awaited; None when none is idle.

        Writing every sink's request before awaiting any answer is how route-task's two emits
        overlap without a task each. ``loop`` is the running loop when the caller holds it already:
        on Python 3.11 each ``asyncio.get_running_loop()`` is a ``getpid`` system call.
        """
        request = self._request(headers, body, loop)
        connection = self._idle_connection()
        return None if connection is None else self._write(connection, request, until)

    async def open_and_send(self, headers: dict[str, str], body: bytes, until: float | None = None) -> Exchange:
        """Open a new connection (by ``until``) and write the request on it."""
        request = self._request(headers, body)
        if until is None:
            connection = await self._open()
        else:
            async with asyncio.timeout_at(until):
                connection = await self._open()
        return self._write(connection, request, until)

    def _request(self, headers: dict[str, str], body: bytes, loop: asyncio.AbstractEventLoop | None = None) -> bytes:
        """The whole request as one buffer, on the running loop (a line-breaking header refused first)."""
        request = self._head(headers, len(body)) + body
        loop = loop or asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        return request

    def _write(self, connection: _Connection, request: bytes, until: float | None) -> Exchange:
        assert self._loop is not None and connection.transport is not None
        waiter: asyncio.Future[tuple[int, bool]] = self._loop.create_future()
        connection.begin(waiter)
        connection.used = True
        if until is not None:
            self._watch(waiter, until)
        connection.transport.write(request)
        return Exchange(self, connection, waiter)

    def _settled(self, exchange: Exchange, keep: bool) -> None:
        self._deadlines.pop(exchange.waiter, None)
        if keep and exchange.connection.usable():
            self._idle.append(exchange.connection)
        else:
            exchange.connection.close()

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Belong to ``loop``: what was kept for another loop (a test's earlier run) is dropped."""
        if self._loop is not None and not self._loop.is_closed():
            for connection in self._idle:
                connection.close()
        self._idle = []
        self._deadlines.clear()
        self._timer = None
        self._loop = loop

    def _watch(self, waiter: asyncio.Future[tuple[int, bool]], until: float) -> None:
        self._deadlines[waiter] = until
        timer = self._timer
        if timer is None or until < timer.when():
            if timer is not None:
                timer.cancel()
            assert self._loop is not None
            self._timer = self._loop.call_at(until, self._expire)

    def _expire(self) -> None:
        """Fail every answer past its deadline, then wait for the earliest one left."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        for waiter, until in list(self._deadlines.items()):
            if until <= now:
                del self._deadlines[waiter]
                if not waiter.done():
                    waiter.set_exception(TimeoutError("the sink did not answer in time"))
        if self._deadlines:
            self._timer = self._loop.call_at(min(self._deadlines.values()), self._expire)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        if idle:
            await asyncio.sleep(0)  # let the transports finish closing on this loop


class Exchange:
    """A request written to the sink and the answer it awaits."""

    __slots__ = ("connection", "connections", "waiter")

    def __init__(
        self, connections: SinkConnections, connection: _Connection, waiter: asyncio.Future[tuple[int, bool]]
    ) -> None:
        self.connections = connections
        self.connection = connection
        self.waiter = waiter

    async def answer(self) -> int:
        """The answer's status; the connection goes back to the idle ones when it can be kept."""
        try:
            status, keep = await self.waiter
        except BaseException:  # timeouts and cancellation included: the exchange state is unknown
            self.connections._settled(self, keep=False)
            raise
        self.connections._settled(self, keep)
        return status


def _parse_answer(buffer: bytearray, *, ended: bool) -> tuple[int, bool] | None:
    """(status, keep the connection) once ``buffer`` holds a whole answer, None while it does not.

    ``ended``: the sink closed the connection, which completes an answer framed by its end.
    """
    plain = _plain_answer(buffer)
    if plain is not None:
        return plain
    start = 0
    while True:
        end = buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buffer) - start > HEAD_LIMIT:
                raise MalformedAnswer(f"answer head over {HEAD_LIMIT} bytes")
            return None
        if end - start > HEAD_LIMIT:
            raise MalformedAnswer(f"answer head over {HEAD_LIMIT} bytes")
        status, version, fields = _parse_head(bytes(buffer[start:end]))
        start = end + 4
        if not 100 <= status < 200:  # 1xx interim answers precede the real one
            break
    connection = fields.get("connection", "").lower()
    keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in _NO_BODY_STATUS:
        return _whole(buffer, start, status, keep)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunked_end = _chunked_end(buffer, start)
        return None if chunked_end is None else _whole(buffer, chunked_end, status, keep)
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise MalformedAnswer(f"Content-Length {length!r}")
        if int(length) > BODY_LIMIT:
            raise MalformedAnswer(f"answer body over {BODY_LIMIT} bytes")
        if len(buffer) < start + int(length):
            return None
        return _whole(buffer, start + int(length), status, keep)
    if len(buffer) - start > BODY_LIMIT:
        raise MalformedAnswer(f"answer body over {BODY_LIMIT} bytes")
    return (status, False) if ended else None  # framed by the end of the connection


def _plain_answer(buffer: bytearray) -> tuple[int, bool] | None:
    """What a Knative sink answers nearly always, told without the full parse: one HTTP/1.1 2xx
    head ending in ``content-length: 0``, naming no other framing; None for anything else.

    Conservative on purpose: a word that could change the framing anywhere in the head (even in
    a value) sends it to the full parse, which tests/test_sink_connections.py holds this to.
    """
    if len(buffer) > HEAD_LIMIT or not buffer.startswith(_PLAIN_START) or not buffer[9:12].isdigit():
        return None
    head = bytes(buffer).lower()
    if (
        buffer[12:13] != b" "
        or not head.endswith(_PLAIN_TAIL)
        or head.count(b"\r\n\r\n") != 1
        or head.count(b"content-length") != 1
        or b"connection" in head
        or b"transfer-encoding" in head
    ):
        return None
    return int(buffer[9:12]), True


def _whole(buffer: bytearray, end: int, status: int, keep: bool) -> tuple[int, bool]:
    """The answer ends at ``end``: a connection with bytes past it is not kept (nobody asked for them)."""
    return status, keep and len(buffer) == end


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise MalformedAnswer(f"status line {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    return int(code), version, fields


def _chunked_end(buffer: bytearray, start: int) -> int | None:
    """Where a chunked body starting at ``start`` ends (trailers included), None while incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[position:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedAnswer(f"chunk size {bytes(buffer[position:line_end])[:40]!r}") from None
        if size < 0 or line_end - start > BODY_LIMIT:
            raise MalformedAnswer(f"chunk size {size} past a {BODY_LIMIT} byte body")
        position = line_end + 2
        if size == 0:
            while True:  # trailers, then the blank line
                trailer_end = buffer.find(b"\r\n", position)
                if trailer_end < 0:
                    return None
                if trailer_end == position:
                    return position + 2
                position = trailer_end + 2
        if len(buffer) < position + size + 2:
            if size > BODY_LIMIT:
                raise MalformedAnswer(f"chunk size {size} past a {BODY_LIMIT} byte body")
            return None
        position += size + 2
