"""Sinks that misbehave on the wire, as a broken or overloaded broker ingress does.

A plain TCP server (no HTTP library) so the misbehaviour is exact: ``close`` reads the request,
waits ``delay`` seconds and closes without answering; ``trickle`` starts a valid answer and sends
it one byte every ``delay`` seconds for as long as the client listens; ``hang`` reads the request
and never answers. Every request received is counted.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Self


class HostileSink:
    def __init__(self, mode: str, delay: float = 1.8) -> None:
        if mode not in ("close", "trickle", "hang"):
            raise ValueError(mode)
        self.mode = mode
        self.delay = delay
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return False
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            piece = conn.recv(65536)
            if not piece:
                return False
            body += piece
        return True

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                if not self._read_request(conn):
                    return
                self.requests += 1
                if self.mode == "close":
                    time.sleep(self.delay)
                    return
                if self.mode == "hang":
                    self._stop.wait(120)
                    return
                answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n" + b"x-pad: " + b"." * 100000
                for byte in answer:
                    if self._stop.wait(self.delay):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return
