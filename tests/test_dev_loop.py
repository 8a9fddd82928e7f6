"""The whole loop on one machine: `codex-pipeline dev` (a subprocess, as `make run` starts it) with
the GitHub stand-in, the local executor and the demo Codex; only `replay` is typed.

An issue becomes a plan comment, the plan comment comes back as a webhook and becomes a draft PR
with a progress comment turned into a recap; a review request runs the review, whose push makes
the scripted CI green, and the PR is marked ready with one handoff. Every delivery is replayed
twice (GitHub's "Redeliver"): still one plan, one PR, one recap, one handoff.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.devrun import ROOT, DevProcess

EXAMPLES = ROOT / "examples"
BRANCH = "codex/issue-42-add-retry-to-the-widget-exporter"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dev")]


def laptop_env(tmp_path: Path) -> dict[str, str]:
    """No GitHub, no cluster, no Codex key: a fresh laptop (PATH without any `codex`)."""
    env = {
        name: ""
        for name in (
            "CODEX_GITHUB_TOKEN",
            "CODEX_GITHUB_TOKEN_FILE",
            "CODEX_GITHUB_APP_ID",
            "CODEX_GITHUB_API_URL",
            "CODEX_BIN",
            "OPENAI_API_KEY",
            "CODEX_API_KEY",
        )
    }
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "codex").exists()]
    env["PATH"] = os.pathsep.join(folders)
    return env


def saved(state: Path) -> dict[str, Any]:
    path = state / "github-standin.json"
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def comments(state: Path, where: str, marker: str) -> list[dict[str, Any]]:
    return [c for c in saved(state).get("comments", {}).get(where, []) if c["body"].startswith(marker)]


def replay_twice(dev: DevProcess, example: str, delivery: str) -> None:
    for _ in range(2):
        done = dev.replay(EXAMPLES / example, "--delivery", delivery)
        assert done.returncode == 0, done.stdout + done.stderr


def test_an_issue_becomes_a_plan_a_draft_pr_and_a_ready_pr_with_only_replays(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dev = DevProcess(state, env=laptop_env(tmp_path))
    try:
        assert "runs (here)" in dev.text() and "demo Codex" in dev.text(), dev.text()
        started = time.monotonic()
        replay_twice(dev, "issues.opened.json", "loop-issue-opened-1")

        def recap_done() -> bool:
            progress = comments(state, "acme/widgets#42", "<!-- codex:progress -->")
            return bool(progress) and "Pull request: #57" in progress[0]["body"]

        dev.wait_for(recap_done, timeout=90, what="plan, draft PR and progress recap")
        issue_took = time.monotonic() - started
        snapshot = saved(state)
        assert snapshot["pulls"]["acme/widgets#57"]["draft"] is True
        assert snapshot["pulls"]["acme/widgets#57"]["head"] == BRANCH

        replay_twice(dev, "issue_comment.review-request.json", "loop-review-request-1")
        dev.wait_for(
            lambda: bool(comments(state, "acme/widgets#57", "<!-- codex:ready-to-merge -->")),
            timeout=90,
            what="the ready-to-merge handoff",
        )
        dev.wait_for(lambda: "pull_request.ready_for_review" in dev.text(), what="ready_for_review webhook")
        time.sleep(2)  # let the last readiness checks (after ready_for_review) finish
    finally:
        assert dev.interrupt() == 0
    text = dev.text()
    snapshot = saved(state)

    (plan,) = comments(state, "acme/widgets#42", "<!-- codex:plan -->")
    assert plan["user"] == "codex-planner[bot]"
    for section in ("## Objective", "## Task Breakdown", "## Ready Checklist"):
        assert section in plan["body"]
    (progress,) = comments(state, "acme/widgets#42", "<!-- codex:progress -->")
    assert "#### Summary" in progress["body"] and "Review pass" in progress["body"]
    assert len(comments(state, "acme/widgets#42", "<!-- codex:pr-link 57 -->")) == 1
    assert list(snapshot["pulls"]) == ["acme/widgets#57"]
    assert snapshot["pulls"]["acme/widgets#57"]["draft"] is False
    (handoff,) = comments(state, "acme/widgets#57", "<!-- codex:ready-to-merge -->")
    head = snapshot["pulls"]["acme/widgets#57"]["head_sha"]
    assert head[:12] in handoff["body"]

    # The PR's branch is real: the demo change, then the review pass, on top of the seeded project.
    remote = state / "git" / "acme" / "widgets.git"
    log = subprocess.run(
        ["git", "log", "--format=%s", BRANCH], cwd=remote, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log[0].startswith("codex: address review feedback on #57")
    assert log[1].startswith("codex: Add retry to the widget exporter (#42)")
    assert log[-1] == "Seed project for the codex-pipeline demo"
    assert (
        subprocess.run(
            ["git", "rev-parse", BRANCH], cwd=remote, capture_output=True, text=True, check=True
        ).stdout.strip()
        == head
    )
    # CI as scripted: the first head failed, the review pass's head passed.
    conclusions = [runs[0]["conclusion"] for runs in snapshot["check_runs"].values()]
    assert sorted(conclusions) == ["failure", "success"]
    # The runs' own check runs (the stand-in is also a GitHub App): completed, with their summary and link.
    own = {
        (sha, run["name"]): run
        for sha, items in snapshot["check_runs"].items()
        for run in items
        if run.get("external_id")
    }
    implementation = [run for (_, name), run in own.items() if name == "codex / implementation"]
    reviews = [sha for (sha, name) in own if name == "codex / review"]
    assert len(implementation) == 1 and len(reviews) == 2 and f"acme/widgets@{head[:12]}" in reviews
    assert (implementation[0]["status"], implementation[0]["conclusion"]) == ("completed", "success")
    assert "**What changed:** 1 file: `demo/CODEX_DEMO.md`" in implementation[0]["summary"]
    assert "**Tests run:** `bash -lc 'python -m pytest -q'` passed" in implementation[0]["summary"]
    assert implementation[0]["details_url"].startswith("http://127.0.0.1:2746/workflows/argo-workflows/")
    # The progress comment moved while Codex worked: its checklist advanced one item at a time.
    versions = [*progress["earlier_bodies"], progress["body"]]
    checked = [[line.startswith("- [x]") for line in body.splitlines() if line.startswith("- [")] for body in versions]
    assert checked[0] == [False, False] and [True, False] in checked and checked[-1] == [True, True]
    assert any("← in progress" in body and "**Current:** 2. Run the project's checks" in body for body in versions)

    # Three runs, each once, and their artifacts kept.
    runs = state / "runs"
    phases = {p.parent.name: json.loads(p.read_text())["phase"] for p in runs.glob("*/status.json")}
    assert sorted(name.rsplit("-", 1)[0] for name in phases) == [
        "codex-planning-acme-widgets-42",
        "github-codex-implementation-acme-widgets-42",
        "github-codex-review-acme-widgets-42",
    ]
    assert set(phases.values()) == {"Succeeded"}, phases
    assert list(runs.glob("codex-planning-*/artifacts/plan-output"))
    assert list(runs.glob("github-codex-implementation-*/artifacts/codex-implementation-log"))
    assert "ran here       3 workflow(s), 0 not succeeded" in text
    # The metrics every function and step recorded, added up (exit handlers count the runs).
    assert "    runs         implementation succeeded 1, planning succeeded 1, review succeeded 1\n" in text, text
    assert "    codex        3 run(s) (ok 3), " in text
    assert "    deliveries   dispatch-planning  accepted 1, duplicate 1" in text
    assert text.count("duplicate    ") >= 1  # the redelivered issue was not submitted again
    assert issue_took < 60, f"plan, PR and recap took {issue_took:.1f}s"

    # A restarted dev takes the stand-in back as it was; the same deliveries once more change nothing.
    before = saved(state)
    again = DevProcess(state, env=laptop_env(tmp_path))
    try:
        replay_twice(again, "issues.opened.json", "loop-issue-opened-1")
        replay_twice(again, "issue_comment.review-request.json", "loop-review-request-1")
        again.wait_for(
            lambda: (
                "duplicate    request-review -> Workflow" in again.text()
                and "duplicate    dispatch-planning -> Workflow" in again.text()
            ),
            what="both redeliveries seen as duplicates",
        )
    finally:
        assert again.interrupt() == 0
    after = saved(state)
    assert after["comments"] == before["comments"] and after["pulls"] == before["pulls"]
    assert "ran here" not in again.text()
