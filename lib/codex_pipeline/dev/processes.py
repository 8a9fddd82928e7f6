"""Each function as its own functions-framework process, as ``functions-framework --source
functions/<name>/main.py --target handle`` serves it (ARCHITECTURE "One function's folder").

Each function runs in its own process group, which ``stop`` signals as a whole (master and
workers). Children die with ``dev`` even when it is killed with SIGKILL (Linux parent-death signal), so
a crashed ``dev`` never leaves functions holding their ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# functions-framework serves with gunicorn's gthread worker, where a slow client holds one thread from
# its first byte to the end of its body (gunicorn has no header timeout). Its default, cores x 4 threads,
# lets 8 slow clients stall every delivery on 2 cores; threads are cheap for this I/O-bound work, so
# local runs get 32 (THREADS in the environment still wins). Deployed functions run under func-python
# (hypercorn), where a slow client holds no thread.
GUNICORN_THREADS = "32"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # SIGKILL, not SIGTERM: dev itself died hard, and a gunicorn master caught in its TERM handler
    # can hang; its workers see their parent change and exit on their own.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Served:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])


def functions_framework_command(source: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that serves ``source``'s ``handle`` on ``host``:``port`` with this interpreter's
    functions-framework (not whatever PATH finds, so it works with the venv activated or not)."""
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        "handle",
        "--host",
        host,
        "--port",
        str(port),
    ]


def start(name: str, source: Path, port: int, env: Mapping[str, str], log: Path) -> Served:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            functions_framework_command(source, port),
            env={"THREADS": GUNICORN_THREADS, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches the master and its workers
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    return Served(name, port, process, log)


def wait_ready(served: list[Served], timeout: float = 30.0) -> dict[str, str]:
    """Wait for each function's liveness probe; name -> problem for those that never came up."""
    import requests

    deadline = time.monotonic() + timeout
    waiting = {s.name: s for s in served}
    failed: dict[str, str] = {}
    while waiting and time.monotonic() < deadline:
        for name, item in list(waiting.items()):
            if item.process.poll() is not None:
                failed[name] = f"exited with {item.process.returncode}:\n{item.tail()}"
                del waiting[name]
                continue
            try:
                requests.get(f"{item.url}/health/liveness", timeout=0.5)
            except requests.RequestException:
                continue
            del waiting[name]
        if waiting:
            time.sleep(0.05)
    for name, item in waiting.items():
        failed[name] = f"not answering /health/liveness after {timeout:g}s:\n{item.tail()}"
    return failed


def _signal_group(item: Served, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(item.process.pid, signum)


def stop(served: list[Served], timeout: float = 5.0) -> None:
    """SIGTERM to each function's process group, SIGKILL to the groups still there after ``timeout``."""
    for item in served:
        _signal_group(item, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for item in served:
        try:
            item.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(item, signal.SIGKILL)
            item.process.wait()
        _signal_group(item, signal.SIGKILL)  # workers that outlived their master


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != "PORT"}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def is_alive(served: Served) -> bool:
    return served.process.poll() is None
