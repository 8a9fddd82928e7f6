"""Reproduce func 1.18+'s Python build of one function, outside a cluster.

func takes the deployed folder as ``f/`` and writes a ``service`` project beside it that
depends on ``func-python==0.8.1`` and ``function @ file://…/f``; ``service/main.py`` imports
``new`` (else ``handle``) from ``function`` and calls ``func_python.http.serve``; the start
command is ``python -m service.main`` listening on ``LISTEN_ADDRESS``. Here the deployed folder
is what ``codex-pipeline bundle NAME`` writes. The venv (func-python, cloudevents 2.x,
hypercorn and the library's requirements) is built once per function and dependency set and
cached under the temp dir; every run reinstalls ``function`` and ``service`` from the fresh
copy (``--no-deps``) so the code under test is always the current tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codex_pipeline.cli.bundle import bundle
from tests.conftest import ROOT, free_port

FUNC_PYTHON = "func-python==0.8.1"
CACHE = Path(os.environ.get("CODEX_FUNC_BUILD_CACHE", Path(tempfile.gettempdir()) / "codex-pipeline-func-build"))

SERVICE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "service"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["{func_python}", "function @ file://{f}"]

[tool.setuptools]
packages = ["service"]
"""

SERVICE_MAIN = """\
import logging

from func_python.http import serve

try:
    from function import new as handler
except ImportError:
    from function import handle as handler


def main():
    logging.info("functions middleware invoking user function")
    serve(handler)


if __name__ == "__main__":
    main()
"""


def function_names() -> list[str]:
    """Every function folder on the tree (they land over time)."""
    return sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "function" / "__init__.py").is_file())


def build_root(name: str, work: Path) -> Path:
    """``work/build`` holding ``f/`` (the deployed files) and func's ``service`` wrapper."""
    deployed = bundle(ROOT, name, work / "bundle")
    build = work / "build"
    shutil.copytree(deployed, build / "f")
    (build / "service").mkdir()
    (build / "service" / "__init__.py").write_text("")
    (build / "service" / "main.py").write_text(SERVICE_MAIN)
    (build / "pyproject.toml").write_text(SERVICE_PYPROJECT.format(func_python=FUNC_PYTHON, f=build / "f"))
    return build


def _key(name: str, build: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"{name}\n{sys.version}\n{FUNC_PYTHON}\n".encode())
    digest.update((build / "f" / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def func_venv(name: str, build: Path) -> Iterator[Path]:
    """The python of a venv with ``build`` installed as func installs it (held locked)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / f"{name}-{_key(name, build)}"
    with (CACHE / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = venv / "bin" / "python"
        complete = venv / ".complete"
        if not complete.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            _pip(python, "setuptools>=69", "wheel")
            _pip(python, str(build))  # resolves func-python and function @ file://…/f with their deps
        else:
            # unmarked while the function is swapped in: a run killed half-way leaves a venv the
            # next run rebuilds rather than one that lacks half the library
            complete.unlink()
            _pip(python, "--no-deps", "--no-build-isolation", "--force-reinstall", str(build / "f"), str(build))
        complete.touch()
        yield python


class FuncProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, started: float, ready: float):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.cold_start = ready - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(python: Path, build: Path, env: dict[str, str], log: Path, timeout: float = 30.0) -> FuncProcess:
    """``python -m service.main`` in ``build`` on a free port; returns once liveness answers 200."""
    import requests

    port = free_port()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    full_env = {**clean, **env, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [str(python), "-m", "service.main"], cwd=build, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service.main exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/liveness", timeout=0.5).status_code == 200:
                return FuncProcess(process, port, log, started, time.monotonic())
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"service.main did not answer in {timeout}s:\n{log.read_text()}")
