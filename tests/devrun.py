"""Run ``codex-pipeline dev`` as a subprocess for tests, as a user runs it (``make run``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "codex-pipeline")]


class DevProcess:
    def __init__(self, state: Path, env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.state = state
        self.output = state.parent / f"{state.name}-dev-{time.monotonic_ns()}.out"
        state.mkdir(parents=True, exist_ok=True)
        (state / "dev.json").unlink(missing_ok=True)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env = full_env
        self.process = subprocess.Popen(
            [*CLI, "dev", "--port", "0", "--state", str(state), *(args or [])],
            cwd=ROOT,
            env=full_env,
            stdout=self.output.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.info = self._wait_info()

    def _wait_info(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        path = self.state / "dev.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"dev exited with {self.process.returncode}:\n{self.text()}")
            if path.is_file():
                try:
                    info: dict[str, Any] = json.loads(path.read_text())
                    if info.get("pid") == self.process.pid:
                        return info
                except ValueError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"dev did not start in {timeout}s:\n{self.text()}")

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.is_file() else ""

    def replay(self, example: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "replay", "--state", str(self.state), str(example), *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=self.env,
        )

    def records(self, topic: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.info['router']}/topics/{topic}?limit=1000", timeout=5)
        answer.raise_for_status()
        records: list[dict[str, Any]] = answer.json()["records"]
        return records

    def wait_for(self, condition: Any, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; dev output:\n{self.text()}")
            if self.process.poll() is not None:
                raise AssertionError(f"dev exited with {self.process.returncode}:\n{self.text()}")
            time.sleep(0.1)

    def interrupt(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def wait_for_functions_gone(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        for url in self.info["functions"].values():
            while True:
                try:
                    requests.get(f"{url}/health/liveness", timeout=1)
                except requests.ConnectionError:
                    break
                except requests.Timeout:  # shutting down gracefully, finishing a request in flight
                    pass
                assert time.monotonic() < deadline, f"{url} still answers after dev was killed"
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all (its functions die with it)."""
        self.process.kill()
        self.process.wait(timeout=10)
