"""`codex-pipeline dev` as a user runs it: functions as processes, the router, replay, Ctrl-C.

These need only ingest-webhook; tests/test_e2e.py drives the whole pipeline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from tests.devrun import CLI, ROOT, DevProcess

EXAMPLES = ROOT / "examples"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dev")]


def test_dev_serves_ingest_and_says_which_functions_are_missing(tmp_path: Path):
    dev = DevProcess(tmp_path / "state", args=["--only", "ingest-webhook"])
    try:
        assert set(dev.info["functions"]) == {"ingest-webhook"}
        assert requests.get(dev.info["webhook"] + "health/readiness", timeout=5).status_code == 200
        assert "route-task" in dev.info["missing"]
        assert "route-task" in dev.text() and "not served" in dev.text()
        secret = (tmp_path / "state" / "webhook-secret").read_text().strip()
        assert len(secret) >= 32 and secret not in dev.text()  # generated, never printed
    finally:
        assert dev.interrupt() == 0
    summary = dev.text()
    assert "codex-pipeline dev summary" in summary


def test_replayed_delivery_is_signed_accepted_and_kept_until_its_function_runs(tmp_path: Path):
    dev = DevProcess(tmp_path / "state", args=["--only", "ingest-webhook"])
    try:
        done = dev.replay(EXAMPLES / "issues.opened.json", "--delivery", "7a1c0f00-0000-4000-8000-000000000001")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("202 issues delivery=7a1c0f00-0000-4000-8000-000000000001")
        dev.wait_for(lambda: len(dev.records("github.webhook.events")) == 1, what="the raw event")
        (record,) = dev.records("github.webhook.events")
        assert record["attributes"]["type"] == "com.github.issues.opened"
        assert record["attributes"]["id"] == "7a1c0f00-0000-4000-8000-000000000001"
        assert record["data"] == json.loads((EXAMPLES / "issues.opened.json").read_bytes())
        dev.wait_for(lambda: "held" in dev.text(), what="the held line")
        bad = dev.replay(EXAMPLES / "issues.opened.json", "--secret", "not-the-secret")
        assert bad.returncode == 1 and bad.stdout.startswith("401 ")

        # live: what the running functions recorded so far (they write their metrics every second)
        def shown() -> str:
            return subprocess.run(
                [*CLI, "dev", "metrics", "--state", str(tmp_path / "state")],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout

        dev.wait_for(lambda: "deliveries   ingest-webhook     accepted 1, 4xx 1\n" in shown(), what="live metrics")
    finally:
        assert dev.interrupt() == 0
    assert "pending        1 (delivered when dev starts again)" in dev.text()
    assert "received       1 webhook delivery(ies)" in dev.text()
    # what ingest-webhook recorded as OpenTelemetry metrics, added up in the summary
    assert "    deliveries   ingest-webhook     accepted 1, 4xx 1\n" in dev.text()
    assert "    emits        1 (ok 1), " in dev.text()


def test_replay_takes_the_event_name_from_the_file_name_or_the_flag(tmp_path: Path):
    dev = DevProcess(tmp_path / "state", args=["--only", "ingest-webhook"])
    try:
        assert dev.replay(EXAMPLES / "issue_comment.execute-plan.json").returncode == 0
        assert dev.replay(EXAMPLES / "push.ignored.json", "--event", "push").returncode == 0
        dev.wait_for(lambda: len(dev.records("github.webhook.events")) == 2, what="two raw events")
        types = [r["attributes"]["type"] for r in dev.records("github.webhook.events")]
        assert types == ["com.github.issue_comment.created", "com.github.push"]
        ids = {r["attributes"]["id"] for r in dev.records("github.webhook.events")}
        assert len(ids) == 2  # fresh delivery ids
    finally:
        dev.interrupt()


def test_a_second_dev_on_the_same_state_folder_is_refused(tmp_path: Path):
    import subprocess

    from tests.devrun import CLI

    dev = DevProcess(tmp_path / "state", args=["--only", "ingest-webhook"])
    try:
        second = subprocess.run(
            [*CLI, "dev", "--port", "0", "--state", str(tmp_path / "state")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert f"another dev (pid {dev.process.pid})" in second.stderr
        assert requests.get(dev.info["webhook"] + "health/liveness", timeout=5).status_code == 200
    finally:
        assert dev.interrupt() == 0


def test_a_busy_webhook_port_is_named_before_anything_starts(tmp_path: Path):
    import socket
    import subprocess

    from tests.devrun import CLI

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*CLI, "dev", "--port", str(port), "--state", str(tmp_path / "state")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert f"port {port} (ingest-webhook) is in use" in done.stderr and "--port" in done.stderr


def test_without_a_configured_github_dev_serves_the_stand_in(tmp_path: Path) -> None:
    """`make run --no-execute` on a laptop: the examples that read GitHub reach their effects against
    the seeded pull request (no run opens one). It is clean, so the review request starts no run:
    the PR is marked ready, handed off once and the request answered in one comment."""
    env = {
        name: ""
        for name in ("CODEX_GITHUB_TOKEN", "CODEX_GITHUB_TOKEN_FILE", "CODEX_GITHUB_APP_ID", "CODEX_GITHUB_API_URL")
    }
    dev = DevProcess(tmp_path / "state", env=env, args=["--no-execute"])
    try:
        assert dev.info["github"], dev.text()
        assert "github (stand-in)" in dev.text()
        assert dev.replay(ROOT / "examples" / "issue_comment.review-request.json").returncode == 0
        dev.wait_for(lambda: "review not needed: pull request is clean" in dev.text(), what="the clean review")
        assert dev.replay(ROOT / "examples" / "check_suite.completed.json").returncode == 0
        dev.wait_for(
            lambda: "request-review handled codex.pr.readiness: ready to merge" in dev.text(), what="readiness"
        )
    finally:
        assert dev.interrupt() == 0
    assert not (tmp_path / "state" / "workflows").exists() or not any((tmp_path / "state" / "workflows").rglob("*"))
    saved = json.loads((tmp_path / "state" / "github-standin.json").read_text())
    handoff, reply = saved["comments"]["acme/widgets#57"]
    assert handoff["body"].startswith("<!-- codex:ready-to-merge -->")
    assert reply["body"].startswith("Nothing for Codex to review on #57")
    assert saved["pulls"]["acme/widgets#57"]["draft"] is False
    assert not (tmp_path / "state" / "runs").exists()
    assert "GitHub stand-in: 2 comment(s) posted" in dev.text()


def _dev_exit(tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str]:
    import os
    import subprocess

    from tests.devrun import CLI

    full = {k: v for k, v in os.environ.items() if not k.startswith(("CODEX_", "KUBERNETES_"))} | env
    done = subprocess.run(
        [*CLI, "dev", "--port", "0", "--state", str(tmp_path / "state")],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_wrong_setting_stops_dev_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    status, out, err = _dev_exit(tmp_path, {"CODEX_SINK_TIMEOUT_SECONDS": "nan"})
    assert status == 2
    assert err.strip().splitlines() == [
        "codex-pipeline dev: configuration error: CODEX_SINK_TIMEOUT_SECONDS='nan': not a finite number; "
        "set it to a number of seconds greater than 0, e.g. 2.5"
    ]
    assert "Traceback" not in out + err and not (tmp_path / "state" / "logs" / "route-task.log").exists()


def test_a_function_that_cannot_start_stops_dev_naming_it(tmp_path: Path) -> None:
    # Valid settings, but the kubernetes submitter finds no credentials: the three effect functions
    # refuse to start, and dev says which instead of serving a pipeline with holes.
    status, out, err = _dev_exit(
        tmp_path, {"CODEX_ARGO_SUBMITTER": "kubernetes", "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    )
    assert status == 2, out + err
    lines = err.strip().splitlines()
    assert [line.split(" failed to start: ")[0] for line in lines] == [
        f"codex-pipeline dev: {name}" for name in ("dispatch-planning", "promote-plan", "request-review")
    ]
    assert all("configuration error: CODEX_ARGO_SUBMITTER=kubernetes needs credentials" in line for line in lines)
    assert "Traceback" not in err and "ready:" not in out


def test_dev_says_ready_with_the_webhook_and_the_next_command(tmp_path: Path) -> None:
    dev = DevProcess(tmp_path / "state", args=["--only", "ingest-webhook"])
    try:
        ready = [line for line in dev.text().splitlines() if line.startswith("ready:")]
        assert ready == [
            f"ready: webhook {dev.info['webhook']}  next, in another terminal: {ready[0].split('terminal: ')[1]}"
        ]
        assert ready[0].endswith(f"replay --state {tmp_path / 'state'} examples/issues.opened.json")
    finally:
        assert dev.interrupt() == 0


def test_make_runs_relative_state_folder_runs_the_loop(tmp_path: Path) -> None:
    """`make run` passes no --state: dev works in `.codex-pipeline` relative to where it was started,
    while git and the local runs work in other folders. The first Workflow must still run."""
    import os
    import signal
    import subprocess
    import time

    from tests.devrun import CLI
    from tests.test_dev_loop import laptop_env

    env = {**os.environ, "PYTHONUNBUFFERED": "1", **laptop_env(tmp_path)}
    output = tmp_path / "dev.out"
    process = subprocess.Popen(
        [*CLI, "dev", "--port", "0"], cwd=tmp_path, env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        info_path = tmp_path / ".codex-pipeline" / "dev.json"
        deadline = time.monotonic() + 90
        while not info_path.is_file():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        replay = subprocess.run(
            [*CLI, "replay", str(EXAMPLES / "issues.opened.json")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        while " run-ok " not in output.read_text():
            assert " run-failed " not in output.read_text(), output.read_text()
            assert process.poll() is None and time.monotonic() < deadline + 90, output.read_text()
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
