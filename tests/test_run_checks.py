"""A run on its pull request (issue 18): check runs queued -> in_progress -> completed, commit
statuses with a plain token, and the progress comment's checklist advancing while Codex works.

The real pieces run: request-review in process (its func-python entry) against the GitHub
stand-in with a GitHub App beside a token, the steps as programs against a fake ``codex`` and
a real bare git remote, and the exit handler after them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from codex_pipeline.cli import main
from codex_pipeline.handlers import request_review
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from tests.asgi_call import call_asgi
from tests.fakes.github import FakeGitHub
from tests.steps_support import bare_remote, codex_env, git
from tests.task_events import cloudevent, effect_env, parameter, task, written_workflows

TOKEN = "ghp_checksTestToken0123456789abcdefABCDE"
REPO = "acme/widgets"
BRANCH = "codex/issue-12-add-a-greeting-helper"
ARGO_UI = "https://argo.example.test/workflows/{namespace}/{workflow}"
PLAN = """<!-- codex:plan -->
## Task Breakdown
1. Add `greet()` to app.py
2. Cover greet with a unit test in test_app.py
3. Document greet in README.md
"""
STEPS = [
    {"todo": "Write greet in app.py", "edit": {"app.py": "def greet():\n    return 'hi'\n"}},
    {
        "todo": "Unit test for greet",
        "edit": {"test_app.py": "def test_greet():\n    assert True\n"},
        "command": ["bash -lc 'python -m pytest -q'", 1],
    },
    {"todo": "Fix the unit test", "command": ["bash -lc 'python -m pytest -q'", 0]},
    {"todo": "Document greet in the README", "edit": {"README.md": "# demo\n\nUse greet().\n"}},
]


@dataclass
class World:
    tmp: Path
    gh: FakeGitHub
    remote: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def codex(self, **kwargs: Any) -> None:
        for key, value in codex_env(self.tmp / "bin", self.tmp / "record", tmp=self.tmp, **kwargs).items():
            self.monkeypatch.setenv(key, value)

    def step(self, stage: str, body: dict[str, Any], workflow: str, workdir: str) -> tuple[int, str]:
        self.monkeypatch.setenv("EVENT_BODY", base64.b64encode(json.dumps(body).encode()).decode())
        self.monkeypatch.setenv("RAW_EVENT", base64.b64encode(b"{}").decode())
        code = main(
            [
                "step",
                stage,
                "--workdir",
                str(self.tmp / workdir),
                "--workflow-name",
                workflow,
                "--remote-url",
                self.remote.as_uri(),
                "--timeout",
                "30",
            ]
        )
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def finish(self, stage: str, body: dict[str, Any], workflow: str, status: str = "Succeeded") -> str:
        self.monkeypatch.setenv("EVENT_BODY", base64.b64encode(json.dumps(body).encode()).decode())
        self.monkeypatch.setenv("WORKFLOW_FAILURES", "")
        code = main(["step", "finish", "--stage", stage, "--workflow-name", workflow, "--workflow-status", status])
        out = self.capsys.readouterr()
        assert code == 0, out.out + out.err
        return out.out

    def check_writes(self, workflow: str | None = None) -> list[tuple[str, str, str | None, str]]:
        """(method, status, conclusion, head) of every check-run write, in order (of one run's checks)."""
        by_id = {run["id"]: run for runs in self.gh.check_runs.values() for run in runs}
        found = []
        for request in self.gh.requests:
            if "/check-runs" not in request.path or request.method not in ("POST", "PATCH"):
                continue
            body = json.loads(request.body)
            run = (
                by_id[int(request.path.rsplit("/", 1)[1])]
                if request.method == "PATCH"
                else next(
                    r
                    for r in by_id.values()
                    if r["head_sha"] == body["head_sha"]
                    and r["name"] == body["name"]
                    and r["external_id"] == body.get("external_id")
                )
            )
            if workflow is None or run["external_id"] == workflow:
                found.append((request.method, body.get("status") or "", body.get("conclusion"), run["head_sha"]))
        return found

    def branch_head(self) -> str:
        """What the run pushed (the stand-in without git remotes keeps a PR's head as it was opened)."""
        return git("rev-parse", BRANCH, cwd=self.remote).strip()

    def progress_edits(self) -> list[str]:
        return [
            json.loads(r.body)["body"]
            for r in self.gh.requests
            if r.method in ("POST", "PATCH")
            and "/issues/" in r.path
            and "comments" in r.path
            and json.loads(r.body)["body"].startswith("<!-- codex:progress -->")
        ]


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], app_key: tuple[str, str]
) -> Iterator[World]:
    private, public = app_key
    with FakeGitHub(tokens=(TOKEN,)) as gh:
        gh.add_repo(REPO)
        gh.enable_app("4242", public)
        for name in (
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "DISCORD_BOT_TOKEN",
            "DISCORD_GUILD_ID",
            "ARGO_WORKFLOW_NAME",
            "PAYLOAD",
            "EVENT_BODY",
            "CODEX_CONFIG_FILE",
            "CODEX_PROGRESS_COMMENT_MARKER",
            "WORKFLOW_FAILURES",
            "CODEX_GITHUB_APP_INSTALLATION_ID",
        ):
            monkeypatch.delenv(name, raising=False)
        env = {
            "CODEX_GITHUB_TOKEN": TOKEN,
            "CODEX_GITHUB_API_URL": gh.url,
            "CODEX_PLANNER_LOGIN": "codex-bot",
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
            "CODEX_ARGO_UI_URL": ARGO_UI,
            "CODEX_GITHUB_APP_ID": "4242",
            "CODEX_GITHUB_APP_PRIVATE_KEY": private,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        world = World(tmp_path, gh, bare_remote(tmp_path), monkeypatch, capsys)
        world.codex()
        yield world


def implementation() -> dict[str, Any]:
    return {
        "stage": "implementation",
        "repository": REPO,
        "issueNumber": 12,
        "base": "main",
        "head": "",
        "issueTitle": "Add a greeting helper",
        "issueBody": "Add greet().",
        "deliveryId": "d-1",
        "planCommentBody": PLAN,
        "planCommentId": 5,
    }


def test_checklist_advances_item_by_item_and_the_check_run_lands_on_the_pushed_head(world: World) -> None:
    world.codex(steps=STEPS, message="Added greet() with a test and docs.")
    workflow = "github-codex-implementation-1"
    code, output = world.step("implement", implementation(), workflow, "impl")
    assert code == 0, output

    edits = world.progress_edits()
    checked = [[line.startswith("- [x]") for line in body.splitlines() if line.startswith("- [")] for body in edits]
    # Kickoff, then one edit per milestone, checking off the plan's items in order; the recap last.
    assert checked[0] == [False, False, False]
    assert [False, False, False] in checked and [True, False, False] in checked
    assert [True, True, False] in checked and checked[-1] == [True, True, True]
    first_done = [c for c in checked if c[0]]
    assert checked.index(first_done[0]) < checked.index([True, True, False])
    active = [line for body in edits for line in body.splitlines() if line.endswith("← in progress")]
    assert active[0] == "- [ ] Add `greet()` to app.py ← in progress"
    assert "- [ ] Cover greet with a unit test in test_app.py ← in progress" in active
    # The status block while the test failed: current item, the failed test run as a blocker, the next item.
    failing = next(b for b in edits if "the last test run failed" in b)
    assert "**Current:** 2. Cover greet with a unit test in test_app.py" in failing
    assert "**Tests run:** `bash -lc 'python -m pytest -q'` failed (exit 1)" in failing
    assert "**Next:** 3. Document greet in README.md" in failing
    assert "**Blockers:** none" in edits[-2] or "**Blockers:** none" in edits[-3]
    assert "#### Status" not in edits[-1] and "Added greet() with a test and docs." in edits[-1]

    (pull,) = world.gh.pulls.values()
    head = world.branch_head()
    # A first run has no PR to report on until it opens one: its check is completed on the head it pushed.
    assert world.check_writes(workflow) == [("POST", "completed", "success", head)]
    (run,) = world.gh.check_runs[(REPO.lower(), head)]
    assert (run["name"], run["external_id"], run["app"]["slug"]) == ("codex / implementation", workflow, "codex-app")
    assert run["details_url"] == f"https://argo.example.test/workflows/argo-workflows/{workflow}"
    summary = run["output"]["summary"]
    assert "**What changed:** 3 files: `app.py`, `test_app.py`, `README.md`" in summary
    assert f"pushed `{head[:12]}` to `{BRANCH}`" in summary
    assert "`bash -lc 'python -m pytest -q'` passed" in summary and "**Blockers:** none" in summary
    assert run["output"]["title"] == f"Codex implemented the plan (3 items), draft PR #{pull['number']}"

    # The exit handler after a run that finished changes nothing.
    pull["head"]["sha"] = head  # as GitHub has it after the push
    before = len(world.gh.requests)
    assert "nothing to change" in world.finish("implement", implementation(), workflow)
    assert not [r for r in world.gh.requests[before:] if r.method in ("POST", "PATCH") and "/app/" not in r.path]


def deliver_review(world: World, function: AsgiFunction, codex_task: Any) -> int:
    headers, body = cloudevent("review", codex_task)
    return call_asgi(function, headers, body).status


def test_review_check_run_is_queued_then_in_progress_then_completed(world: World) -> None:
    world.codex(edits={"app.py": "def greet():\n    return 'hi'\n"})
    assert world.step("implement", implementation(), "impl-wf", "impl")[0] == 0
    (number,) = [n for (_, n) in world.gh.pulls]
    started = world.gh.pulls[(REPO.lower(), number)]["head"]["sha"] = world.branch_head()
    world.gh.add_thread(REPO, number, "Please add a unit test for greet")
    for key, value in effect_env(
        f"sqlite:///{world.tmp / 'state.db'}",
        world.tmp,
        world.gh.url,
        CODEX_GITHUB_TOKEN=TOKEN,
        CODEX_ARGO_UI_URL=ARGO_UI,
    ).items():
        world.monkeypatch.setenv(key, value)
    function = AsgiFunction(lambda: request_review.create_app(load_settings()))
    function.start({})
    try:
        review = task("review", 12, head="", base="", pullRequestNumber=number)
        assert deliver_review(world, function, review) == 202
        assert deliver_review(world, function, review) == 202  # a redelivery queues nothing more
    finally:
        cast(Any, function.app.handler).store.close()
    (workflow,) = [
        w for w in written_workflows(world.tmp / "workflows") if w["metadata"]["labels"]["codex.stage"] == "review"
    ]
    name = workflow["metadata"]["name"]
    assert world.check_writes(name) == [("POST", "queued", None, started)]

    world.codex(edits={"test_app.py": "def test_greet():\n    assert True\n"}, message="Added the test.")
    code, output = world.step("review", parameter(workflow, "eventBody"), name, "review")
    assert code == 0, output
    pushed = world.branch_head()
    assert pushed != started
    # queued at submission, in_progress when the step starts, completed at the end; the result is
    # reported on the head the run pushed too (the PR shows the checks of its head).
    assert world.check_writes(name) == [
        ("POST", "queued", None, started),
        ("PATCH", "in_progress", None, started),
        ("PATCH", "completed", "success", started),
        ("POST", "completed", "success", pushed),
    ]
    world.gh.pulls[(REPO.lower(), number)]["head"]["sha"] = pushed  # as GitHub has it after the push
    (run,) = [r for r in world.gh.check_runs[(REPO.lower(), pushed)] if r["external_id"] == name]
    assert run["output"]["title"] == "Codex pushed a review pass"
    assert "**What changed:** 1 file: `test_app.py`" in run["output"]["summary"]
    before = len(world.check_writes())
    world.finish("review", parameter(workflow, "eventBody"), name)
    world.finish("review", parameter(workflow, "eventBody"), name, status="Failed")
    assert len(world.check_writes()) == before  # a second exit handler changes nothing either


def test_a_failing_review_completes_its_check_as_failure_with_the_blocker(world: World) -> None:
    world.codex(edits={"app.py": "x = 1\n"})
    assert world.step("implement", implementation(), "impl-wf", "impl")[0] == 0
    (number,) = [n for (_, n) in world.gh.pulls]
    head = world.gh.pulls[(REPO.lower(), number)]["head"]["sha"]
    world.codex(mode="fail")
    body = {**implementation(), "stage": "review", "pullRequestNumber": number, "head": BRANCH}
    code, _ = world.step("review", body, "github-codex-review-f", "review")
    assert code == 1
    assert world.check_writes("github-codex-review-f") == [
        ("POST", "in_progress", None, head),
        ("PATCH", "completed", "failure", head),
    ]
    (run,) = [r for r in world.gh.check_runs[(REPO.lower(), head)] if r["external_id"] == "github-codex-review-f"]
    assert "stream disconnected before completion: 503" in run["output"]["summary"]


def test_with_a_plain_token_runs_report_commit_statuses(world: World) -> None:
    world.monkeypatch.delenv("CODEX_GITHUB_APP_ID")
    world.monkeypatch.delenv("CODEX_GITHUB_APP_PRIVATE_KEY")
    world.codex(edits={"app.py": "def greet():\n    return 'hi'\n"})
    assert world.step("implement", implementation(), "impl-wf", "impl")[0] == 0
    (number,) = [n for (_, n) in world.gh.pulls]
    first = world.branch_head()
    world.gh.pulls[(REPO.lower(), number)]["head"]["sha"] = first  # as GitHub has it after the push
    world.codex(edits={"test_app.py": "def test_greet():\n    assert True\n"})
    body = {**implementation(), "stage": "review", "pullRequestNumber": number, "head": BRANCH}
    assert world.step("review", body, "github-codex-review-s", "review")[0] == 0
    pushed = world.branch_head()
    assert world.gh.check_runs.get((REPO.lower(), pushed), []) == [] or all(
        r["name"] == "ci / test" for r in world.gh.check_runs[(REPO.lower(), pushed)]
    )
    states = {
        sha: [(s["context"], s["state"]) for s in world.gh.statuses.get((REPO.lower(), sha), [])]
        for sha in (first, pushed)
    }
    assert states[first] == [
        ("codex / implementation", "success"),
        ("codex / review", "pending"),
        ("codex / review", "success"),
    ]
    assert states[pushed] == [("codex / review", "success")]
    target = world.gh.statuses[(REPO.lower(), pushed)][0]["target_url"]
    assert target == "https://argo.example.test/workflows/argo-workflows/github-codex-review-s"


def test_a_run_on_a_branch_with_a_pr_is_queued_on_its_head_once(world: World) -> None:
    """promote-plan queues the implementation run's check on the open PR of the branch it will push
    (a first run has none), before the Workflow exists, and a redelivery queues nothing more."""
    from codex_pipeline.handlers import promote_plan
    from codex_pipeline.wire.pb import codex_task_pb2

    head = "e" * 40
    world.gh.add_pull(REPO, 13, head=BRANCH, head_sha=head)
    for key, value in effect_env(
        f"sqlite:///{world.tmp / 'state.db'}",
        world.tmp,
        world.gh.url,
        CODEX_GITHUB_TOKEN=TOKEN,
        CODEX_ARGO_UI_URL=ARGO_UI,
    ).items():
        world.monkeypatch.setenv(key, value)
    function = AsgiFunction(lambda: promote_plan.create_app(load_settings()))
    function.start({})
    try:
        again = task("implementation", 12, head="", issueTitle="Add a greeting helper", planCommentBody=PLAN)
        again.stage = codex_task_pb2.CODEX_TASK_STAGE_IMPLEMENTATION
        for _ in range(2):
            headers, body = cloudevent("implementation", again)
            assert call_asgi(function, headers, body).status == 202
    finally:
        cast(Any, function.app.handler).store.close()
    (workflow,) = written_workflows(world.tmp / "workflows")
    name = workflow["metadata"]["name"]
    assert world.check_writes(name) == [("POST", "queued", None, head)]
    (run,) = world.gh.check_runs[(REPO.lower(), head)]
    assert run["details_url"] == f"https://argo.example.test/workflows/argo-workflows/{name}"
    # The step's Workflow carries the details link for the step's own updates.
    assert {p["name"]: p.get("value") for p in workflow["spec"]["arguments"]["parameters"]}["argoUiUrl"] == ARGO_UI
