"""Every function's HTTP surface against input that can never succeed, under both runtimes.

Two parts, over real sockets to all five functions served by functions-framework and by
func-python (what ``func deploy`` builds):

- named cases of issue 15: a signed (or otherwise well-formed) body of 100,000 nested arrays, or
  holding a 5,000-digit number, is 400 in every function, never a retried 5xx;
- a hypothesis suite: arbitrary methods, paths, headers, content types, CloudEvent attributes and
  bodies (random bytes, JSON values, real tasks and GitHub payloads damaged) never give a 5xx
  unless a dependency is down (GitHub is unreachable here on purpose), are answered well inside
  the emit deadline, and a refused request (4xx) never emits to the sink, writes a Workflow or
  stores a row.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES
from codex_pipeline.wire.signatures import sign
from tests.conftest import free_port
from tests.fakes.httpserver import RecordingSink
from tests.payloads import github
from tests.runtimes import RUNTIMES, Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile-functions")]

SECRET = "fuzz-secret"
FUNCTIONS = ("ingest-webhook", "route-task", "dispatch-planning", "promote-plan", "request-review")
EFFECTS = ("dispatch-planning", "promote-plan", "request-review")
ANSWER_WITHIN = 10.0  # seconds; the emit deadline here is the default 8 s and the sink answers at once
DEEP = b"[" * 100_000 + b"]" * 100_000
BIG_NUMBER = b'{"action": "opened", "issue": {"number": ' + b"9" * 5000 + b"}}"


@dataclass
class Deployment:
    runtime: str
    served: dict[str, Served]
    sink: RecordingSink
    state: Path

    def rows(self) -> int:
        with sqlite3.connect(self.state / "state.db") as db:
            return int(
                db.execute(
                    "SELECT (SELECT count(*) FROM task_intake) + (SELECT count(*) FROM workflow_runs)"
                    " + (SELECT count(*) FROM created_issues)"
                ).fetchone()[0]
            )

    def workflows(self) -> int:
        return sum(1 for _ in (self.state / "workflows").rglob("*.*"))


@pytest.fixture(scope="module", params=RUNTIMES)
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    (tmp / "workflows").mkdir()
    with ExitStack() as stack:
        sink = stack.enter_context(RecordingSink())
        env = {
            "CODEX_WEBHOOK_SECRET": SECRET,
            "K_SINK": sink.url,
            "CODEX_TASKS_SINK": sink.url,
            "CODEX_TASKS_JSON_SINK": sink.url,
            "CODEX_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
            "CODEX_ARGO_SUBMITTER": "dry-run",
            "CODEX_DRY_RUN_DIR": str(tmp / "workflows"),
            "CODEX_TRIGGER_LOGINS": "octocat",
            "CODEX_PLANNER_LOGIN": "codex-planner",
            "CODEX_DISCORD_REPOSITORY": "acme/widgets",
            "CODEX_DISCORD_ALLOWED_USERS": "80351110224678912",
            # a dependency that is down: GitHub answers nothing, so 503 is the right answer there
            "CODEX_GITHUB_TOKEN": "fuzz-token",
            "CODEX_GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
            "CODEX_GITHUB_TIMEOUT_SECONDS": "1",
            "CODEX_LOG_LEVEL": "WARNING",
        }
        served = {name: stack.enter_context(serve(name, request.param, env, tmp / name)) for name in FUNCTIONS}
        yield Deployment(request.param, served, sink, tmp)


def post(
    deployment: Deployment, name: str, headers: dict[str, str], body: bytes, method: str = "POST", path: str = "/"
) -> tuple[requests.Response, float]:
    started = time.monotonic()
    answer = requests.request(
        method, deployment.served[name].url + path, headers=headers, data=body, timeout=ANSWER_WITHIN + 5
    )
    return answer, time.monotonic() - started


def github_headers(body: bytes, event: str = "issues") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
    }


def cloudevent_headers(event_type: str, content_type: str = "application/json") -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "https://github.com/acme/widgets",
        "ce-type": event_type,
        "content-type": content_type,
    }


def type_for(name: str) -> str:
    return {
        "route-task": "com.github.issues.opened",
        "dispatch-planning": TASK_TYPES["planning"],
        "promote-plan": TASK_TYPES["implementation"],
        "request-review": TASK_TYPES["review"],
    }[name]


@pytest.mark.parametrize("body", [DEEP, BIG_NUMBER], ids=["100k nested arrays", "5000-digit number"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_json_that_can_never_parse_is_400_in_every_function(deployment: Deployment, name: str, body: bytes) -> None:
    before = (len(deployment.sink.requests), deployment.rows(), deployment.workflows())
    shapes: list[dict[str, str]] = []
    if name == "ingest-webhook":
        shapes.append(github_headers(body))
    else:
        shapes.append(cloudevent_headers(type_for(name)))  # binary mode, JSON data
        shapes.append({"content-type": "application/cloudevents+json"})  # structured mode: the envelope itself
        if name in EFFECTS:
            shapes.append({"content-type": "application/json"})  # the spec's bare replay
    for headers in shapes:
        payload = body
        if headers.get("content-type") == "application/cloudevents+json":
            payload = (
                b'{"specversion": "1.0", "id": "x", "source": "s", "type": "'
                + type_for(name).encode()
                + b'", "datacontenttype": "application/json", "data": '
                + body
                + b"}"
            )
        answer, elapsed = post(deployment, name, headers, payload)
        assert answer.status_code == 400, f"{deployment.runtime} {name} {headers}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["error"] == "bad_request"
        assert elapsed < ANSWER_WITHIN
    assert (len(deployment.sink.requests), deployment.rows(), deployment.workflows()) == before


# ---------------------------------------------------------------- the property suite

HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/protobuf",
        "application/x-protobuf",
        "application/cloudevents+json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/octet-stream",
        "",
        "application/json; charset=utf-16",
    ]
)
CE_TYPES = st.sampled_from(
    [
        *TASK_TYPES.values(),
        "com.github.issues.opened",
        "com.github.issue_comment.created",
        "com.github.pull_request.synchronize",
        "dev.knative.kafka.event",
        "com.discord.interaction.plan",
        "codex.plan.request",
        "x.unknown",
    ]
)


def _task_bytes(fields: dict[str, Any]) -> bytes:
    try:
        return tasks.to_protobuf(tasks.from_json_dict(fields))
    except Exception:  # a field hypothesis chose that CodexTask cannot hold: send it as JSON instead
        return json.dumps(fields, default=str).encode()


TASK_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "stage": st.sampled_from(["planning", "implementation", "review", "unspecified"]),
        "repository": st.sampled_from(["acme/widgets", "acme/widgets\n", "../..", "", "a/b/c"]),
        "issueNumber": st.integers(min_value=-5, max_value=2**62),
        "deliveryId": st.sampled_from(["d-1", "", "with\x00nul", "x" * 300]) | st.text(max_size=12),
        "issueTitle": st.text(max_size=30),
        "planCommentBody": st.sampled_from(["<!-- codex:plan -->", "", "plan"]),
    },
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    TASK_FIELDS.map(_task_bytes),
    TASK_FIELDS.map(lambda f: json.dumps(f).encode()),
    st.sampled_from(
        [
            json.dumps(github.issues_opened(sender="octocat")).encode(),
            json.dumps(github.issue_comment("execute plan", author="octocat")).encode(),
            json.dumps(github.issues_opened(sender="\u212aelly")).encode(),
        ]
    ),
    st.builds(lambda depth: b"[" * depth + b"]" * depth, st.integers(min_value=900, max_value=5000)),
)


@st.composite
def requests_for(draw: st.DrawFn, name: str) -> tuple[str, str, dict[str, str], bytes]:
    method = draw(st.sampled_from(["POST", "POST", "POST", "PUT", "GET", "DELETE"]))
    path = draw(st.sampled_from(["/", "/", "/codex/tasks", "/discord/interactions", "/x/../..", "/%00"]))
    body = draw(BODIES)
    headers: dict[str, str] = {}
    content_type = draw(CONTENT_TYPES)
    if content_type:
        headers["content-type"] = content_type
    if draw(st.booleans()):  # a CloudEvent's attributes, some of them, any of them odd
        for attribute in draw(
            st.lists(
                st.sampled_from(
                    [
                        "specversion",
                        "id",
                        "source",
                        "type",
                        "subject",
                        "time",
                        "dataschema",
                        "partitionkey",
                        "traceparent",
                    ]
                ),
                unique=True,
                max_size=9,
            )
        ):
            value = draw(
                CE_TYPES
                if attribute == "type"
                else st.sampled_from(["1.0", "0.3"])
                if attribute == "specversion"
                else HEADER_TEXT
            )
            headers[f"ce-{attribute}"] = value
    if name == "ingest-webhook":
        headers["x-github-event"] = draw(st.sampled_from(["issues", "ping", "issue_comment", "", "x"]))
        headers["x-github-delivery"] = draw(HEADER_TEXT)
        if draw(st.booleans()):
            headers["x-hub-signature-256"] = sign(SECRET, body) if draw(st.booleans()) else draw(HEADER_TEXT)
    extra = st.sampled_from(["x-forwarded-for", "traceparent", "accept", "user-agent", "x-custom"])
    headers.update(draw(st.dictionaries(extra, HEADER_TEXT, max_size=3)))
    return method, path, {k: v.strip() for k, v in headers.items()}, body


def allowed_5xx(name: str, answer: requests.Response) -> bool:
    """A 5xx is right only when a dependency is down: here that is GitHub, for the effect functions."""
    if answer.status_code != 503 or name not in EFFECTS:
        return False
    message = answer.json().get("message", "").lower()
    return "github" in message


@pytest.mark.parametrize("name", FUNCTIONS)
def test_arbitrary_requests_never_5xx_never_hang_and_refusals_leave_no_trace(deployment: Deployment, name: str) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests_for(name))
    def check(drawn: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = drawn
        before = (len(deployment.sink.requests), deployment.rows(), deployment.workflows())
        answer, elapsed = post(deployment, name, headers, body, method=method, path=path)
        where = f"{deployment.runtime} {name} {method} {path} {headers} {body[:80]!r}"
        assert elapsed < ANSWER_WITHIN, f"{where}: {elapsed:.1f}s"
        assert answer.status_code < 500 or allowed_5xx(name, answer), f"{where}: {answer.status_code} {answer.text}"
        if 400 <= answer.status_code < 500:
            if not path.startswith("/health"):
                assert answer.headers.get("content-type", "").startswith("application/json"), where
            time.sleep(0.02)  # an emit would have reached the sink by now
            assert (len(deployment.sink.requests), deployment.rows(), deployment.workflows()) == before, where

    check()
