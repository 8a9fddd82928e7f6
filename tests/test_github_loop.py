"""The GitHub stand-in that answers back (dev/github_loop.py) over real HTTP, with a real bare git
remote: its deliveries are signed as GitHub signs them and route as GitHub's own would.

The receiving end is a recording HTTP server (where ingest-webhook would be); what arrives is
checked with the library's signature check and routed with route-task's pure decision.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.core.policy import Policy
from codex_pipeline.core.routing import route
from codex_pipeline.dev.fakehttp import RecordingSink
from codex_pipeline.dev.github_loop import PUSH_PATH, LoopGitHub, ScriptedCI
from codex_pipeline.dev.remotes import Remotes
from codex_pipeline.dev.webhooks import Sender
from codex_pipeline.wire import signatures
from tests.payloads import github as payloads

SECRET = "loop-secret"
TOKEN = "standin-token"
BRANCH = "codex/issue-42-add-retry-to-the-widget-exporter"
POLICY = Policy(trigger_logins=frozenset({"octocat"}), planner_login="codex-planner[bot]")


class Loop:
    def __init__(self, github: LoopGitHub, sink: RecordingSink, sender: Sender, remotes: Remotes) -> None:
        self.github, self.sink, self.sender, self.remotes = github, sink, sender, remotes

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(
            method, self.github.url + path, json=body, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    def deliveries(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The first ``count`` deliveries, each checked for GitHub's headers and signature."""
        recorded = self.sink.wait_for(count, timeout=10)
        out = []
        for request in recorded[:count]:
            assert signatures.verify([SECRET], request.body, request.headers["x-hub-signature-256"])
            assert request.headers["user-agent"].startswith("GitHub-Hookshot/")
            assert request.headers["x-github-delivery"] and request.headers["x-github-hook-id"]
            out.append((request.headers["x-github-event"], json.loads(request.body)))
        return out

    def push(self, work: Path, text: str) -> str:
        (work / "demo.txt").write_text(text)
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.test"]
        subprocess.run([*git, "add", "-A"], cwd=work, check=True)
        subprocess.run([*git, "commit", "-qm", text], cwd=work, check=True)
        subprocess.run(
            ["git", "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}"], cwd=work, check=True, capture_output=True
        )
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True
        ).stdout.strip()


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    with RecordingSink() as sink:
        sender = Sender(sink.url + "/", SECRET).start()
        remotes = Remotes(tmp_path / "git")
        github = LoopGitHub(
            tokens=(TOKEN,),
            send=sender.send,
            remotes=remotes,
            ci=ScriptedCI(results=("failure", "success"), delay=0.05),
        )
        github.token_login = "codex-planner[bot]"
        remotes.push_url = github.url + PUSH_PATH
        github.add_repo("acme/widgets")
        github.first_number["acme/widgets"] = 57
        with github:
            yield Loop(github, sink, sender, remotes)
        sender.stop()


def clone(loop: Loop, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    url = loop.remotes.url_template.replace("{repo}", "acme/widgets")
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True, capture_output=True)
    subprocess.run(["git", "checkout", "-qb", BRANCH], cwd=work, check=True)
    return work


def test_a_replayed_issue_is_learned_and_the_plan_comment_comes_back_and_promotes_it(loop: Loop) -> None:
    opened = payloads.issues_opened(42)
    assert loop.github.learn("issues", opened) == ["issue #42 'Add retry to the widget exporter'"]
    assert loop.github.learn("issues", opened) == []  # known from then on, learned once
    issue = loop.api("GET", "/repos/acme/widgets/issues/42").json()
    assert (issue["number"], issue["title"]) == (42, "Add retry to the widget exporter")

    answer = loop.api("POST", "/repos/acme/widgets/issues/42/comments", {"body": "<!-- codex:plan -->\n## Objective"})
    assert answer.status_code == 201
    ((event, payload),) = loop.deliveries(1)
    assert (event, payload["action"]) == ("issue_comment", "created")
    assert payload["comment"]["user"]["login"] == "codex-planner[bot]"
    assert payload["repository"]["id"] == opened["repository"]["id"]  # the learned repository
    assert payload["installation"] == opened["installation"]
    routed = route(f"com.github.{event}.created", payload, "d-1", POLICY)
    (task,) = routed.tasks
    assert task.kind == "implementation" and task.task.issue_number == 42
    assert task.task.head == BRANCH


def test_a_pull_request_opens_only_from_a_pushed_branch_and_ci_reports_back(loop: Loop, tmp_path: Path) -> None:
    refused = loop.api("POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {"resource": "PullRequest", "field": "head", "code": "invalid"}

    sha = loop.push(clone(loop, tmp_path), "first")
    answer = loop.api(
        "POST",
        "/repos/acme/widgets/pulls",
        {"head": BRANCH, "base": "main", "title": "Add retry", "body": "Closes #42", "draft": True},
    )
    assert answer.status_code == 201, answer.text
    pull = answer.json()
    assert (pull["number"], pull["head"]["sha"], pull["draft"]) == (57, sha, True)
    again = loop.api("POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t"})
    assert again.status_code == 422 and "already exists" in again.json()["errors"][0]["message"]

    (opened, completed) = loop.deliveries(2)
    assert opened[0] == "pull_request" and opened[1]["action"] == "opened" and opened[1]["number"] == 57
    assert route("com.github.pull_request.opened", opened[1], "d-2", POLICY).ignored
    assert completed[0] == "check_run"
    check_run = completed[1]["check_run"]
    assert (check_run["conclusion"], check_run["head_sha"]) == ("failure", sha)
    (readiness,) = route("com.github.check_run.completed", completed[1], "d-3", POLICY).tasks
    assert readiness.kind == "readiness" and readiness.task.pull_request_number == 57


def test_a_push_to_the_branch_of_an_open_pr_synchronizes_it_and_runs_ci_again(loop: Loop, tmp_path: Path) -> None:
    work = clone(loop, tmp_path)
    first = loop.push(work, "first")
    assert (
        loop.api(
            "POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t", "draft": True}
        ).status_code
        == 201
    )
    loop.deliveries(2)
    second = loop.push(work, "second")  # the remote's post-receive hook tells the stand-in
    events = loop.deliveries(4)[2:]
    assert [(e, p["action"]) for e, p in events] == [("pull_request", "synchronize"), ("check_run", "completed")]
    assert (events[0][1]["before"], events[0][1]["after"]) == (first, second)
    assert events[1][1]["check_run"]["conclusion"] == "success"  # the script's second result
    (readiness,) = route("com.github.pull_request.synchronize", events[0][1], "d-4", POLICY).tasks
    assert readiness.kind == "readiness"
    assert loop.api("GET", "/repos/acme/widgets/pulls/57").json()["head"]["sha"] == second


def test_marking_a_draft_ready_sends_ready_for_review_once(loop: Loop, tmp_path: Path) -> None:
    loop.push(clone(loop, tmp_path), "first")
    pull = loop.api(
        "POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t", "draft": True}
    ).json()
    loop.deliveries(2)
    mutation = {
        "query": "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) "
        "{ pullRequest { isDraft } } }",
        "variables": {"id": pull["node_id"]},
    }
    for _ in range(2):
        assert loop.api("POST", "/graphql", mutation).status_code == 200
    assert loop.sender.wait_idle()
    (event, payload) = loop.deliveries(3)[2]
    assert (event, payload["action"], payload["pull_request"]["draft"]) == ("pull_request", "ready_for_review", False)
    assert len(loop.sink.requests) == 3


def test_dev_comment_types_a_review_request_that_comes_back_as_a_routable_delivery(
    loop: Loop, tmp_path: Path, capsys: Any
) -> None:
    from codex_pipeline.cli import main

    loop.push(clone(loop, tmp_path), "first")
    assert (
        loop.api(
            "POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t", "draft": True}
        ).status_code
        == 201
    )
    loop.deliveries(2)
    state = tmp_path / "state"
    state.mkdir()
    (state / "dev.json").write_text(json.dumps({"github": loop.github.url}))
    assert main(["dev", "comment", "--state", str(state), "57", "@tuslagch review"]) == 0
    assert "commented on acme/widgets#57 as octocat" in capsys.readouterr().out
    (event, payload) = loop.deliveries(3)[2]
    assert event == "issue_comment" and payload["comment"]["author_association"] == "OWNER"
    assert payload["issue"]["pull_request"]["html_url"].endswith("/pull/57")
    (review,) = route("com.github.issue_comment.created", payload, "d-5", POLICY).tasks
    assert review.kind == "review" and review.task.issue_number == 57

    assert main(["dev", "comment", "--state", str(state), "99", "hello"]) == 1  # no such issue in the stand-in
    assert "no issue or pull request #99" in capsys.readouterr().err


def test_a_restarted_stand_in_takes_back_its_issues_pull_requests_and_comments(loop: Loop, tmp_path: Path) -> None:
    loop.github.learn("issues", payloads.issues_opened(42))
    loop.api("POST", "/repos/acme/widgets/issues/42/comments", {"body": "<!-- codex:plan -->\nplan"})
    loop.push(clone(loop, tmp_path), "first")
    assert (
        loop.api(
            "POST", "/repos/acme/widgets/pulls", {"head": BRANCH, "base": "main", "title": "t", "draft": True}
        ).status_code
        == 201
    )
    saved = json.loads(json.dumps(loop.github.dump()))
    with LoopGitHub(tokens=(TOKEN,), remotes=loop.remotes) as again:
        again.restore(saved)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        (comment,) = requests.get(
            f"{again.url}/repos/acme/widgets/issues/42/comments", headers=headers, timeout=10
        ).json()
        assert comment["body"].startswith("<!-- codex:plan -->") and comment["url"].startswith(again.url)
        pull = requests.get(f"{again.url}/repos/acme/widgets/pulls/57", headers=headers, timeout=10).json()
        assert (pull["head"]["ref"], pull["draft"]) == (BRANCH, True)
        assert (
            requests.get(f"{again.url}/repos/acme/widgets/issues/42", headers=headers, timeout=10).json()["title"]
            == "Add retry to the widget exporter"
        )
        assert again._next_number("acme/widgets") == 58
