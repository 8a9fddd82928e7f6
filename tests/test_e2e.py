"""End to end: `codex-pipeline dev` as a subprocess on free ports, every example replayed twice
over real HTTP, the dry-run submitter's folder and the fake GitHub API (the outside edge) checked.

Needs every function; skips naming the missing ones until they exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devrun import ROOT, DevProcess
from tests.fakes.github import FakeGitHub

EXAMPLES = ROOT / "examples"
FUNCTIONS = ("ingest-webhook", "route-task", "dispatch-planning", "promote-plan", "request-review")
HEAD = "codex/issue-42-add-retry-to-the-widget-exporter"
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"  # the check suite's head_sha in examples/
IGNORED = ("issue_comment.edited.ignored.json", "push.ignored.json")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dev")]


def require_functions(*names: str) -> None:
    missing = [n for n in names if not (ROOT / "functions" / n / "main.py").is_file()]
    if missing:
        pytest.skip(f"end to end needs functions/{', functions/'.join(missing)}/main.py (not built yet)")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo("acme/widgets")
        server.add_pull(
            "acme/widgets",
            57,
            head=HEAD,
            head_sha=HEAD_SHA,
            draft=True,
            mergeable_state="clean",
            title="Add retry to the widget exporter",
        )
        server.add_check_run("acme/widgets", HEAD_SHA, "ci / test")
        yield server


def env_for(github: FakeGitHub) -> dict[str, str]:
    return {
        "CODEX_GITHUB_API_URL": github.url,
        "CODEX_GITHUB_TOKEN": "test-token",
        "CODEX_WEBHOOK_SECRET": "e2e-webhook-secret",
    }


def workflows(dev: DevProcess) -> list[dict[str, Any]]:
    folder = Path(dev.info["workflows"])
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))] if folder.is_dir() else []


def by_stage(dev: DevProcess) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    for workflow in workflows(dev):
        labels = workflow["metadata"].get("labels") or {}
        stages.setdefault(labels.get("codex.stage", "?"), []).append(workflow["metadata"]["name"])
    return stages


def delivery_counts(dev: DevProcess) -> dict[str, int]:
    """The router's deliveries by state (pending, done, dead)."""
    counts: dict[str, int] = requests.get(dev.info["router"] + "/topics", timeout=5).json()["deliveries"]
    return counts


def settled(dev: DevProcess, done: int = 0) -> bool:
    """Nothing pending (and at least ``done`` deliveries finished, so none is still to be fanned out)."""
    counts = delivery_counts(dev)
    return int(counts.get("pending", 0)) == 0 and int(counts.get("done", 0)) + int(counts.get("dead", 0)) >= done


def delivery_id(name: str) -> str:
    """A fixed delivery id per example: replaying it twice is GitHub's Redeliver."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"codex-pipeline-e2e/{name}"))


def test_every_example_twice_gives_one_workflow_per_stage_and_nothing_for_ignored(tmp_path: Path, github):
    require_functions(*FUNCTIONS)
    dev = DevProcess(tmp_path / "state", env=env_for(github))
    try:
        assert not dev.info["missing"] and not dev.info["failed"], dev.text()
        examples = sorted(p for p in EXAMPLES.glob("*.json"))
        assert len(examples) == 7
        for _round in range(2):
            for example in examples:
                done = dev.replay(example, "--delivery", delivery_id(example.name))
                assert done.returncode == 0, done.stdout + done.stderr
                assert done.stdout.startswith("202 ")
        dev.wait_for(lambda: len(dev.records("github.webhook.events")) == 14, what="14 accepted deliveries")
        # 14 raw deliveries to route-task + 10 task events (5 tasks, each re-emitted by the redelivery).
        dev.wait_for(lambda: settled(dev, done=24), timeout=90, what="all 24 deliveries done")

        stages = by_stage(dev)
        # PR 57 is clean (no thread, checks green, mergeable): the review request starts no run.
        assert {stage: len(names) for stage, names in stages.items()} == {"planning": 1, "implementation": 1}, stages
        assert stages["planning"][0].startswith("codex-planning-")
        assert stages["implementation"][0].startswith("github-codex-implementation-")

        # The ignored deliveries produced no task at all.
        tasks = dev.records("github.issues.codex.tasks")
        for name in IGNORED:
            assert not [t for t in tasks if t["attributes"]["id"].startswith(delivery_id(name))], name
        # Each task went out once per delivery (the redelivery re-emits the same ids), and each accepted
        # command that became a task (the review request, the execute plan) its 👀 acknowledgement once.
        ids = {t["attributes"]["id"] for t in tasks}
        assert len({i for i in ids if not i.endswith(":command")}) == 5
        assert len({i for i in ids if i.endswith(":command")}) == 2
        assert dev.records("codex.dead-letter") == []

        # The readiness check marked the clean PR ready and posted one handoff; the review request
        # on it got one short reply (its redelivery none); the execute-plan on an issue without a
        # plan got one reply and no implementation run.
        posted = [c.body.decode() for c in github.calls("POST", "/repos/acme/widgets/issues/57/comments")]
        assert len(posted) == 2 and "codex:ready-to-merge" in posted[0], posted
        assert "Nothing for Codex to review on #57" in posted[1]
        no_plan = github.calls("POST", "/repos/acme/widgets/issues/43/comments")
        assert len(no_plan) == 1
    finally:
        assert dev.interrupt() == 0
    dev.wait_for_functions_gone(timeout=10)  # Ctrl-C stops every function (master and workers)
    summary = dev.text()
    assert "codex-pipeline dev summary" in summary
    assert "submitted      2 workflow(s)" in summary
    assert "ignored        4" in summary  # two ignored examples, each delivered twice
    ignored = [line for line in summary.splitlines() if "route-task acknowledged" in line]
    assert len(ignored) == 4 and all("emitted nothing: " in line for line in ignored)  # with route-task's reason
    no_plan_lines = [line for line in summary.splitlines() if "promote-plan handled" in line]
    # with what its decision log says it did
    assert no_plan_lines and all("no approved plan: nothing submitted" in line for line in no_plan_lines)
    # The readiness delivery shows what it did, not "emitted nothing".
    readiness = [line for line in summary.splitlines() if "request-review handled codex.pr.readiness" in line]
    assert any("ready to merge" in line and "marked_ready=True" in line for line in readiness), readiness
    # The summary's count is the number of names it lists, each once (duplicates are counted apart).
    counts = summary.split("codex-pipeline dev summary", 1)[1].split("\n  metrics ", 1)[0]
    listed = [line.split()[0] for line in counts.splitlines() if line.startswith("    ")]
    assert len(listed) == len(set(listed)) == 2, listed
    # The metrics the functions recorded tell the same story, each ignored delivery with its reason.
    deliveries = [line for line in summary.splitlines() if line.startswith("    deliveries   route-task ")]
    assert deliveries and "ignored (no-rule) 2" in deliveries[0] and "ignored (edited-or-deleted) 2" in deliveries[0]
    # Lines carry the whole delivery id, the form `replay --delivery` takes.
    for example in examples:
        assert f" {delivery_id(example.name)} " in summary


def test_a_killed_dev_delivers_what_was_pending_after_restart(tmp_path: Path, github):
    require_functions(*FUNCTIONS)
    state = tmp_path / "state"
    first = DevProcess(state, env=env_for(github), args=["--only", "ingest-webhook", "--only", "route-task"])
    try:
        done = first.replay(EXAMPLES / "issues.opened.json", "--delivery", "5f0c1a9e-1111-4222-8333-944455556666")
        assert done.returncode == 0, done.stdout + done.stderr
        first.wait_for(lambda: len(first.records("github.issues.codex.tasks")) == 1, what="the planning task")
        first.wait_for(
            lambda: "held" in first.text() and "codex.task.planning" in first.text(),
            what="the planning delivery held for dispatch-planning",
        )
        # route-task's answer is recorded after its task is (the task is held the moment the sink
        # takes it): wait for that acknowledgement, else the raw delivery is pending too.
        first.wait_for(lambda: delivery_counts(first).get("done", 0) >= 1, what="route-task's acknowledgement")
    finally:
        first.kill()  # SIGKILL: no clean shutdown, no summary
    first.wait_for_functions_gone()  # they die with it (parent-death signal), freeing their ports
    assert by_stage(first) == {}

    second = DevProcess(state, env=env_for(github))
    try:
        assert "resuming 1 pending delivery" in second.text()
        second.wait_for(lambda: by_stage(second).get("planning"), timeout=60, what="the planning workflow")
        second.wait_for(lambda: settled(second), what="nothing pending")
        assert {k: len(v) for k, v in by_stage(second).items()} == {"planning": 1}
        # The raw delivery was routed once: route-task is not asked again after the restart.
        assert len(second.records("github.webhook.events")) == 1
    finally:
        assert second.interrupt() == 0


def test_a_delivery_in_flight_when_dev_is_killed_is_delivered_once_after_restart(tmp_path: Path, github):
    """request-review is mid-call to GitHub (slow) when dev dies: the delivery was never acknowledged,
    so the next dev sends it again, and exactly one review Workflow results (the killed function may
    finish its request while it shuts down; the redelivery is then a duplicate, not a second run)."""
    require_functions(*FUNCTIONS)
    state = tmp_path / "state"
    github.add_thread("acme/widgets", 57, "Please cover the retry with a test")  # work for the review run
    github.latency = 2.0
    first = DevProcess(state, env=env_for(github))
    try:
        done = first.replay(
            EXAMPLES / "issue_comment.review-request.json", "--delivery", "0b7e5a52-2222-4333-8444-a55566667777"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        first.wait_for(lambda: bool(github.calls("GET", "/repos/acme/widgets/pulls/57")), what="the GitHub call")
    finally:
        first.kill()
    github.latency = 0.0
    first.wait_for_functions_gone()

    second = DevProcess(state, env=env_for(github))
    try:
        second.wait_for(lambda: by_stage(second).get("review"), timeout=60, what="the review workflow")
        second.wait_for(lambda: settled(second), what="nothing pending")
        assert {k: len(v) for k, v in by_stage(second).items()} == {"review": 1}
        # The review task was pending, and the 👀 acknowledgement of its comment too unless it was
        # answered before the kill (the example's comment is not on the stand-in: no reaction, not a failure).
        assert re.search(r"resuming [12] pending delivery", second.text())
        assert second.records("codex.dead-letter") == []
        assert "request-review -> Workflow" in second.text()  # delivered again (submitted or duplicate)
    finally:
        assert second.interrupt() == 0


@pytest.mark.postgres
def test_a_configured_postgresql_replaces_the_embedded_sqlite_store(tmp_path: Path, github, postgres_url: str):
    require_functions(*FUNCTIONS)
    import psycopg

    dev = DevProcess(tmp_path / "state", env={**env_for(github), "CODEX_DATABASE_URL": postgres_url})
    try:
        done = dev.replay(EXAMPLES / "issues.opened.json", "--delivery", "3c1d2e4f-5555-4666-8777-988899990000")
        assert done.returncode == 0, done.stdout + done.stderr
        dev.wait_for(lambda: by_stage(dev).get("planning"), timeout=60, what="the planning workflow")
    finally:
        assert dev.interrupt() == 0
    assert not (tmp_path / "state" / "state.db").exists()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT stage, name FROM codex_kb.workflow_runs WHERE delivery_id = %s",
            ("3c1d2e4f-5555-4666-8777-988899990000",),
        ).fetchall()
    assert rows == [("planning", by_stage(dev)["planning"][0])]


def test_a_kubeconfig_sends_workflows_to_the_cluster_instead_of_the_dry_run_folder(tmp_path: Path, github):
    """CODEX_ARGO_SUBMITTER=kubernetes + CODEX_KUBECONFIG: the Workflow is created through the Kubernetes
    API (a local server answering as the API server does: the outside edge), nothing is dry-run."""
    require_functions(*FUNCTIONS)
    from tests.fakes.kubernetes import FakeKubernetes

    with FakeKubernetes() as kube:
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
        env = {**env_for(github), "CODEX_ARGO_SUBMITTER": "kubernetes", "CODEX_KUBECONFIG": str(kubeconfig)}
        dev = DevProcess(tmp_path / "state", env=env)
        try:
            assert dev.info["workflows"] is None
            for _ in range(2):
                done = dev.replay(EXAMPLES / "issues.opened.json", "--delivery", "9d8c7b6a-3333-4444-8555-a66677778888")
                assert done.returncode == 0, done.stdout + done.stderr
            dev.wait_for(lambda: len(kube.workflows) == 1 and settled(dev), timeout=60, what="one Workflow created")
        finally:
            assert dev.interrupt() == 0
        ((namespace, name),) = kube.workflows
        assert namespace == "argo-workflows" and name.startswith("codex-planning-acme-widgets-42-")
        assert f"Workflow argo-workflows/{name}" in dev.text()
        assert not (tmp_path / "state" / "workflows").exists()


def test_a_second_review_request_stops_the_running_review_which_still_runs_its_exit_handler(tmp_path: Path, github):
    """make run shows a supersede for real: the newer review's request-review stops the older Workflow
    (spec.shutdown: Stop in its file), dev's executor ends its running step, runs its exit handler and
    records it Failed "Stopped with strategy 'Stop'", with the stop reason naming the newer run."""
    require_functions(*FUNCTIONS)
    github.add_thread("acme/widgets", 57, "please rename")  # work for a review pass
    dev = DevProcess(tmp_path / "state", env=env_for(github), args=["--execute"])
    try:
        assert dev.info["runs"], "dev executes Workflows here"
        example = EXAMPLES / "issue_comment.review-request.json"
        github.latency = 0.5  # slow GitHub: the first review run is still at work when the second request comes
        assert dev.replay(example, "--delivery", "5e0d3c2b-1111-4222-8333-000000000001").returncode == 0
        dev.wait_for(lambda: len(by_stage(dev).get("review", [])) == 1, what="the first review Workflow")
        [older] = by_stage(dev)["review"]
        dev.wait_for(lambda: f"{older} running here" in dev.text(), what="the first review running")
        assert dev.replay(example, "--delivery", "5e0d3c2b-1111-4222-8333-000000000002").returncode == 0
        dev.wait_for(lambda: len(by_stage(dev).get("review", [])) == 2, what="the second review Workflow")
        [newer] = [name for name in by_stage(dev)["review"] if name != older]
        dev.wait_for(
            lambda: (Path(dev.info["runs"]) / older / "status.json").is_file(),
            timeout=90,
            what="the stopped run's result",
        )
        stopped = json.loads((Path(dev.info["workflows"]) / "argo-workflows" / f"{older}.json").read_text())
        assert stopped["spec"]["shutdown"] == "Stop"
        assert stopped["metadata"]["annotations"]["codex.stop-reason"] == f"superseded by {newer}"
        assert (stopped["status"]["phase"], stopped["status"]["message"]) == ("Failed", "Stopped with strategy 'Stop'")
        status = json.loads((Path(dev.info["runs"]) / older / "status.json").read_text())
        assert any(node["name"] == f"{older}.onExit" for node in status["nodes"])  # the exit handler ran
        assert f"{older} stopped (spec.shutdown: Stop; superseded by {newer})" in dev.text()
        github.latency = 0.0
    finally:
        github.latency = 0.0
        assert dev.interrupt() == 0
