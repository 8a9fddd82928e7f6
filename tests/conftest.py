"""Shared fixtures: a real PostgreSQL database per test session, free ports, running functions.

PostgreSQL: ``CODEX_TEST_DATABASE_URL`` (default: this machine's server on 127.0.0.1:5432,
database ``test``). Each session creates its own database and drops it at the end, so
parallel runs never collide. With ``CI=true`` an unreachable server fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_pipeline.dev import processes
from codex_pipeline.dev.processes import free_port as free_port  # the one the tests import from here

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _throwaway_cluster(tmp: Path) -> tuple[str, list[str]] | None:
    """Start a private PostgreSQL from installed binaries (laptops without a server)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = shutil.which("initdb") or (str(candidates[-1]) if candidates else None)
    if not initdb:
        return None
    bindir = Path(initdb).parent
    data = tmp / "pgdata"
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        prefix = ["runuser", "-u", "postgres", "--"]
        tmp.chmod(0o777)
    subprocess.run(
        [*prefix, str(initdb), "-A", "trust", "--no-sync", "-U", "postgres", "-D", str(data)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-w",
            "-D",
            str(data),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {tmp} -F",
            "-l",
            str(tmp / "pg.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    stop = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    import psycopg

    url = os.environ.get("CODEX_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    stop: list[str] | None = None
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} is unreachable and CI=true: {exc}")
        tmp = Path(tempfile.mkdtemp(prefix="codex-pg-"))
        try:
            started = _throwaway_cluster(tmp)
        except (subprocess.CalledProcessError, OSError) as start_error:
            pytest.skip(f"no PostgreSQL at {url} ({exc}) and a throwaway cluster failed: {start_error}")
        if started is None:
            pytest.skip(f"no PostgreSQL at {url} and no initdb installed to start one")
        url, stop = started
    yield url
    if stop:
        subprocess.run(stop, check=False, capture_output=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this test session (per xdist worker), dropped afterwards."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"codex_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(postgres_server_url)
    params["dbname"] = name
    url = make_conninfo("", **params)
    yield url
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RunningFunction:
    """A function under test: its process, port, URL and log."""

    def __init__(self, served: processes.Served) -> None:
        self.served = served
        self.name = served.name
        self.port = served.port
        self.process = served.process
        self.log = served.log
        self.url = served.url

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_function(name: str, env: dict[str, str], tmp_path: Path, timeout: float = 20.0) -> RunningFunction:
    """Start ``functions/<name>/main.py`` under functions-framework, as ``codex-pipeline dev`` does
    (its own process group), and wait for its liveness probe."""
    port = free_port()
    log = tmp_path / f"{name}-{port}.log"
    served = processes.start(
        name, ROOT / "functions" / name / "main.py", port, {**os.environ, **env, "PYTHONUNBUFFERED": "1"}, log
    )
    failed = processes.wait_ready([served], timeout)
    if failed:
        processes.stop([served])
        raise AssertionError(f"{name} did not start: {failed[name].splitlines()[0]}\n{log.read_text()}")
    return RunningFunction(served)


def stop_function(running: RunningFunction) -> None:
    processes.stop([running.served])


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    """A GitHub App's RSA key pair (PKCS#8 private PEM, public PEM), as GitHub hands out (2048 bits)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
