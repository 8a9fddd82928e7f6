"""End to end, nothing lost between GitHub and the run: `codex-pipeline dev` as a subprocess, a
GitHub stand-in that delivers signed webhooks and logs ingest's answers, and the two recovery
verbs (`reconcile`, `dead-letters replay`) run as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.dev.fakehttp import Answer, FakeServer, Recorded
from codex_pipeline.dev.topology import load
from tests.conftest import start_function, stop_function
from tests.devrun import CLI, ROOT, DevProcess
from tests.fakes.github import FakeGitHub

SECRET = "e2e-recovery-secret"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dev")]


class SinkGate(FakeServer):
    """The KafkaSink as ingest sees it: passed through to dev's router, or down (503)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.down = False

    def answer(self, recorded: Recorded) -> Answer:
        if self.down:
            return 503, {"content-type": "application/json"}, b'{"message":"sink down"}'
        forwarded = requests.post(
            self.target,
            data=recorded.body,
            timeout=10,
            headers={k: v for k, v in recorded.headers.items() if k != "host"},
        )
        return forwarded.status_code, {}, forwarded.content


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo("acme/widgets")
        yield server


def env_for(github: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    return {
        "CODEX_GITHUB_API_URL": github.url,
        "CODEX_GITHUB_TOKEN": "test-token",
        "CODEX_WEBHOOK_SECRET": SECRET,
        "CODEX_DATABASE_URL": f"sqlite:///{tmp_path / 'state' / 'state.db'}",
    }


def workflows(dev: DevProcess) -> list[dict[str, Any]]:
    folder = Path(dev.info["workflows"])
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))] if folder.is_dir() else []


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_delivery_refused_while_the_sink_was_down_is_redelivered_once_and_runs_once(tmp_path, github):
    env = env_for(github, tmp_path)
    dev = DevProcess(tmp_path / "state", env=env, args=["--only", "route-task", "--only", "dispatch-planning"])
    binding = load(ROOT / "eventing").bindings["ingest-webhook"]
    with SinkGate(f"{dev.info['router']}/{binding[0]}/{binding[1]}?from=ingest-webhook") as gate:
        ingest = start_function("ingest-webhook", {**env, "K_SINK": gate.url, "CODEX_SINK_ATTEMPTS": "1"}, tmp_path)
        try:
            hook = github.add_hook("acme/widgets", ingest.url + "/", SECRET)
            payload = json.loads((ROOT / "examples" / "issues.opened.json").read_text())
            gate.down = True
            failed = github.deliver(hook, "issues", payload)
            assert failed["status_code"] == 503, failed  # GitHub shows a failed delivery, and does not retry
            gate.down = False
            full_env = {**dev.env, **env}

            first = cli("reconcile", "--hook", f"acme/widgets:{hook.id}", env=full_env)
            assert first.returncode == 0, first.stderr
            assert "failed       1 events" in first.stdout and "redelivered  1" in first.stdout, first.stdout
            assert f"{failed['id']} issues.opened guid={failed['guid']} (last answer 503" in first.stdout
            dev.wait_for(lambda: len(workflows(dev)) == 1, timeout=60, what="the planning Workflow")

            again = cli("reconcile", "--hook", f"acme/widgets:{hook.id}", env=full_env)
            assert again.returncode == 0 and "redelivered  0" in again.stdout, again.stdout
            items = github.deliveries.items(hook.id)
            assert [(i["redelivery"], i["status_code"]) for i in items] == [(True, 202), (False, 503)]
            (workflow,) = workflows(dev)
            assert workflow["metadata"]["labels"]["codex.stage"] == "planning"
            assert dev.records("codex.dead-letter") == []
        finally:
            stop_function(ingest)
            dev.interrupt()


def test_a_dead_letter_replayed_twice_gives_one_workflow(tmp_path, github):
    env = env_for(github, tmp_path)
    state = tmp_path / "state"
    # dispatch-planning cannot write its Workflow (a file where its folder should be): 5xx, retries, dead letter.
    (tmp_path / "blocked").write_text("not a folder\n")
    broken = DevProcess(
        state,
        env={**env, "CODEX_DRY_RUN_DIR": str(tmp_path / "blocked" / "workflows")},
        args=["--only", "ingest-webhook", "--only", "route-task", "--only", "dispatch-planning"],
    )
    try:
        example = ROOT / "examples" / "issues.opened.json"
        done = broken.replay(example, "--delivery", "5f2b8c1e-dead-4e77-9c1a-0000000019aa")
        assert done.returncode == 0, done.stdout + done.stderr
        broken.wait_for(lambda: len(broken.records("codex.dead-letter")) == 1, timeout=60, what="a dead letter")
    finally:
        broken.interrupt()

    dev = DevProcess(
        state, env=env, args=["--only", "ingest-webhook", "--only", "route-task", "--only", "dispatch-planning"]
    )
    try:
        full_env = {**dev.env, **env}
        listed = cli("dead-letters", "list", "--state", str(state), env=full_env)
        assert listed.returncode == 0, listed.stderr
        (line,) = listed.stdout.splitlines()
        assert "codex.task.planning" in line and "code=5" in line
        event_id = line.split()[2]
        shown = cli("dead-letters", "show", event_id, "--state", str(state), env=full_env)
        letter = json.loads(shown.stdout)
        assert letter["id"] == event_id and "knativeerrorcode" not in letter["attributes"]
        assert letter["task"]["repository"] == "acme/widgets"  # the protobuf task, decoded
        assert letter["error"]["code"].startswith("5") and letter["error"]["destination"].startswith("http://")
        assert letter["error"]["data"] and "=" not in letter["error"]["data"][-2:]  # decoded, not base64

        for _ in range(2):
            replayed = cli("dead-letters", "replay", event_id, "--state", str(state), env=full_env)
            assert replayed.returncode == 0, replayed.stderr
            assert f"replayed       {event_id} codex.task.planning -> Broker codex/codex-tasks" in replayed.stdout
        dev.wait_for(lambda: len(workflows(dev)) == 1, timeout=60, what="the planning Workflow")
        counts = requests.get(dev.info["router"] + "/topics", timeout=5).json()["deliveries"]
        dev.wait_for(
            lambda: requests.get(dev.info["router"] + "/topics", timeout=5).json()["deliveries"].get("pending", 0) == 0,
            what="both replays delivered",
        )
        assert len(workflows(dev)) == 1, counts
        assert len(dev.records("codex.dead-letter")) == 1  # the replays did not die again
    finally:
        dev.interrupt()
