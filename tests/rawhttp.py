"""HTTP/1.1 spoken by hand over a socket, for clients that lie, trickle or never finish.

No HTTP library would send a ``Content-Length`` it does not honour or a body that never ends,
so the hostile tests write the bytes themselves and read the answer as it comes.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    head: bytes
    body: bytes
    after: float  # seconds from the first byte sent to the status line received
    sent: int  # body bytes the server took before answering


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)


def request_head(url: str, headers: dict[str, str], method: str = "POST", path: str = "/") -> bytes:
    host = urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse(data: bytes, closed: bool = False) -> tuple[int, bytes, bytes] | None:
    """Status, head and body once complete (by Content-Length, else by the server closing)."""
    if b"\r\n\r\n" not in data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if (length is None and not closed) or (length is not None and len(body) < length):
        return None
    return status, head, body


def exchange(url: str, head: bytes, body: Iterable[bytes], timeout: float = 30.0) -> RawAnswer:
    """Send ``head`` then the pieces of ``body`` until the server answers (or stops taking them);
    return the answer. The server answering before the body is complete is the point."""
    started = time.monotonic()
    received = b""
    sent = 0
    with connect(url, timeout) as sock:
        sock.sendall(head)
        pieces = iter(body)
        sending = True
        while time.monotonic() - started < timeout:
            readable, _, _ = select.select([sock], [], [], 0 if sending else 0.5)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received += chunk
                    parsed = _parse(received)
                    if parsed:
                        return RawAnswer(parsed[0], parsed[1], parsed[2], time.monotonic() - started, sent)
                elif received or not sending:
                    break
                continue
            if sending:
                piece = next(pieces, None)
                if piece is None:
                    sending = False
                    continue
                try:
                    sock.sendall(piece)
                    sent += len(piece)
                except (BrokenPipeError, ConnectionResetError):
                    sending = False
    parsed = _parse(received, closed=True)
    if parsed is None:
        raise AssertionError(f"no complete answer after {time.monotonic() - started:.1f}s: {received[:200]!r}")
    return RawAnswer(parsed[0], parsed[1], parsed[2], time.monotonic() - started, sent)


def chunked(total: int, piece: int = 256 * 1024) -> Iterable[bytes]:
    """A chunked body of ``total`` bytes, produced lazily (never held in memory)."""
    block = b" " * piece
    left = total
    while left > 0:
        size = min(piece, left)
        yield f"{size:x}\r\n".encode() + block[:size] + b"\r\n"
        left -= size
    yield b"0\r\n\r\n"


def group_rss(pid: int) -> int:
    """Resident memory in bytes of ``pid`` and every process in its process group (gunicorn's
    master and workers; hypercorn is one process)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(entry) != pid and int(fields[2]) != os.getpgid(pid):
                continue
            if int(entry) != pid and int(fields[2]) == os.getpgid(os.getpid()):
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total
