"""The event loop's HTTP/1.1 exchange with a sink (sink_connections.py), against real sockets.

A sink is any HTTP/1.1 server: the answers below are written byte for byte by a scripted TCP
server, one per framing a server may choose (length, chunked, end of connection, an interim
100, HTTP/1.0), plus a server that closes kept-alive connections behind the client's back.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_pipeline.effects.async_emit import AsyncEmitter
from codex_pipeline.effects.sink_connections import MalformedAnswer, SinkConnections, StaleConnection
from codex_pipeline.errors import Unavailable
from codex_pipeline.wire.events import Event

Answer = Callable[[int], bytes]  # request number on its connection -> bytes to send back
CHUNKED = (
    b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
)
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"


class ScriptedServer:
    """Reads whole requests (head + Content-Length body) and answers each with scripted bytes."""

    def __init__(self, answer: Answer, *, close_after: int | None = None, dribble: int = 0) -> None:
        self.answer = answer
        self.dribble = dribble  # send the answer this many bytes at a time (0: at once)
        self.close_after = close_after  # close each connection after this many answers
        self.requests: list[bytes] = []
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/sink?topic=raw"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        served = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                self._send(conn, self.answer(served))
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    return

    def _send(self, conn: socket.socket, answer: bytes) -> None:
        if not self.dribble:
            conn.sendall(answer)
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(answer), self.dribble):
            conn.sendall(answer[start : start + self.dribble])
            time.sleep(0.001)

    def close(self) -> None:
        self._server.close()


@contextmanager
def scripted(answer: Answer, **options: int) -> Iterator[ScriptedServer]:
    server = ScriptedServer(answer, **options)
    try:
        yield server
    finally:
        server.close()


def exchange(url: str, count: int, body: bytes = b'{"n":1}') -> list[int]:
    async def run() -> list[int]:
        connections = SinkConnections(url)
        try:
            return [
                await connections.post({"content-type": "application/json", "ce-id": str(n)}, body)
                for n in range(count)
            ]
        finally:
            await connections.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("content-length", lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello"),
        ("empty", lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"),
        ("chunked with trailer", lambda n: CHUNKED),
        ("interim 100 first", lambda n: INTERIM),
        ("204 without length", lambda n: b"HTTP/1.1 204 No Content\r\n\r\n"),
    ],
)
def test_kept_alive_answers_of_every_framing_reuse_one_connection(name: str, answer: Answer) -> None:
    with scripted(answer) as server:
        statuses = exchange(server.url, 3)
    assert statuses == [204 if name.startswith("204") else 202] * 3
    assert server.connections == 1, name


@pytest.mark.parametrize("answer", [CHUNKED, INTERIM], ids=["chunked", "interim"])
def test_an_answer_that_arrives_a_few_bytes_at_a_time_is_read_whole(answer: bytes) -> None:
    with scripted(lambda n: answer, dribble=3) as server:
        assert exchange(server.url, 2) == [202, 202]
    assert server.connections == 1


def test_the_request_is_what_the_sink_expects() -> None:
    body = b"x" * 70_000  # larger than one socket read on either side
    with scripted(lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n") as server:
        exchange(server.url, 1, body)
    head, _, received = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /sink?topic=raw HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.url.split(':')[2].split('/')[0]}" in lines
    assert "Content-Length: 70000" in lines and "ce-id: 0" in lines
    assert received == body


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("connection: close", lambda n: b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
        ("HTTP/1.0", lambda n: b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n"),
    ],
)
def test_a_sink_that_closes_gets_a_new_connection_per_request(name: str, answer: Answer) -> None:
    with scripted(answer, close_after=1) as server:
        assert exchange(server.url, 3) == [202, 202, 202]
    assert server.connections == 3, name


def test_an_answer_framed_by_the_end_of_the_connection_is_read_to_the_end() -> None:
    with scripted(lambda n: b"HTTP/1.1 202 Accepted\r\n\r\nbody until close", close_after=1) as server:
        assert exchange(server.url, 2) == [202, 202]
    assert server.connections == 2


def test_a_kept_connection_the_sink_closed_while_idle_is_not_reused() -> None:
    """The sink keeps-alive in words but closes after each answer (an idle timeout): the close
    arrives while the connection is idle, so the next post opens a new one and nothing fails."""
    with scripted(lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", close_after=1) as server:

        async def run() -> list[int]:
            connections = SinkConnections(server.url)
            statuses = [await connections.post({}, b"a")]
            await asyncio.sleep(0.05)  # the server has closed by now
            statuses.append(await connections.post({}, b"b"))
            await connections.aclose()
            return statuses

        assert asyncio.run(run()) == [202, 202]
    assert len(server.requests) == 2
    assert server.connections == 2


def test_a_kept_connection_closed_before_its_answer_is_stale_and_retried_once() -> None:
    """The close races the next request (the sink read it and closed without a byte of answer):
    the post is stale, and the emitter retries it at once on a new connection, uncounted."""
    answers = [b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", b""]

    def answer(n: int) -> bytes:
        return answers[n]

    with scripted(answer, close_after=2) as server:

        async def run() -> None:
            connections = SinkConnections(server.url)
            assert await connections.post({}, b"a") == 202
            with pytest.raises(StaleConnection):
                await connections.post({}, b"b")
            await connections.aclose()

        asyncio.run(run())
        assert server.connections == 1

        emitter = AsyncEmitter(server.url, attempts=1)

        async def emit_twice() -> None:
            event = Event(id="e", source="s", type="t", data=b"{}")
            await emitter.emit(event)
            await emitter.emit(event)  # one attempt allowed: the stale retry is not counted
            await emitter.aclose()

        asyncio.run(emit_twice())
    # a and b, then the two emits: the second went stale on the first connection, its retry did not
    assert len(server.requests) == 5
    assert server.connections == 3


def test_an_answer_nobody_asked_for_drops_the_connection() -> None:
    """Bytes past the answer (a second answer to one request) leave the connection unusable."""
    doubled = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n" * 2
    with scripted(lambda n: doubled) as server:
        assert exchange(server.url, 2) == [202, 202]
    assert server.connections == 2


def test_a_sink_that_never_answers_times_out_and_the_connection_is_dropped() -> None:
    with scripted(lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\npart") as server:

        async def run() -> None:
            connections = SinkConnections(server.url)
            loop = asyncio.get_running_loop()
            with pytest.raises(TimeoutError):
                await connections.post({}, b"a", loop.time() + 0.2)
            assert connections._idle == []
            await connections.aclose()

        asyncio.run(run())


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 abc Broken\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2000000\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
)
def test_a_malformed_answer_fails_the_exchange(answer: bytes) -> None:
    with scripted(lambda n: answer) as server, pytest.raises(MalformedAnswer):
        exchange(server.url, 1)


def test_a_malformed_answer_is_unavailable_to_the_emitter() -> None:
    with scripted(lambda n: b"garbage\r\n\r\n") as server:
        emitter = AsyncEmitter(server.url, attempts=2, backoff=0.01)

        async def run() -> None:
            try:
                await emitter.emit(Event(id="e", source="s", type="t", data=b"{}"))
            finally:
                await emitter.aclose()

        with pytest.raises(Unavailable, match="ConnectionError"):
            asyncio.run(run())
        assert len(server.requests) == 2


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    with scripted(lambda n: b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n") as server:

        async def run() -> None:
            connections = SinkConnections(server.url)
            with pytest.raises(ValueError, match="line break"):
                await connections.post({"x-evil": "a\r\nInjected: 1"}, b"")
            await connections.aclose()

        asyncio.run(run())
    assert server.requests == []


_HEAD_LINES = [
    b"HTTP/1.1 202 Accepted",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.0 202 Accepted",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 2x2 Odd",
    b"HTTP/1.1 202",
    b"content-length: 0",
    b"Content-Length: 0",
    b"content-length: 5",
    b"connection: close",
    b"Connection: keep-alive",
    b"transfer-encoding: chunked",
    b"x-note: content-length",
    b"date: Mon, 30 Nov 2026 00:00:00 GMT",
    b"",
]


@given(st.lists(st.sampled_from(_HEAD_LINES), min_size=1, max_size=6), st.binary(max_size=8))
def test_the_plain_answer_shortcut_agrees_with_the_full_parse(lines: list[bytes], tail: bytes) -> None:
    """_plain_answer either declines or gives what the full parse gives, on heads built to trip it."""
    from codex_pipeline.effects import sink_connections

    buffer = bytearray(b"\r\n".join(lines) + b"\r\n\r\n" + tail)
    quick = sink_connections._plain_answer(buffer)
    if quick is None:
        return
    assert quick[1] is True
    try:
        full = sink_connections._parse_answer(buffer, ended=False)
    except MalformedAnswer:
        full = None
    assert full == quick


def test_a_sinks_everyday_answer_takes_the_shortcut() -> None:
    from codex_pipeline.effects import sink_connections

    answer = bytearray(b"HTTP/1.1 202 Accepted\r\ndate: Mon, 30 Nov 2026 00:00:00 GMT\r\ncontent-length: 0\r\n\r\n")
    assert sink_connections._plain_answer(answer) == (202, True)
    assert (
        sink_connections._plain_answer(
            bytearray(b"HTTP/1.1 202 Accepted\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        )
        is None
    )
