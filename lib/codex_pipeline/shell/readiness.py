"""A readiness check that answers within a budget, whatever the check behind it does.

Kubernetes gives a readiness probe 1 s by default, and func-python calls ``ready()`` on its event
loop; a database check that waits out a 5 s connect timeout would fail the probe for the wrong
reason (and stall every request behind it). So the check runs in a background thread: the probe
waits for it up to the budget, then answers "not ready" with why, and a later probe picks up the
result of a check that has finished meanwhile. At most one check runs at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Check = Callable[[], tuple[bool, str]]


class BoundedCheck:
    def __init__(self, check: Check, *, what: str, budget: float = 0.8) -> None:
        self._check = check
        self._what = what
        self.budget = budget
        self._lock = threading.Lock()
        self._done: threading.Event | None = None
        self._last: tuple[bool, str] = (False, f"{what}: not checked yet")

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            done = self._done
            if done is None or done.is_set():
                done = self._done = threading.Event()
                threading.Thread(target=self._run, args=(done,), name=f"ready-{self._what}", daemon=True).start()
        if done.wait(self.budget):
            return self._last
        return False, f"{self._what}: no answer within {self.budget:g}s (still checking)"

    def _run(self, done: threading.Event) -> None:
        try:
            self._last = self._check()
        except Exception as exc:  # a probe answers; it never raises
            self._last = (False, f"{self._what}: check failed ({type(exc).__name__})")
        finally:
            done.set()
