"""Counting a server process's instructions per request with valgrind's callgrind.

CPU seconds per delivery on a 2-core VM swing by a tenth or more from one round to the next
(bench/RESULTS.md), so a change worth 5% cannot be read from them. Instructions can: callgrind
counts what a process executes, the same for the same code and inputs whatever else the machine
is doing. A server runs under callgrind from its start; once it is warm its counters are zeroed
(``callgrind_control --zero``), it serves a known number of requests, and its counters are dumped
(``callgrind_control --dump``): the dump's total over the requests is the figure. The first such
window of a process reads high (on tests/test_bench_instructions.py's probe server, 1.6M more than
the next windows' 2.79M, which agree within 0.2%), so :func:`window` callers throw one away first.

What the count leaves out and puts in, so a reader does not take it for time:

- user space only: system calls, loopback TCP and scheduling cost time but no instructions here;
- a ``rep movsb`` copy counts one instruction per byte, so large copies weigh more than they cost;
- valgrind's virtual CPU has no SHA extensions, so OpenSSL hashes (an HMAC over the webhook
  body) with its generic code: libcrypto is counted apart (``Counted.crypto``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)
# callgrind_annotate's per-function lines: "1,234 ( 0.12%)  file:function [object]"
_FUNCTION_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+.*\[(.+)\]\s*$")


class Unavailable(RuntimeError):
    """valgrind (callgrind_control, callgrind_annotate) is not installed."""


def require_valgrind() -> None:
    missing = [tool for tool in ("valgrind", "callgrind_control", "callgrind_annotate") if not shutil.which(tool)]
    if missing:
        raise Unavailable(f"{', '.join(missing)} not found: install valgrind (Debian: apt-get install valgrind)")


@dataclass(frozen=True)
class Counted:
    """One dump: instructions in all, and those in libcrypto (see the module's note on SHA)."""

    total: int
    crypto: int

    def per(self, requests: int) -> Counted:
        return Counted(self.total // requests, self.crypto // requests)


def under_callgrind(python: Path, folder: Path, tag: str) -> Path:
    """A stand-in for ``python`` that runs it under callgrind, dumping to ``folder/<tag>.<pid>*``.

    Servers are started by path to their interpreter (tests/funcbuild.py starts
    ``python -m service.main``); handing them this script instead changes nothing else.
    """
    require_valgrind()
    script = folder / f"python-under-callgrind-{tag}"
    script.write_text(
        f'#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file="{folder}/{tag}.%p" "{python}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def window(folder: Path, processes: Sequence[tuple[str, int]], work: Callable[[], None]) -> dict[str, Counted]:
    """What each ``(tag, pid)`` process executed while ``work`` ran: zeroed before, dumped after."""
    for _, pid in processes:
        zero(pid)
    work()
    return {tag: dump(folder, tag, pid) for tag, pid in processes}


def zero(pid: int) -> None:
    """Forget what the process executed so far (its start-up and warm-up)."""
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True, timeout=120)


def dump(folder: Path, tag: str, pid: int, timeout: float = 120.0) -> Counted:
    """Dump the process's counters since the last :func:`zero` and read them."""
    before = set(folder.glob(f"{tag}.{pid}*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        written = [path for path in set(folder.glob(f"{tag}.{pid}*")) - before if _TOTAL.search(_tail(path))]
        if written:
            return read(max(written, key=lambda path: path.stat().st_mtime))
        if time.monotonic() > deadline:
            raise RuntimeError(f"callgrind wrote no dump for {tag} (pid {pid}) in {timeout:g} s")
        time.sleep(0.1)


def read(path: Path) -> Counted:
    """The total of one callgrind dump, and the part spent in libcrypto."""
    found = _TOTAL.search(_tail(path))
    if found is None:
        raise ValueError(f"{path} holds no callgrind totals")
    listing = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    crypto = 0
    for line in listing.splitlines():
        matched = _FUNCTION_LINE.match(line)
        if matched and "libcrypto" in Path(matched.group(2)).name:
            crypto += int(matched.group(1).replace(",", ""))
    return Counted(int(found.group(1)), crypto)


def _tail(path: Path) -> str:
    """The end of a dump, where callgrind writes its totals (the file is complete once they are there)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 4096))
        return handle.read().decode("latin-1")
