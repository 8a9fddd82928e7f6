"""Every answer of the GitHub stand-in, held against GitHub's own REST description.

The reference is GitHub's OpenAPI description (github/rest-api-description, API version
2022-11-28) as shipped, generated into pydantic models, by githubkit-schemas-2022-11-28
26.10.21 (PyPI). A missing required field, a wrong type or an unknown enum value fails the
test. The stand-in is driven through our client (the calls the pipeline makes) and through
plain requests for the rest, and each answer is checked by its route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import githubkit_schemas.v2022_11_28.models as models
import pydantic
import pytest
import requests

from codex_pipeline.effects.github import AppAuth, GitHubClient, TokenAuth
from tests.fakes.github import Answered, FakeGitHub

REPO = "acme/widgets"
SHA = "c" * 40
TOKEN = {"Authorization": "Bearer test-token", "Accept": "application/vnd.github+json"}

# (method, path pattern, status) -> the model of GitHub's description that answer must satisfy.
# A model name ending in ``[]`` is a JSON array of that model.
ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", r"/repos/[^/]+/[^/]+", "2xx", "FullRepository"),
    ("GET", r"/repos/[^/]+/[^/]+/issues", "2xx", "Issue[]"),
    ("POST", r"/repos/[^/]+/[^/]+/issues", "2xx", "Issue"),
    ("GET", r"/repos/[^/]+/[^/]+/issues/\d+", "2xx", "Issue"),
    ("GET", r"/repos/[^/]+/[^/]+/issues/\d+/comments", "2xx", "IssueComment[]"),
    ("POST", r"/repos/[^/]+/[^/]+/issues/\d+/comments", "2xx", "IssueComment"),
    ("PATCH", r"/repos/[^/]+/[^/]+/issues/comments/\d+", "2xx", "IssueComment"),
    ("GET", r"/repos/[^/]+/[^/]+/pulls", "2xx", "PullRequestSimple[]"),
    ("POST", r"/repos/[^/]+/[^/]+/pulls", "2xx", "PullRequest"),
    ("GET", r"/repos/[^/]+/[^/]+/pulls/\d+", "2xx", "PullRequest"),
    ("GET", r"/repos/[^/]+/[^/]+/commits/[^/]+/check-runs", "2xx", "ReposOwnerRepoCommitsRefCheckRunsGetResponse200"),
    ("GET", r"/repos/[^/]+/[^/]+/commits/[^/]+/status", "2xx", "CombinedCommitStatus"),
    ("POST", r"/repos/[^/]+/[^/]+/check-runs", "2xx", "CheckRun"),
    ("PATCH", r"/repos/[^/]+/[^/]+/check-runs/\d+", "2xx", "CheckRun"),
    ("GET", r"/repos/[^/]+/[^/]+/check-runs/\d+", "2xx", "CheckRun"),
    ("POST", r"/repos/[^/]+/[^/]+/statuses/[0-9a-f]+", "2xx", "Status"),
    ("GET", r"/repos/[^/]+/[^/]+/hooks/\d+/deliveries", "2xx", "HookDeliveryItem[]"),
    ("GET", r"/repos/[^/]+/[^/]+/hooks/\d+/deliveries/\d+", "2xx", "HookDelivery"),
    (
        "POST",
        r"/repos/[^/]+/[^/]+/hooks/\d+/deliveries/\d+/attempts",
        "2xx",
        "AppHookDeliveriesDeliveryIdAttemptsPostResponse202",
    ),
    ("GET", r"/app/hook/deliveries", "2xx", "HookDeliveryItem[]"),
    ("POST", r"/app/hook/deliveries/\d+/attempts", "2xx", "AppHookDeliveriesDeliveryIdAttemptsPostResponse202"),
    ("GET", r"/app", "2xx", "Integration"),
    ("GET", r"/repos/[^/]+/[^/]+/installation", "2xx", "Installation"),
    ("POST", r"/app/installations/\d+/access_tokens", "2xx", "InstallationToken"),
    ("*", r".*", "422", "ValidationError"),
    ("*", r".*", "4xx", "BasicError"),
]


def model_for(answered: Answered) -> str | None:
    kind = "2xx" if 200 <= answered.status < 300 else "422" if answered.status == 422 else "4xx"
    for method, pattern, status, model in ROUTES:
        if method in ("*", answered.method) and status == kind and re.fullmatch(pattern, answered.path):
            return model
    return None


def adapter(model: str) -> Any:
    if model.endswith("[]"):
        item: Any = getattr(models, model[:-2])
        return pydantic.TypeAdapter(list[item])
    return pydantic.TypeAdapter(getattr(models, model))


def validate(answered: Answered) -> None:
    model = model_for(answered)
    assert model is not None, f"no model known for {answered.method} {answered.path} {answered.status}"
    adapter(model).validate_json(answered.body)


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        yield server


def drive_everything(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    """Every REST route of the stand-in, success and refusal, through the client and plain requests."""
    client = GitHubClient(TokenAuth("test-token"), gh.url, sleep=lambda _: None)
    issue = client.create_issue(REPO, title="Plan it", body="body")
    comment = client.create_issue_comment(REPO, issue.number, "first")
    client.update_issue_comment(REPO, comment.id, "edited")
    client.list_issue_comments(REPO, issue.number)
    pull = client.create_pull(REPO, head="codex/issue-1-x", base="main", title="Fix", body="Closes #1")
    client.find_open_pull(REPO, "codex/issue-1-x")
    client.get_pull(REPO, pull.number)
    gh.add_pull(REPO, head="codex/unsaid", draft=None)
    client.default_branch(REPO)
    client.find_recent_issue_with(REPO, "body")
    gh.add_check_run(REPO, SHA, "ci / test", conclusion="failure")
    gh.add_check_run(REPO, SHA, "ci / test", status="in_progress", conclusion=None)
    gh.add_check_run(REPO, SHA, "ci / lint", status="queued", conclusion=None)
    gh.add_status(REPO, SHA, "ci/legacy", "pending")
    client.failing_checks(REPO, SHA)
    requests.get(f"{gh.url}/repos/{REPO}/issues/{pull.number}", headers=TOKEN, timeout=5)
    requests.get(f"{gh.url}/repos/{REPO}/issues/{issue.number}", headers=TOKEN, timeout=5)
    requests.get(f"{gh.url}/repos/{REPO}/commits/{SHA}/check-runs?filter=all", headers=TOKEN, timeout=5)
    # refusals: duplicate head (422), missing title (422), unknown repository (404), bad token (401)
    requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=TOKEN,
        timeout=5,
        json={"head": "codex/issue-1-x", "base": "main", "title": "again"},
    )
    requests.post(f"{gh.url}/repos/{REPO}/issues", headers=TOKEN, timeout=5, json={"title": ""})
    requests.get(f"{gh.url}/repos/acme/missing", headers=TOKEN, timeout=5)
    requests.get(f"{gh.url}/repos/{REPO}", headers={"Authorization": "Bearer wrong"}, timeout=5)
    # App calls: the App itself, the repository's installation, a token exchange
    private, public = app_key
    gh.enable_app("4242", public)
    app_client = GitHubClient(AppAuth("4242", private), gh.url, sleep=lambda _: None)
    app_client.viewer_login()
    app_client.default_branch(REPO)
    run = app_client.create_check_run(
        REPO,
        head_sha=SHA,
        name="codex / implementation",
        title="Queued",
        summary="Waiting for the workflow",
        details_url="https://argo.example/wf",
    )
    app_client.update_check_run(REPO, run.id, status="in_progress")
    app_client.update_check_run(REPO, run.id, conclusion="success", title="Done", summary="All good")
    app_client.rest("GET", f"/repos/{REPO}/check-runs/{run.id}", repo=REPO)
    client.create_commit_status(REPO, SHA, state="pending", context="codex / review", target_url="https://a.example")
    # Webhook deliveries (what `reconcile` reads and redelivers): a repository hook and the App's
    from codex_pipeline.effects.github.deliveries import Hook
    from tests.fakes.httpserver import RecordingSink

    with RecordingSink(status=503) as receiver:
        repo_hook = gh.add_hook(REPO, receiver.url, "s")
        app_hook = gh.add_hook(None, receiver.url, "s")
        first = gh.deliver(repo_hook, "issues", {"action": "opened"})
        app_first = gh.deliver(app_hook, "issue_comment", {"action": "created"})
        for hook, item, via in ((Hook(REPO, repo_hook.id), first, client), (Hook(), app_first, app_client)):
            list(via.hook_deliveries(hook))
            via.redeliver(hook, int(str(item["id"])))
        requests.get(f"{gh.url}/repos/{REPO}/hooks/{repo_hook.id}/deliveries/{first['id']}", headers=TOKEN, timeout=5)
        receiver.wait_for(4)
    requests.post(f"{gh.url}/repos/{REPO}/check-runs", headers=TOKEN, timeout=5, json={"name": "x", "head_sha": SHA})


def test_every_answer_of_the_standin_satisfies_githubs_description(gh: FakeGitHub, app_key: tuple[str, str]) -> None:
    drive_everything(gh, app_key)
    rest = [a for a in gh.answers if a.path not in ("/graphql", "/api/graphql")]
    for answered in rest:
        validate(answered)
    routes = {
        (m, p, s)
        for a in rest
        for m, p, s, _ in ROUTES[:-2]
        if m == a.method and 200 <= a.status < 300 and re.fullmatch(p, a.path)
    }
    assert len(routes) == len(ROUTES) - 2, "every route of the table was exercised"
    assert {a.status for a in rest} >= {200, 201, 401, 404, 422}


def test_a_missing_required_field_fails_the_check(gh: FakeGitHub) -> None:
    pull = gh.add_pull(REPO)
    requests.get(f"{gh.url}/repos/{REPO}/pulls/{pull['number']}", headers=TOKEN, timeout=5)
    answered = gh.answers[-1]
    validate(answered)
    import json

    for field in ("mergeable_state", "head", "_links"):
        broken = json.loads(answered.body)
        del broken[field]
        with pytest.raises(pydantic.ValidationError, match=field):
            validate(Answered(answered.method, answered.path, answered.status, json.dumps(broken).encode()))
    broken = json.loads(answered.body)
    del broken["head"]["repo"]["owner"]["site_admin"]
    with pytest.raises(pydantic.ValidationError, match="site_admin"):
        validate(Answered(answered.method, answered.path, answered.status, json.dumps(broken).encode()))
