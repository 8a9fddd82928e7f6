"""The three effect functions start while their database is down, and recover when it is back.

(Under functions-framework, gunicorn forks its worker after the app, and so the connection
pool, was built: this test is what found that the pool must be opened again in the worker.)

Knative restarts a crashing container in a loop and nothing answers the broker meanwhile, so a
database outage must read as 503 (retry) and readiness false, never as a process that exits.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.broker_reply import assert_broker_acceptable
from tests.conftest import start_function, stop_function
from tests.fakes.github import FakeGitHub
from tests.task_events import cloudevent, effect_env, task

pytestmark = pytest.mark.postgres

KINDS = {"dispatch-planning": "planning", "promote-plan": "implementation", "request-review": "review"}


class Proxy:
    """A TCP proxy in front of PostgreSQL that can be switched on and off (the outage)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[Proxy, str]]:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(postgres_url)
    server = Proxy(int(params.get("port") or 5432))
    yield server, make_conninfo("", **{**params, "host": "127.0.0.1", "port": str(server.port)})
    server.close()


@pytest.mark.parametrize("function", sorted(KINDS))
def test_starts_during_an_outage_answers_503_then_recovers(
    function: str, proxy: tuple[Proxy, str], tmp_path: Path
) -> None:
    server, url = proxy
    with FakeGitHub() as github:
        github.add_repo("acme/widgets")
        number = 4242
        github.add_pull("acme/widgets", number, head=f"codex/issue-{number}-fix", head_sha="a" * 40)
        env = effect_env(url, tmp_path, github.url, CODEX_DATABASE_TIMEOUT_SECONDS="0.5", CODEX_MIGRATE_ON_START="true")
        running = start_function(function, env, tmp_path)
        try:
            headers, body = cloudevent(KINDS[function], task(KINDS[function], number))
            answer = requests.post(running.url + "/", data=body, headers=headers, timeout=30)
            assert answer.status_code == 503, answer.text
            assert "PostgreSQL" in answer.json()["message"]
            assert requests.get(running.url + "/health/readiness", timeout=30).status_code == 503

            server.up = True  # the database is back: the same process migrates and serves
            deadline = time.monotonic() + 30  # the pool reconnects with backoff; probes repeat
            while requests.get(running.url + "/health/readiness", timeout=30).status_code != 200:
                assert time.monotonic() < deadline, running.output()[-3000:]
                time.sleep(0.2)
            answer = requests.post(running.url + "/", data=body, headers=headers, timeout=30)
            assert answer.status_code in (200, 202), answer.text
            assert_broker_acceptable(answer.status_code, answer.headers, answer.content)
        finally:
            stop_function(running)


@pytest.mark.parametrize("module", ["request_review", "promote_plan"])
def test_start_up_leaves_the_github_client_for_the_first_delivery(module: str, tmp_path: Path) -> None:
    """Starting an effect function reads and checks GitHub credentials but does not build the
    client (``requests`` is most of the cold start it would add); a malformed App setting still
    fails the start."""
    import os
    import subprocess
    import sys

    inherited = {key: value for key, value in os.environ.items() if not key.startswith("CODEX_")}
    env = {
        **inherited,
        "CODEX_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp_path / "workflows"),
        "CODEX_GITHUB_TOKEN": "ghp_test",
    }
    code = (
        f"import sys; from codex_pipeline.handlers.{module} import create_app; app = create_app(); "
        "handler = app.handler; print(sorted(set(sys.modules) & {'requests', 'urllib3', 'kubernetes'}))"
    )
    started = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "[]"
    broken = {**env, "CODEX_GITHUB_TOKEN": "", "CODEX_GITHUB_APP_ID": "12", "CODEX_GITHUB_APP_PRIVATE_KEY": "not a key"}
    refused = subprocess.run([sys.executable, "-c", code], env=broken, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "CODEX_GITHUB_APP_PRIVATE_KEY" in refused.stderr
