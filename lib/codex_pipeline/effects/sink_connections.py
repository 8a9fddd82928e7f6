"""Kept-alive HTTP/1.1 connections from the event loop to one sink, for :class:`AsyncEmitter`.

A sink (a KafkaSink, a Broker's ingress, the local router) is one cluster-local HTTP/1.1 server
that answers each POST with a status and a short body. Measured on the 2-core machine of
bench/RESULTS.md (13 KB POST over a kept connection, CPU of the posting process): httpx 1.3 ms,
aiosonic 0.63 ms, aiohttp 0.21 ms, h11 over asyncio streams 0.18 ms, this module 0.05 ms. Three
such POSTs make up most of what the ingest -> route-task chain adds to func-python's own cost
(issue 14), so the exchange is written here over asyncio streams: one request written as one
buffer, the response read by its framing (Content-Length, chunked, or to the end of the
connection), the connection kept when HTTP/1.1 allows it. TLS (an ``https://`` sink) goes
through the same streams with the default context.

What a sink might send and this module refuses to guess at (a malformed status line, a header
block over 64 KiB) fails the exchange; the emitter then retries on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class MalformedAnswer(OSError):
    """The sink's answer is not HTTP/1.x as written: the connection is dropped, the attempt failed."""


class StaleConnection(ConnectionError):
    """A kept-alive connection the sink had closed before answering: safe to retry at once."""


class _Connection:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def close(self) -> None:
        self.writer.close()


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
        self._request_line = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("latin-1")
        self._idle: list[_Connection] = []

    async def _open(self) -> _Connection:
        context = None
        if self._tls:
            import ssl

            context = ssl.create_default_context()
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=context, limit=HEAD_LIMIT)
        return _Connection(reader, writer)

    def _head(self, headers: dict[str, str], length: int) -> bytes:
        lines = [self._request_line]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(f"Content-Length: {length}\r\n\r\n".encode("latin-1"))
        return b"".join(lines)

    async def post(self, headers: dict[str, str], body: bytes) -> int:
        """POST ``body`` and return the status; raises :class:`StaleConnection` when a reused
        connection turned out closed before any answer (the caller retries at once)."""
        head = self._head(headers, len(body))
        connection = self._idle.pop() if self._idle else await self._open()
        reused = connection.used
        connection.used = True
        try:
            connection.writer.write(head + body)
            status, keep = await _read_answer(connection.reader)
        except asyncio.IncompleteReadError as error:
            connection.close()
            if reused and not error.partial:
                raise StaleConnection("the sink had closed the kept-alive connection") from None
            raise ConnectionError("the sink closed the connection mid-answer") from None
        except BaseException:  # timeouts and cancellation included: the exchange state is unknown
            connection.close()
            raise
        if keep:
            self._idle.append(connection)
        else:
            connection.close()
        return status

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one answer, its body read past, and whether the connection can be kept."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise MalformedAnswer(f"answer head over {HEAD_LIMIT} bytes") from None
        status, version, fields = _parse_head(head)
        if not 100 <= status < 200:  # 1xx interim answers precede the real one
            break
    connection = fields.get("connection", "").lower()
    keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in _NO_BODY_STATUS:
        return status, keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        await _skip_chunked(reader)
        return status, keep
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise MalformedAnswer(f"Content-Length {length!r}")
        await reader.readexactly(int(length))
        return status, keep
    await reader.read()  # framed by the end of the connection
    return status, False


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


async def _skip_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedAnswer(f"chunk size {size_line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return
        await reader.readexactly(size + 2)
