"""bench/instructions.py against a real server process under valgrind's callgrind.

bench/func_instructions.py reads issue 14's split from these counts, so what the instrument
promises is held here: the count covers what was executed between zero and dump and nothing
before, the same requests count the same again, and libcrypto's share is told apart.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import instructions

pytestmark = pytest.mark.skipif(
    any(not __import__("shutil").which(tool) for tool in ("valgrind", "callgrind_control", "callgrind_annotate")),
    reason="valgrind is not installed (Debian: apt-get install valgrind)",
)

# A one-thread HTTP server: ``x-loops`` turns of a Python loop per request, ``x-hash`` SHA-256 over
# that many KiB (OpenSSL's libcrypto, as ingest-webhook's HMAC).
SERVER = """
import hashlib
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        total = 0
        for n in range(int(self.headers.get("x-loops", "0"))):
            total += n
        kib = int(self.headers.get("x-hash", "0"))
        if kib:
            hashlib.sha256(b"x" * 1024 * kib).hexdigest()
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def counted_server(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    program = tmp_path / "server.py"
    program.write_text(SERVER)
    python = instructions.under_callgrind(Path(sys.executable), tmp_path, "probe")
    process = subprocess.Popen(
        [str(python), str(program)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield port, process.pid, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=60)


def requests(port: int, count: int, **headers: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            connection.request("POST", "/", body=b"", headers={f"x-{k}": str(v) for k, v in headers.items()})
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 202
    finally:
        connection.close()


def counted(port: int, pid: int, folder: Path, count: int, **headers: int) -> instructions.Counted:
    window = instructions.window(folder, [("probe", pid)], lambda: requests(port, count, **headers))
    return window["probe"].per(count)


def settled(port: int, pid: int, folder: Path, **headers: int) -> None:
    """Warm the server, then the first counted window (which reads high) thrown away."""
    requests(port, 30, **headers)
    counted(port, pid, folder, 10, **headers)


def test_counts_what_ran_between_zero_and_dump_and_the_same_again(counted_server: tuple[int, int, Path]) -> None:
    port, pid, folder = counted_server
    settled(port, pid, folder, loops=0)
    plain = counted(port, pid, folder, 10, loops=0)
    looping = counted(port, pid, folder, 10, loops=20_000)
    again = counted(port, pid, folder, 10, loops=0)

    assert plain.total > 10_000  # a request through http.server is tens of thousands at least
    # 20,000 turns of an interpreted loop are several instructions each, beyond the plain request
    assert looping.total - plain.total > 20_000 * 5
    # no start-up in the count, and the same requests count the same (0.2% apart when written)
    assert abs(again.total - plain.total) < 0.02 * plain.total
    assert plain.crypto == 0


def test_libcrypto_is_told_apart(counted_server: tuple[int, int, Path]) -> None:
    port, pid, folder = counted_server
    settled(port, pid, folder, hash=0)
    plain = counted(port, pid, folder, 5, hash=0)
    hashing = counted(port, pid, folder, 5, hash=64)

    assert plain.crypto == 0
    assert hashing.crypto > 64 * 1024  # SHA-256 costs more than an instruction per byte
    # the extra cost of hashing is libcrypto's, give or take the buffer the request builds
    assert hashing.total - plain.total == pytest.approx(hashing.crypto, rel=0.2)
