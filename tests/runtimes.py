"""One function served by either runtime, for tests that must hold under both.

``functions-framework`` is how ``main.py`` runs locally (gunicorn gthread behind
functions-framework 3.10); ``func-python`` is what ``func deploy`` builds (hypercorn, see
:mod:`tests.funcbuild`). Both yield a :class:`Served` with the URL, the server's pid (for RSS
figures) and its log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import funcbuild
from tests.conftest import start_function, stop_function

RUNTIMES = ("functions-framework", "func-python")


@dataclass
class Served:
    runtime: str
    url: str
    pid: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


_BUILT: dict[str, tuple[Path, Path]] = {}


def func_python(name: str, work: Path) -> tuple[Path, Path]:
    """The python and build root of ``name`` built as func builds it from the current tree: once per
    test process (the venv itself is cached between runs by :mod:`tests.funcbuild`)."""
    if name not in _BUILT:
        build = funcbuild.build_root(name, work)
        with funcbuild.func_venv(name, build) as python:
            _BUILT[name] = python, build
    return _BUILT[name]


@contextmanager
def serve(name: str, runtime: str, env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    if runtime == "functions-framework":
        running = start_function(name, env, tmp_path)
        try:
            yield Served(runtime, running.url, running.process.pid, running.log)
        finally:
            stop_function(running)
        return
    python, build = func_python(name, tmp_path / f"func-{name}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / f"{name}-func-python.log"
    process = funcbuild.start(python, build, env, log)
    try:
        yield Served(runtime, process.url, process.process.pid, log)
    finally:
        process.stop()
