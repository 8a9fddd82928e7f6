"""request-review over real HTTP: functions-framework in a subprocess, the fake GitHub API, real
PostgreSQL and the dry-run submitter. Review tasks submit one workflow with the review context;
readiness checks mark a clean draft ready and post one handoff, and never request reviewers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from codex_pipeline.core.names import READY_MARKER
from codex_pipeline.effects.argo import workflow_name
from codex_pipeline.handlers import request_review
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire import tasks
from codex_pipeline.wire.pb import codex_task_pb2
from tests.asgi_call import call_asgi
from tests.broker_reply import assert_broker_acceptable
from tests.conftest import RunningFunction, start_function, stop_function
from tests.fakes.github import FakeGitHub
from tests.task_events import cloudevent, effect_env, parameter, task, written_workflows

pytestmark = [pytest.mark.xdist_group("review"), pytest.mark.postgres]

REPO = "acme/widgets"


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review")


ARGO_UI = "https://argo.example.test"


def env_for(github: FakeGitHub, postgres_url: str, workdir: Path) -> dict[str, str]:
    return effect_env(postgres_url, workdir, github.url, CODEX_BOT_MENTION="@tuslagch", CODEX_ARGO_UI_URL=ARGO_UI)


@pytest.fixture(scope="module")
def function(github: FakeGitHub, postgres_url: str, workdir: Path) -> Iterator[RunningFunction]:
    running = start_function("request-review", env_for(github, postgres_url, workdir), workdir)
    yield running
    stop_function(running)


def deliver(function: RunningFunction, kind: str, codex_task: tasks.CodexTask) -> requests.Response:
    headers, body = cloudevent(kind, codex_task)
    answer = requests.post(function.url + "/", data=body, headers=headers, timeout=20)
    assert_broker_acceptable(answer.status_code, answer.headers, answer.content)
    return answer


def workflows_for(workdir: Path, number: int) -> list[dict[str, Any]]:
    return [
        w for w in written_workflows(workdir / "workflows") if w["metadata"]["labels"]["codex.issue"] == str(number)
    ]


def new_pull(github: FakeGitHub, **kwargs: Any) -> tuple[int, str]:
    number = uuid.uuid4().int % 900_000 + 1000
    sha = uuid.uuid4().hex + "0" * 8
    github.add_pull(REPO, number, head=f"codex/issue-{number}-fix", head_sha=sha, **kwargs)
    return number, sha


def review_pull(github: FakeGitHub, **kwargs: Any) -> tuple[int, str]:
    """A pull request a review pass has work on: one unresolved review thread."""
    number, sha = new_pull(github, **kwargs)
    github.add_thread(REPO, number, "please rename")
    return number, sha


def handoffs(github: FakeGitHub, number: int) -> list[dict[str, Any]]:
    return [c for c in github.comments.get((REPO, number), []) if READY_MARKER in c["body"]]


def no_reviewers_requested(github: FakeGitHub) -> bool:
    return not [r for r in github.requests if "requested_reviewers" in r.path]


# ---------------------------------------------------------------- review tasks


def test_review_task_submits_the_review_workflow_with_the_context(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, sha = new_pull(github, mergeable=False, mergeable_state="dirty")
    for i in range(130):
        github.add_thread(REPO, number, f"Please fix {i}", resolved=i < 20)
    github.add_check_run(REPO, sha, "ci / test", conclusion="failure")
    github.add_check_run(REPO, sha, "ci / lint", conclusion="success")
    github.add_status(REPO, sha, "legacy", "error")
    codex_task = task("review", number, head="", base="")
    answer = deliver(function, "review", codex_task)
    assert answer.status_code == 202, answer.text
    name = workflow_name("github-codex-review", REPO, number, codex_task.delivery_id)
    assert answer.headers["ce-id"] == name and answer.json()["duplicate"] is False
    [workflow] = workflows_for(workdir, number)
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "github-codex-review"}
    assert workflow["metadata"]["labels"]["codex.stage"] == "review"
    body = parameter(workflow, "eventBody")
    assert body["stage"] == "review" and body["head"] == f"codex/issue-{number}-fix" and body["base"] == "main"
    context = body["reviewContext"]
    assert context["summary"] == f"PR #{number}: 110 unresolved review threads, 2 failing checks, merge conflicts"
    assert len(context["reviewThreads"]) == 110 and context["reviewThreads"][0]["summary"] == "Please fix 20"
    assert {c["name"] for c in context["failingChecks"]} == {"ci / test", "legacy"}
    assert any(note.startswith("mergeable_state=dirty") for note in context["additionalNotes"])
    assert parameter(workflow, "rawEvent")["type"] == "codex.task.review"
    assert no_reviewers_requested(github)


def test_duplicate_and_concurrent_review_deliveries_submit_one_workflow(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, _ = review_pull(github)
    codex_task = task("review", number)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: deliver(function, "review", codex_task), range(6)))
    graphql_before = len(github.calls("POST", "/graphql"))
    answers.append(deliver(function, "review", codex_task))
    assert {a.status_code for a in answers} == {202}
    assert [a.json()["duplicate"] for a in answers].count(False) == 1
    assert len(workflows_for(workdir, number)) == 1
    assert len(github.calls("POST", "/graphql")) == graphql_before  # a recorded run is answered without GitHub


def test_review_of_a_missing_pull_request_is_permanent(function: RunningFunction) -> None:
    answer = deliver(function, "review", task("review", 999_999_999))
    assert answer.status_code == 422 and "#999999999" in answer.json()["message"]


def test_github_down_is_503_and_the_retry_submits(function: RunningFunction, github: FakeGitHub, workdir: Path) -> None:
    number, _ = review_pull(github)
    codex_task = task("review", number)
    github.fail_next(502, path_contains="/check-runs")
    assert deliver(function, "review", codex_task).status_code == 503
    assert workflows_for(workdir, number) == []
    assert deliver(function, "review", codex_task).status_code == 202


def test_secondary_rate_limit_is_503_with_retry_after(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = review_pull(github)
    github.secondary_rate_limit(retry_after=90)
    answer = deliver(function, "review", task("review", number))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "90"


def replies(github: FakeGitHub, number: int) -> list[dict[str, Any]]:
    return [c for c in github.comments.get((REPO, number), []) if c["body"].startswith("Nothing for Codex to review")]


def test_review_of_a_clean_draft_starts_no_codex_marks_it_ready_and_answers_once(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    github.add_thread(REPO, number, "nit", resolved=True)
    github.add_check_run(REPO, sha, "ci / test")
    request = task("review", number)
    answer = deliver(function, "review", request)
    assert answer.status_code == 200 and answer.content == b""
    assert workflows_for(workdir, number) == []  # no Codex run
    assert github.pulls[(REPO, number)]["draft"] is False
    assert len(handoffs(github, number)) == 1
    [reply] = replies(github, number)
    assert "no review run was started" in reply["body"]
    assert "marked it ready for review and posted the ready-to-merge handoff" in reply["body"]
    # The same request redelivered, and a second request: one handoff; one reply per request.
    assert deliver(function, "review", request).status_code == 200
    assert len(replies(github, number)) == 1
    assert deliver(function, "review", task("review", number)).status_code == 200
    assert len(handoffs(github, number)) == 1 and len(replies(github, number)) == 2
    assert "the handoff is above" in replies(github, number)[1]["body"]
    assert workflows_for(workdir, number) == [] and no_reviewers_requested(github)


@pytest.mark.parametrize("work", ["thread", "failing", "pending", "conflict"])
def test_review_with_work_to_do_starts_codex(
    function: RunningFunction, github: FakeGitHub, workdir: Path, work: str
) -> None:
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    if work == "thread":
        github.add_thread(REPO, number, "please rename")
    elif work == "failing":
        github.add_check_run(REPO, sha, "ci / test", conclusion="failure")
    elif work == "pending":
        # CI still running is not known to pass: "nothing to review" would drop the request if it
        # then fails (readiness only reports), so the review run starts and sees the checks settle
        github.add_check_run(REPO, sha, "ci / test", status="in_progress", conclusion=None)
    else:
        github.pulls[(REPO, number)].update(mergeable=False, mergeable_state="dirty")
    assert deliver(function, "review", task("review", number)).status_code == 202
    assert len(workflows_for(workdir, number)) == 1
    assert replies(github, number) == [] and github.pulls[(REPO, number)]["draft"] is True


# ---------------------------------------------------------------- readiness


def test_clean_draft_is_marked_ready_and_one_handoff_is_posted(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    github.add_thread(REPO, number, "nit", resolved=True)
    github.add_check_run(REPO, sha, "ci / test")
    github.add_status(REPO, sha, "lint", "success")
    first = task("review", number)
    answer = deliver(function, "readiness", first)
    assert answer.status_code == 200 and answer.content == b""
    assert github.pulls[(REPO, number)]["draft"] is False
    [handoff] = handoffs(github, number)
    assert "ready to merge" in handoff["body"] and "`@tuslagch review`" in handoff["body"]
    # later readiness events (new deliveries, redeliveries, concurrent ones) post nothing more
    later = [task("review", number) for _ in range(5)] + [first]
    with ThreadPoolExecutor(6) as pool:
        statuses = {a.status_code for a in pool.map(lambda t: deliver(function, "readiness", t), later)}
    assert statuses == {200}
    assert len(handoffs(github, number)) == 1
    assert workflows_for(workdir, number) == []  # readiness never starts a review run
    assert no_reviewers_requested(github)


def test_concurrent_first_readiness_events_post_one_handoff(function: RunningFunction, github: FakeGitHub) -> None:
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    github.add_check_run(REPO, sha, "build")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: deliver(function, "readiness", task("review", number)), range(8)))
    # While one delivery holds the handoff claim the others answer 503 (the broker retries them);
    # their retries find it done.
    assert {a.status_code for a in answers} <= {200, 503} and 200 in {a.status_code for a in answers}
    retried = [deliver(function, "readiness", task("review", number)) for a in answers if a.status_code == 503]
    assert {a.status_code for a in retried} <= {200}
    assert len(handoffs(github, number)) == 1
    assert github.pulls[(REPO, number)]["draft"] is False


@pytest.mark.parametrize("blocker", ["thread", "failing", "pending", "dirty"])
def test_not_ready_changes_nothing(function: RunningFunction, github: FakeGitHub, blocker: str) -> None:
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    github.add_check_run(REPO, sha, "build")
    if blocker == "thread":
        github.add_thread(REPO, number, "please rename")
    elif blocker == "failing":
        github.add_check_run(REPO, sha, "e2e", conclusion="timed_out")
    elif blocker == "pending":
        github.add_status(REPO, sha, "deploy/preview", "pending")
    else:
        github.pulls[(REPO, number)].update(mergeable=False, mergeable_state="dirty")
    mutations = len(github.calls("POST", "/graphql"))
    answer = deliver(function, "readiness", task("review", number))
    assert answer.status_code == 200 and answer.content == b""
    assert github.pulls[(REPO, number)]["draft"] is True
    assert handoffs(github, number) == []
    graphql = github.calls("POST", "/graphql")[mutations:]
    assert not [r for r in graphql if b"markPullRequestReadyForReview" in r.body]


def test_mergeability_still_computing_is_retried(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = new_pull(github, mergeable=None, mergeable_state="unknown")
    answer = deliver(function, "readiness", task("review", number))
    assert answer.status_code == 503 and "mergeability" in answer.json()["message"]
    github.pulls[(REPO, number)].update(mergeable=True, mergeable_state="draft")
    assert deliver(function, "readiness", task("review", number)).status_code == 200
    assert len(handoffs(github, number)) == 1


def test_existing_handoff_comment_is_not_posted_again(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = new_pull(github, draft=False, mergeable_state="clean")
    github.add_comment(REPO, number, READY_MARKER + "\nposted by an earlier deployment", login="codex-bot")
    assert deliver(function, "readiness", task("review", number)).status_code == 200
    assert len(handoffs(github, number)) == 1


def test_failed_handoff_post_is_retried_and_posted_once(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = new_pull(github, draft=False, mergeable_state="clean")
    github.fail_next(500, path_contains=f"/issues/{number}/comments", method="POST")  # the post, after marking
    codex_task = task("review", number)
    assert deliver(function, "readiness", codex_task).status_code == 503
    assert handoffs(github, number) == []
    assert deliver(function, "readiness", codex_task).status_code == 200
    assert len(handoffs(github, number)) == 1


@pytest.mark.parametrize("stage", ["review", "unspecified"])
def test_kafka_record_without_type_is_told_apart_by_stage(
    function: RunningFunction, github: FakeGitHub, workdir: Path, stage: str
) -> None:
    """A plain KafkaSource record has no task type: readiness checks carry stage UNSPECIFIED."""
    number, sha = new_pull(github, draft=True, mergeable_state="draft")
    github.add_check_run(REPO, sha, "build")
    if stage == "review":
        github.add_thread(REPO, number, "please rename")  # work for the review run
    codex_task = task("review", number)
    if stage == "unspecified":
        codex_task.stage = codex_task_pb2.CODEX_TASK_STAGE_UNSPECIFIED
    headers = {
        "ce-specversion": "1.0",
        "ce-id": f"partition:0/offset:{number}",
        "ce-type": "dev.knative.kafka.event",
        "ce-source": "/apis/v1/namespaces/codex/kafkasources/tasks",
        "Content-Type": "application/protobuf",
    }
    answer = requests.post(function.url + "/", data=tasks.to_protobuf(codex_task), headers=headers, timeout=20)
    assert_broker_acceptable(answer.status_code, answer.headers, answer.content)
    if stage == "review":
        assert answer.status_code == 202 and len(workflows_for(workdir, number)) == 1
        assert handoffs(github, number) == []
    else:
        assert answer.status_code == 200 and workflows_for(workdir, number) == []
        assert len(handoffs(github, number)) == 1


def test_wrong_event_type_is_400(function: RunningFunction) -> None:
    headers, body = cloudevent("planning", task("planning", 1))
    answer = requests.post(function.url + "/", data=body, headers=headers, timeout=10)
    assert answer.status_code == 400 and "codex.task.planning" in answer.json()["message"]


def test_asgi_entry_gives_the_same_answer(
    github: FakeGitHub, postgres_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env_for(github, postgres_url, workdir).items():
        monkeypatch.setenv(key, value)
    function = AsgiFunction(lambda: request_review.create_app(load_settings()))
    function.start({})
    number, _ = review_pull(github)
    headers, body = cloudevent("review", task("review", number))
    answer = call_asgi(function, headers, body)
    cast(Any, function.app.handler).store.close()
    assert answer.status == 202
    assert len(workflows_for(workdir, number)) == 1


def test_github_app_credentials_from_a_mounted_key_file(postgres_url: str, tmp_path: Path) -> None:
    """App auth end to end: key from ``..._FILE``, token exchanged once, renewed when revoked mid-run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    (tmp_path / "app.pem").write_bytes(pem)
    with FakeGitHub(tokens=()) as app_github:
        app_github.add_repo(REPO)
        app_github.enable_app("31337", public)
        env = {
            **env_for(app_github, postgres_url, tmp_path),
            "CODEX_GITHUB_TOKEN": "",
            "CODEX_GITHUB_APP_ID": "31337",
            "CODEX_GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
        }
        running = start_function("request-review", env, tmp_path)
        try:
            first, _ = review_pull(app_github)
            assert deliver(running, "review", task("review", first)).status_code == 202
            app_github.revoke_all_tokens()
            second, _ = review_pull(app_github)
            assert deliver(running, "review", task("review", second)).status_code == 202
        finally:
            stop_function(running)
        assert len(app_github.calls("POST", "/app/installations/1/access_tokens")) == 2
        assert len(app_github.calls("GET", f"/repos/{REPO}/installation")) == 1
    assert len(workflows_for(tmp_path, first)) == 1 and len(workflows_for(tmp_path, second)) == 1


# ---------------------------------------------------------------- issue numbers and command replies


def test_review_of_a_pr_is_keyed_by_the_issue_its_branch_names(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    pr = uuid.uuid4().int % 900_000 + 1000
    issue = pr + 1_000_000
    github.add_pull(REPO, pr, head=f"codex/issue-{issue}-retry", head_sha=uuid.uuid4().hex + "0" * 8)
    github.add_thread(REPO, pr, "please rename")
    # As route-task sends it for a review comment on a PR it cannot tie to an issue: both numbers are the PR.
    codex_task = task("review", pr, head="", base="", pullRequestNumber=pr)
    assert deliver(function, "review", codex_task).status_code == 202
    [workflow] = workflows_for(workdir, issue)
    body = parameter(workflow, "eventBody")
    assert (body["issueNumber"], body["pullRequestNumber"]) == (issue, pr)
    assert body["head"] == f"codex/issue-{issue}-retry"
    assert workflows_for(workdir, pr) == []


def test_review_of_a_branch_naming_no_issue_keeps_the_pr_number(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    pr = uuid.uuid4().int % 900_000 + 1000
    github.add_pull(REPO, pr, head="codex/hotfix", head_sha=uuid.uuid4().hex + "0" * 8)
    github.add_thread(REPO, pr, "please rename")
    assert deliver(function, "review", task("review", 77, head="", pullRequestNumber=pr)).status_code == 202
    [workflow] = workflows_for(workdir, pr)
    assert parameter(workflow, "eventBody")["pullRequestNumber"] == pr


def test_readiness_reads_the_pr_from_its_own_field(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = new_pull(github, draft=True, mergeable=True, mergeable_state="clean")
    readiness = task("review", 42, pullRequestNumber=number)
    assert deliver(function, "readiness", readiness).status_code == 200
    assert len(handoffs(github, number)) == 1 and handoffs(github, 42) == []


def command_event(
    number: int, delivery: str, reply: str = "I did not understand that."
) -> tuple[dict[str, str], bytes]:
    from codex_pipeline.core.commands import CommandRequest
    from codex_pipeline.wire.events import Event, encode_binary

    command = CommandRequest("reply", REPO, number, delivery, 1234, "alice", reply, "unknown mention")
    return encode_binary(
        Event(
            id=command.event_id,
            source="route-task",
            type="codex.command",
            datacontenttype="application/json",
            data=command.to_json(),
            extensions={"partitionkey": command.partition_key},
        )
    )


def test_a_command_reply_is_posted_once_per_delivery(function: RunningFunction, github: FakeGitHub) -> None:
    number, _ = new_pull(github)
    delivery = str(uuid.uuid4())
    headers, body = command_event(number, delivery)

    def post(_: int) -> requests.Response:
        answer = requests.post(function.url + "/", data=body, headers=headers, timeout=20)
        assert_broker_acceptable(answer.status_code, answer.headers, answer.content)
        return answer

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, range(4)))
    retried = [post(0) for _ in range(3) if any(a.status_code == 503 for a in answers)]
    assert {a.status_code for a in answers + retried} <= {200, 503} and answers + retried
    assert post(0).status_code == 200
    replies = [c for c in github.comments.get((REPO, number), []) if c["body"] == "I did not understand that."]
    assert len(replies) == 1
    # Another delivery of the same kind of mention is answered again.
    headers, body = command_event(number, str(uuid.uuid4()))
    assert post(0).status_code == 200
    assert len([c for c in github.comments[(REPO, number)] if c["body"] == "I did not understand that."]) == 2


@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        b'{"kind":"launch","repository":"a/b","number":1,"deliveryId":"d"}',
        b'{"kind":"reply","repository":"a/b","number":0,"deliveryId":"d"}',
        b"[]",
    ],
)
def test_a_bad_command_request_is_400(function: RunningFunction, data: bytes) -> None:
    from codex_pipeline.wire.events import Event, encode_binary

    headers, body = encode_binary(
        Event(id="x", source="t", type="codex.command", datacontenttype="application/json", data=data)
    )
    answer = requests.post(function.url + "/", data=body, headers=headers, timeout=20)
    assert answer.status_code == 400 and answer.json()["error"]


# ---------------------------------------------------------------- one active run per issue (issue 17)


def test_a_second_review_request_supersedes_the_first(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, _ = review_pull(github)
    first, second = task("review", number), task("review", number)
    assert deliver(function, "review", first).status_code == 202
    [running] = workflows_for(workdir, number)
    assert "shutdown" not in running["spec"]
    assert running["spec"]["synchronization"] == {"mutexes": [{"name": f"codex-acme-widgets-{number}"}]}
    assert deliver(function, "review", second).status_code == 202
    by_name = {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}
    older = workflow_name("github-codex-review", REPO, number, first.delivery_id)
    newer = workflow_name("github-codex-review", REPO, number, second.delivery_id)
    assert by_name[older]["spec"]["shutdown"] == "Stop"
    assert "shutdown" not in by_name[newer]["spec"]
    assert by_name[newer]["spec"]["synchronization"] == by_name[older]["spec"]["synchronization"]
    log = function.output()
    assert f"workflow superseded: stage=REVIEW workflow={older} namespace=argo-workflows by={newer}" in log
    # A redelivery of the older request neither stops the newer run nor takes its place back.
    assert deliver(function, "review", first).json()["duplicate"] is True
    assert "shutdown" not in {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}[newer]["spec"]


def test_reviews_of_different_issues_never_stop_each_other(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    one, _ = review_pull(github)
    two, _ = review_pull(github)
    assert deliver(function, "review", task("review", one)).status_code == 202
    assert deliver(function, "review", task("review", two)).status_code == 202
    for number in (one, two):
        [workflow] = workflows_for(workdir, number)
        assert "shutdown" not in workflow["spec"]
        assert workflow["spec"]["synchronization"]["mutexes"][0]["name"].endswith(f"-{number}")


def test_supersede_through_the_kubernetes_api(github: FakeGitHub, postgres_url: str, tmp_path: Path) -> None:
    from tests.fakes.kubernetes import FakeKubernetes

    with FakeKubernetes() as kube:
        env = env_for(github, postgres_url, tmp_path)
        env.update(
            {"CODEX_ARGO_SUBMITTER": "kubernetes", "CODEX_KUBECONFIG": str(kube.kubeconfig(tmp_path / "kubeconfig"))}
        )
        running = start_function("request-review", env, tmp_path)
        try:
            number, _ = review_pull(github)
            first, second = task("review", number), task("review", number)
            assert deliver(running, "review", first).status_code == 202
            assert kube.patches() == []
            assert deliver(running, "review", second).status_code == 202
            older = workflow_name("github-codex-review", REPO, number, first.delivery_id)
            newer = workflow_name("github-codex-review", REPO, number, second.delivery_id)
            [patch] = kube.patches()
            assert patch.path.endswith(f"/workflows/{older}")
            assert patch.headers["content-type"] == "application/merge-patch+json"
            assert kube.workflows[("argo-workflows", older)]["spec"]["shutdown"] == "Stop"
            assert "shutdown" not in kube.workflows[("argo-workflows", newer)]["spec"]
            # The API server failing the stop: 503 (the create went through); the retry stops it.
            third = task("review", number)
            newest = workflow_name("github-codex-review", REPO, number, third.delivery_id)
            kube.refuse(500, method="PATCH")
            assert deliver(running, "review", third).status_code == 503
            assert "shutdown" not in kube.workflows[("argo-workflows", newer)]["spec"]
            assert deliver(running, "review", third).status_code == 202
            assert kube.workflows[("argo-workflows", newer)]["spec"]["shutdown"] == "Stop"
            assert "shutdown" not in kube.workflows[("argo-workflows", newest)]["spec"]
        finally:
            stop_function(running)


def cancel_event(number: int, delivery: str, comment_id: int, *, pull_request: bool) -> tuple[dict[str, str], bytes]:
    from codex_pipeline.core.commands import CommandRequest
    from codex_pipeline.wire.events import Event, encode_binary

    command = CommandRequest(
        "cancel",
        REPO,
        number,
        delivery,
        comment_id,
        "alice",
        CommandRequest.NOTHING_TO_CANCEL,
        "cancel: author_association MEMBER",
        pull_request,
    )
    return encode_binary(
        Event(
            id=command.event_id,
            source="route-task",
            type="codex.command",
            datacontenttype="application/json",
            data=command.to_json(),
        )
    )


def test_cancel_stops_the_active_run_and_reacts_once(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, _ = review_pull(github)
    review = task("review", number)
    assert deliver(function, "review", review).status_code == 202
    running = workflow_name("github-codex-review", REPO, number, review.delivery_id)
    comment = github.add_comment(REPO, number, "@tuslagch cancel", login="alice", association="MEMBER")
    headers, body = cancel_event(number, str(uuid.uuid4()), comment["id"], pull_request=True)
    for _ in range(2):  # a redelivery neither reacts again nor says "nothing to cancel"
        answer = requests.post(function.url + "/", data=body, headers=headers, timeout=20)
        assert answer.status_code == 200, answer.text
    [workflow] = workflows_for(workdir, number)
    assert workflow["metadata"]["name"] == running and workflow["spec"]["shutdown"] == "Stop"
    stored = next(c for c in github.comments[(REPO, number)] if c["id"] == comment["id"])
    assert [r["content"] for r in stored["reaction_list"]] == ["eyes"]
    assert not [c for c in github.comments[(REPO, number)] if c["body"].startswith("Nothing to cancel")]
    # Another cancel finds nothing running: one reply says so.
    again = github.add_comment(REPO, number, "@tuslagch cancel", login="alice", association="MEMBER")
    headers, body = cancel_event(number, str(uuid.uuid4()), again["id"], pull_request=True)
    for _ in range(2):
        assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    assert len([c for c in github.comments[(REPO, number)] if c["body"].startswith("Nothing to cancel")]) == 1
    # A new review after the cancel runs, and stops nothing.
    assert deliver(function, "review", task("review", number)).status_code == 202
    assert len([w for w in workflows_for(workdir, number) if "shutdown" not in w["spec"]]) == 1


def test_an_accepted_command_is_acknowledged_with_eyes_once(function: RunningFunction, github: FakeGitHub) -> None:
    from codex_pipeline.core.commands import CommandRequest
    from codex_pipeline.wire.events import Event, encode_binary

    number, _ = new_pull(github)
    comment = github.add_comment(REPO, number, "@tuslagch replan", login="alice", association="MEMBER")
    ack = CommandRequest("ack", REPO, number, str(uuid.uuid4()), comment["id"], "alice", "", "replan: allowed")
    headers, body = encode_binary(
        Event(
            id=ack.event_id,
            source="route-task",
            type="codex.command",
            datacontenttype="application/json",
            data=ack.to_json(),
        )
    )
    for _ in range(2):
        assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    stored = next(c for c in github.comments[(REPO, number)] if c["id"] == comment["id"])
    assert [r["content"] for r in stored["reaction_list"]] == ["eyes"]
    assert [c["id"] for c in github.comments[(REPO, number)]] == [comment["id"]]  # and no reply


def command_request(
    kind: str, number: int, comment_id: int, *, delivery: str | None = None, pull_request: bool = True
) -> tuple[dict[str, str], bytes]:
    """A ``codex.command`` as route-task emits it for an accepted command on a PR."""
    from codex_pipeline.core.commands import CommandRequest
    from codex_pipeline.wire.events import Event, encode_binary

    command = CommandRequest(
        kind,
        REPO,
        number,
        delivery or str(uuid.uuid4()),
        comment_id,
        "alice",
        CommandRequest.NOTHING_TO_CANCEL if kind == "cancel" else "",
        f"{kind}: author_association MEMBER",
        pull_request,
    )
    return encode_binary(
        Event(
            id=command.event_id,
            source="route-task",
            type="codex.command",
            datacontenttype="application/json",
            data=command.to_json(),
        )
    )


def settle(workdir: Path, name: str, phase: str, message: str = "") -> None:
    """What Argo's controller (``dev``'s executor locally) writes when a Workflow ends."""
    from codex_pipeline.effects.argo import DryRunSubmitter

    assert DryRunSubmitter(workdir / "workflows").update(
        "argo-workflows", name, lambda w: w.update(status={"phase": phase, "message": message})
    )


def arguments(workflow: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in workflow["spec"]["arguments"]["parameters"]}


def reactions(github: FakeGitHub, number: int, comment_id: int) -> list[str]:
    stored = next(c for c in github.comments[(REPO, number)] if c["id"] == comment_id)
    return [r["content"] for r in stored.get("reaction_list", [])]


def test_stops_say_why_in_the_workflow_annotation(function: RunningFunction, github: FakeGitHub, workdir: Path) -> None:
    number, _ = review_pull(github)
    first, second = task("review", number), task("review", number)
    assert deliver(function, "review", first).status_code == 202
    older = workflow_name("github-codex-review", REPO, number, first.delivery_id)
    newer = workflow_name("github-codex-review", REPO, number, second.delivery_id)
    by_name = {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}
    assert "codex.stop-reason" not in by_name[older]["metadata"]["annotations"]
    assert deliver(function, "review", second).status_code == 202
    by_name = {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}
    assert by_name[older]["metadata"]["annotations"]["codex.stop-reason"] == f"superseded by {newer}"
    comment = github.add_comment(REPO, number, "@tuslagch cancel", login="alice", association="MEMBER")
    headers, body = command_request("cancel", number, comment["id"])
    assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    by_name = {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}
    assert by_name[newer]["spec"]["shutdown"] == "Stop"
    assert by_name[newer]["metadata"]["annotations"]["codex.stop-reason"] == "cancelled by alice"
    assert by_name[older]["metadata"]["annotations"]["codex.stop-reason"] == f"superseded by {newer}"


def test_retry_reruns_a_failed_review_once_and_then_has_nothing_to_retry(
    function: RunningFunction, github: FakeGitHub, workdir: Path
) -> None:
    number, _ = review_pull(github)
    review = task("review", number)
    assert deliver(function, "review", review).status_code == 202
    failed = workflow_name("github-codex-review", REPO, number, review.delivery_id)
    # Still running: nothing to retry, one reply says so.
    early = github.add_comment(REPO, number, "@tuslagch retry", login="alice", association="MEMBER")
    headers, body = command_request("retry", number, early["id"])
    for _ in range(2):
        assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    [refusal] = [c for c in github.comments[(REPO, number)] if c["body"].startswith("Nothing to retry")]
    assert f"review `{failed}`: running" in refusal["body"]
    assert reactions(github, number, early["id"]) == []
    settle(workdir, failed, "Failed", "child 'review' failed: exit code 1")
    comment = github.add_comment(REPO, number, "@tuslagch retry", login="alice", association="MEMBER")
    delivery = str(uuid.uuid4())
    headers, body = command_request("retry", number, comment["id"], delivery=delivery)
    for _ in range(2):  # a redelivery submits nothing more and does not react again
        assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    retried = workflow_name("github-codex-review", REPO, number, delivery)
    by_name = {w["metadata"]["name"]: w for w in workflows_for(workdir, number)}
    assert set(by_name) == {failed, retried}
    before, after = (parameter(by_name[name], "eventBody") for name in (failed, retried))
    assert (before.pop("deliveryId"), after.pop("deliveryId")) == (review.delivery_id, delivery)
    assert after == before and after["reviewContext"]  # the same review, enriched as it was
    # the retried run's check links to Argo's UI as the first one did
    assert [arguments(by_name[name])["argoUiUrl"] for name in (failed, retried)] == [ARGO_UI, ARGO_UI]
    assert reactions(github, number, comment["id"]) == ["eyes"]
    assert "shutdown" not in by_name[retried]["spec"] and "shutdown" not in by_name[failed]["spec"]
    assert f"retried={retried}" in function.output()
    # The retried run succeeds: nothing left to retry.
    settle(workdir, retried, "Succeeded")
    again = github.add_comment(REPO, number, "@tuslagch retry", login="alice", association="MEMBER")
    headers, body = command_request("retry", number, again["id"])
    assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    refusals = [c for c in github.comments[(REPO, number)] if c["body"].startswith("Nothing to retry")]
    assert len(refusals) == 2 and f"review `{retried}`: succeeded" in refusals[-1]["body"]
    assert len(workflows_for(workdir, number)) == 2


def test_retry_reruns_a_cancelled_review(function: RunningFunction, github: FakeGitHub, workdir: Path) -> None:
    number, _ = review_pull(github)
    review = task("review", number)
    assert deliver(function, "review", review).status_code == 202
    cancelled = workflow_name("github-codex-review", REPO, number, review.delivery_id)
    cancel = github.add_comment(REPO, number, "@tuslagch cancel", login="alice", association="MEMBER")
    headers, body = command_request("cancel", number, cancel["id"])
    assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    comment = github.add_comment(REPO, number, "@tuslagch retry", login="alice", association="MEMBER")
    delivery = str(uuid.uuid4())
    headers, body = command_request("retry", number, comment["id"], delivery=delivery)
    assert requests.post(function.url + "/", data=body, headers=headers, timeout=20).status_code == 200
    retried = workflow_name("github-codex-review", REPO, number, delivery)
    assert {w["metadata"]["name"] for w in workflows_for(workdir, number)} == {cancelled, retried}
    assert reactions(github, number, comment["id"]) == ["eyes"]
    assert "retry the review run" in function.output() and "cancelled by alice" in function.output()


def test_retry_reads_the_workflow_phase_through_the_kubernetes_api(
    github: FakeGitHub, postgres_url: str, tmp_path: Path
) -> None:
    from tests.fakes.kubernetes import FakeKubernetes

    with FakeKubernetes() as kube:
        env = env_for(github, postgres_url, tmp_path)
        env.update(
            {"CODEX_ARGO_SUBMITTER": "kubernetes", "CODEX_KUBECONFIG": str(kube.kubeconfig(tmp_path / "kubeconfig"))}
        )
        running = start_function("request-review", env, tmp_path)
        try:
            number, _ = review_pull(github)
            review = task("review", number)
            assert deliver(running, "review", review).status_code == 202
            failed = workflow_name("github-codex-review", REPO, number, review.delivery_id)
            kube.workflows[("argo-workflows", failed)]["status"] = {"phase": "Error", "message": "pod deleted"}
            comment = github.add_comment(REPO, number, "@tuslagch retry", login="alice", association="MEMBER")
            delivery = str(uuid.uuid4())
            headers, body = command_request("retry", number, comment["id"], delivery=delivery)
            kube.refuse(500, method="GET")  # the API server down: 503, nothing submitted; the redelivery does it
            assert requests.post(running.url + "/", data=body, headers=headers, timeout=20).status_code == 503
            assert len(kube.creates()) == 1
            assert requests.post(running.url + "/", data=body, headers=headers, timeout=20).status_code == 200
            retried = workflow_name("github-codex-review", REPO, number, delivery)
            assert ("argo-workflows", retried) in kube.workflows and len(kube.creates()) == 2
            assert reactions(github, number, comment["id"]) == ["eyes"]
        finally:
            stop_function(running)


def test_an_ack_for_a_comment_deleted_since_is_done_not_dead_lettered(
    function: RunningFunction, github: FakeGitHub
) -> None:
    number, _ = new_pull(github)
    headers, body = command_request("ack", number, 987_654_321)  # no such comment (deleted before the 👀)
    answer = requests.post(function.url + "/", data=body, headers=headers, timeout=20)
    assert (answer.status_code, answer.content) == (200, b"")
    assert "command comment gone; no reaction" in function.output()
