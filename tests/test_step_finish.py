"""``codex-pipeline step finish`` (every template's onExit step) against the GitHub stand-in.

A step killed from outside leaves its progress comment "in progress" and its check open; the
exit handler turns them into a failure or cancellation recap, and a second run changes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from codex_pipeline.cli import main
from codex_pipeline.steps import progress as progress_comment
from codex_pipeline.steps.finish import outcome
from codex_pipeline.steps.review import review_section
from tests.fakes.github import FakeGitHub

TOKEN = "ghp_finishTestToken0123456789abcdefABCD"
REPO = "acme/widgets"
BRANCH = "codex/issue-12-add-a-greeting-helper"
SHA = "d" * 40
WORKFLOW = "github-codex-implementation-abc"
OOM = json.dumps([{"displayName": "implement", "message": "OOMKilled (exit code 137)", "templateName": "implement"}])
STOPPED = json.dumps([{"displayName": "review", "message": "Stopped with strategy 'Terminate'"}])


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with FakeGitHub(tokens=(TOKEN,)) as server:
        server.add_repo(REPO)
        for name in (
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "PAYLOAD",
            "EVENT_BODY",
            "WORKFLOW_FAILURES",
            "WORKFLOW_STATUS",
            "CODEX_PROGRESS_COMMENT_MARKER",
            "ARGO_WORKFLOW_NAME",
            "CODEX_CONFIG_FILE",
            "CODEX_STOP_REASON",
            "CODEX_WORKFLOW_ANNOTATIONS",
        ):
            monkeypatch.delenv(name, raising=False)
        for key, value in {
            "CODEX_GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": server.url,
            "CODEX_PLANNER_LOGIN": "codex-bot",
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
            "CODEX_ARGO_UI_URL": "https://argo.example.test/workflows/{namespace}/{workflow}",
        }.items():
            monkeypatch.setenv(key, value)
        yield server


def task(stage: str, number: int = 12, head: str = "", pull: int | None = None) -> dict[str, Any]:
    """A task as route-task emits it: a review task names its issue and, apart, its pull request."""
    body = {
        "stage": {"plan": "planning", "implement": "implementation"}.get(stage, stage),
        "repository": REPO,
        "issueNumber": number,
        "head": head,
        "base": "main",
        "issueTitle": "Add a greeting helper",
        "deliveryId": "d-1",
    }
    if pull is not None:
        body["pullRequestNumber"] = pull
    return body


def finish(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stage: str,
    status: str,
    failures: str,
    body: dict[str, Any],
    workflow: str = WORKFLOW,
) -> str:
    if stage == "plan":
        monkeypatch.setenv("PAYLOAD", json.dumps(body))
    else:
        monkeypatch.setenv("EVENT_BODY", base64.b64encode(json.dumps(body).encode()).decode())
    monkeypatch.setenv("WORKFLOW_FAILURES", failures)
    code = main(["step", "finish", "--stage", stage, "--workflow-name", workflow, "--workflow-status", status])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    return out.out


def writes(gh: FakeGitHub) -> int:
    """Changes made on GitHub (a new App token for the new process is no change)."""
    return len(
        [
            r
            for r in gh.requests
            if r.method in ("POST", "PATCH") and "graphql" not in r.path and not r.path.startswith("/app/")
        ]
    )


def kickoff_comment(gh: FakeGitHub) -> None:
    seeded = progress_comment.Progress(
        title="Codex implementation progress for #12",
        steps=["Add greet()", "Cover it with a test"],
        done={0},
        active=1,
        status=[f"Workflow `{WORKFLOW}` started on branch `{BRANCH}`."],
    ).render()
    gh.add_comment(REPO, 12, seeded, login="codex-bot")


def test_killed_implementation_gets_a_failure_recap_and_a_failed_status_once(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kickoff_comment(gh)
    gh.add_pull(REPO, 13, head=BRANCH, head_sha=SHA)
    out = finish(monkeypatch, capsys, "implement", "Failed", OOM, task("implement"))
    assert "progress comment recapped" in out and "status failure" in out
    (comment,) = gh.comments[(REPO, 12)]
    assert "#### ❌ Failed" in comment["body"] and "OOMKilled (exit code 137)" in comment["body"]
    assert "← in progress" not in comment["body"] and "#### Status" not in comment["body"]
    assert "- [x] Add greet()" in comment["body"] and "- [ ] Cover it with a test" in comment["body"]
    (status,) = gh.statuses[(REPO, SHA)]
    assert (status["context"], status["state"]) == ("codex / implementation", "failure")
    assert status["target_url"] == f"https://argo.example.test/workflows/argo-workflows/{WORKFLOW}"
    before = writes(gh)
    assert "nothing to change" in finish(monkeypatch, capsys, "implement", "Failed", OOM, task("implement"))
    assert writes(gh) == before


def test_finished_implementation_is_left_alone(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    done = progress_comment.Progress(
        title="Codex implementation progress for #12", steps=["Add greet()"], summary="Added greet()."
    )
    done.finish()
    gh.add_comment(REPO, 12, done.render(), login="codex-bot")
    finish(monkeypatch, capsys, "implement", "Succeeded", "", task("implement"))
    assert gh.comments[(REPO, 12)][0]["body"] == done.render()
    assert writes(gh) == 0  # no PR, nothing to report a status on


def test_stopped_review_is_recapped_as_cancelled_and_its_check_run_completed(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], app_key: tuple[str, str]
) -> None:
    private, public = app_key
    gh.enable_app("4242", public)
    monkeypatch.delenv("CODEX_GITHUB_TOKEN")
    monkeypatch.setenv("CODEX_GITHUB_APP_ID", "4242")
    monkeypatch.setenv("CODEX_GITHUB_APP_PRIVATE_KEY", private)
    monkeypatch.setenv("CODEX_PLANNER_LOGIN", "codex-app[bot]")
    workflow = "github-codex-review-xyz"
    gh.add_pull(REPO, 13, head=BRANCH, head_sha=SHA)
    started = progress_comment.replace_section(
        "<!-- codex:progress -->\n### Codex progress for #12\n",
        review_section(workflow, ["Started on `x`: 1 unresolved thread(s)."]),
    )
    gh.add_comment(REPO, 12, started, login="codex-app[bot]")
    gh.add_check_run(
        REPO, SHA, "codex / review", status="in_progress", conclusion=None, external_id=workflow, app_slug="codex-app"
    )
    out = finish(monkeypatch, capsys, "review", "Failed", STOPPED, task("review", 12, BRANCH, pull=13), workflow)
    assert "review section recapped" in out
    body = gh.comments[(REPO, 12)][0]["body"]
    assert "❌ cancelled: review: Stopped with strategy 'Terminate'" in body
    (run,) = gh.check_runs[(REPO, SHA)]
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
    assert run["details_url"] == f"https://argo.example.test/workflows/argo-workflows/{workflow}"
    before = writes(gh)
    assert "nothing to change" in finish(
        monkeypatch, capsys, "review", "Failed", STOPPED, task("review", 12, BRANCH, pull=13), workflow
    )
    assert writes(gh) == before


def test_a_superseded_implementation_names_and_links_the_run_that_superseded_it(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kickoff_comment(gh)
    gh.add_pull(REPO, 13, head=BRANCH, head_sha=SHA)
    newer = "github-codex-implementation-acme-widgets-12-0123456789"
    # What Argo gives the exit handler as {{workflow.annotations.json}} after the stop's patch.
    monkeypatch.setenv(
        "CODEX_WORKFLOW_ANNOTATIONS",
        json.dumps({"codex.delivery-id": "d-1", "codex.stop-reason": f"superseded by {newer}"}),
    )
    stopped = json.dumps([{"displayName": "implement", "message": "Stopped with strategy 'Stop'"}])
    finish(monkeypatch, capsys, "implement", "Failed", stopped, task("implement"))
    body = gh.comments[(REPO, 12)][0]["body"]
    assert "#### ⏹ Cancelled" in body
    assert f"Superseded by [`{newer}`](https://argo.example.test/workflows/argo-workflows/{newer})." in body
    assert "Stopped with strategy" not in body
    assert (REPO, SHA) not in gh.statuses  # it reported nothing before the stop: no status is added for it


def test_a_cancelled_review_says_who_cancelled_it(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = "github-codex-review-xyz"
    gh.add_pull(REPO, 13, head=BRANCH, head_sha=SHA)
    started = progress_comment.replace_section(
        "<!-- codex:progress -->\n### Codex progress for #12\n",
        review_section(workflow, ["Started on `x`: 1 unresolved thread(s)."]),
    )
    gh.add_comment(REPO, 12, started, login="codex-bot")
    monkeypatch.setenv("CODEX_WORKFLOW_ANNOTATIONS", '{"codex.stop-reason":"cancelled by alice"}')
    finish(monkeypatch, capsys, "review", "Failed", STOPPED, task("review", 12, BRANCH, pull=13), workflow)
    body = gh.comments[(REPO, 12)][0]["body"]
    assert "cancelled: Cancelled by alice." in body and "Terminate" not in body


def test_failed_planning_notes_it_once_on_the_issue(
    gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_issue(REPO, "Add a greeting helper", "body")
    finish(monkeypatch, capsys, "plan", "Error", OOM, task("plan", 1), "facteur-dispatch-1")
    finish(monkeypatch, capsys, "plan", "Error", OOM, task("plan", 1), "facteur-dispatch-1")
    (note,) = gh.comments[(REPO, 1)]
    assert "Codex could not post a plan: implement: OOMKilled" in note["body"]
    finish(monkeypatch, capsys, "plan", "Succeeded", "", task("plan", 1), "facteur-dispatch-2")
    assert len(gh.comments[(REPO, 1)]) == 1


@pytest.mark.parametrize(
    ("status", "failures", "expected"),
    [
        ("Succeeded", "", "success"),
        ("Failed", OOM, "failure"),
        ("Failed", STOPPED, "cancelled"),
        ("Failed", json.dumps([{"message": "Step exceeded its deadline"}]), "timed_out"),
        ("Error", "not json", "failure"),
    ],
)
def test_outcome_of_argo_status(status: str, failures: str, expected: str) -> None:
    assert outcome(status, failures) == expected
