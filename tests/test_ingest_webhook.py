"""ingest-webhook over real HTTP: functions-framework in a subprocess, a real sink, signed deliveries.

Every answer of the issue is exercised on the wire; the sink decodes what it received with the
CloudEvents SDK path of the library, so the event is checked as Knative would see it. The same
delivery also goes through the ASGI entry that func deploy wraps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from codex_pipeline.handlers.ingest_webhook import create_app
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire import events
from codex_pipeline.wire.http import Headers, Request
from codex_pipeline.wire.signatures import sign
from tests.asgi_call import call_asgi
from tests.conftest import RunningFunction, start_function, stop_function
from tests.fakes.httpserver import Recorded, RecordingSink

pytestmark = pytest.mark.xdist_group("ingest")

SECRET = "ingest-test-secret"
ROTATED = "ingest-test-secret-next"


def issue_opened(number: int = 42, body_size: int = 2000) -> dict[str, Any]:
    """An ``issues.opened`` delivery in the shape GitHub sends (trimmed of URL templates)."""
    owner = {
        "login": "proompteng",
        "id": 101,
        "node_id": "O_kgDOB",
        "type": "Organization",
        "html_url": "https://github.com/proompteng",
        "site_admin": False,
    }
    sender = {
        "login": "gregkonush",
        "id": 4242,
        "node_id": "MDQ6VXNlcjQyNDI=",
        "type": "User",
        "html_url": "https://github.com/gregkonush",
        "site_admin": False,
    }
    return {
        "action": "opened",
        "issue": {
            "url": f"https://api.github.com/repos/proompteng/lab/issues/{number}",
            "html_url": f"https://github.com/proompteng/lab/issues/{number}",
            "id": 3000000 + number,
            "node_id": "I_kwDOLab",
            "number": number,
            "title": "Add a readiness probe to the planner",
            "user": sender,
            "labels": [],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": "2026-11-24T09:00:00Z",
            "updated_at": "2026-11-24T09:00:00Z",
            "closed_at": None,
            "author_association": "MEMBER",
            "active_lock_reason": None,
            "body": "The planner should expose /health/readiness.\n\n" + ("Details. " * (body_size // 9)),
            "reactions": {"total_count": 0, "+1": 0, "-1": 0},
            "state_reason": None,
        },
        "repository": {
            "id": 700001,
            "node_id": "R_kgDOLab",
            "name": "lab",
            "full_name": "proompteng/lab",
            "private": False,
            "owner": owner,
            "html_url": "https://github.com/proompteng/lab",
            "description": "the lab",
            "fork": False,
            "default_branch": "main",
            "created_at": "2024-01-01T00:00:00Z",
            "pushed_at": "2026-11-24T08:00:00Z",
            "visibility": "public",
            "open_issues_count": 7,
        },
        "organization": {
            "login": "proompteng",
            "id": 101,
            "node_id": "O_kgDOB",
            "url": "https://api.github.com/orgs/proompteng",
        },
        "sender": sender,
    }


def signed(
    event: str,
    payload: dict[str, Any] | bytes,
    secret: str | None = SECRET,
    delivery: str | None = None,
    content_type: str = "application/json",
) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if content_type == "application/x-www-form-urlencoded":
        body = urlencode({"payload": body.decode()}).encode()
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123456",
        "User-Agent": "GitHub-Hookshot/abc1234",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers, body


def decoded(recorded: Recorded) -> events.Event:
    return events.decode_request(Request("POST", "/", Headers(recorded.headers), recorded.body))


class FlakySink(RecordingSink):
    """Answers with ``status`` while ``failing`` is set, else 202."""

    def __init__(self) -> None:
        super().__init__(script=lambda _: 503 if self.failing else 202)
        self.failing = False


@pytest.fixture(scope="module")
def sink() -> Iterator[FlakySink]:
    with FlakySink() as server:
        yield server


@pytest.fixture(scope="module")
def ingest(sink: FlakySink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFunction]:
    env = {
        "CODEX_WEBHOOK_SECRET": f"{SECRET},{ROTATED}",
        "K_SINK": sink.url,
        "CODEX_SINK_ATTEMPTS": "3",
        "CODEX_SINK_TIMEOUT_SECONDS": "1",
    }
    running = start_function("ingest-webhook", env, tmp_path_factory.mktemp("ingest"))
    yield running
    stop_function(running)


@pytest.fixture(autouse=True)
def _fresh_sink(sink: FlakySink) -> None:
    sink.requests.clear()
    sink.failing = False


def post(ingest: RunningFunction, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(ingest.url + "/", data=body, headers=headers, timeout=10)


def assert_json_error(answer: requests.Response, status: int, fragment: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    document = answer.json()
    assert document["status"] == status
    assert fragment in document["message"], document


def test_signed_delivery_reaches_the_sink_as_one_binary_cloudevent(ingest: RunningFunction, sink: FlakySink) -> None:
    payload = issue_opened(number=42)
    headers, body = signed("issues", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    answer = post(ingest, headers, body)

    assert answer.status_code == 202, answer.text
    assert answer.content == b"" and answer.headers["x-codex-event-type"] == "com.github.issues.opened"
    (received,) = sink.wait_for(1)
    assert received.headers["ce-specversion"] == "1.0"  # binary mode on the wire
    event = decoded(received)
    assert event.id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event.type == "com.github.issues.opened"
    assert event.source == "https://github.com/proompteng/lab"
    assert event.subject == "42"
    assert event.datacontenttype == "application/json"
    assert event.data == body  # the original bytes, not a re-serialisation
    assert event.extensions["githubevent"] == "issues"
    assert event.extensions["githubhookid"] == "123456"
    assert event.extensions["partitionkey"] == "proompteng/lab#42"


def test_form_encoded_delivery_emits_the_payload_json(ingest: RunningFunction, sink: FlakySink) -> None:
    payload = issue_opened(number=7)
    headers, body = signed("issues", payload, content_type="application/x-www-form-urlencoded")
    assert post(ingest, headers, body).status_code == 202
    (received,) = sink.wait_for(1)
    assert json.loads(decoded(received).data) == payload


def test_rotated_secret_is_accepted(ingest: RunningFunction, sink: FlakySink) -> None:
    headers, body = signed("issues", issue_opened(), secret=ROTATED)
    assert post(ingest, headers, body).status_code == 202
    sink.wait_for(1)


def test_events_without_action_and_ping(ingest: RunningFunction, sink: FlakySink) -> None:
    push = {"ref": "refs/heads/main", "repository": issue_opened()["repository"], "sender": {"login": "x"}}
    headers, body = signed("push", push)
    answer = post(ingest, headers, body)
    assert (answer.status_code, answer.content) == (202, b"")
    assert answer.headers["x-codex-event-type"] == "com.github.push"
    assert decoded(sink.wait_for(1)[0]).type == "com.github.push"

    sink.requests.clear()
    headers, body = signed("ping", {"zen": "Design for failure.", "hook_id": 123456})
    answer = post(ingest, headers, body)
    assert answer.status_code == 200 and answer.json()["event"] == "ping"
    time.sleep(0.2)
    assert sink.requests == []  # a ping is answered, not emitted


@pytest.mark.parametrize(
    ("case", "status", "fragment"),
    [
        ("bad signature", 401, "X-Hub-Signature-256"),
        ("missing signature", 401, "X-Hub-Signature-256"),
        ("wrong secret", 401, "X-Hub-Signature-256"),
        ("missing event header", 400, "X-GitHub-Event"),
        ("missing delivery header", 400, "X-GitHub-Delivery"),
        ("malformed json", 400, "not valid JSON"),
        ("json array", 400, "JSON object"),
        ("form without payload", 400, "payload"),
        ("unsupported content type", 400, "Content-Type"),
    ],
)
def test_bad_deliveries_get_a_json_error_and_emit_nothing(
    ingest: RunningFunction, sink: FlakySink, case: str, status: int, fragment: str
) -> None:
    headers, body = signed("issues", issue_opened())
    if case == "bad signature":
        headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    elif case == "missing signature":
        del headers["X-Hub-Signature-256"]
    elif case == "wrong secret":
        headers, body = signed("issues", issue_opened(), secret="not-ours")
    elif case == "missing event header":
        del headers["X-GitHub-Event"]
    elif case == "missing delivery header":
        del headers["X-GitHub-Delivery"]
    elif case == "malformed json":
        headers, body = signed("issues", b'{"action": "opened",')
    elif case == "json array":
        headers, body = signed("issues", b"[1, 2]")
    elif case == "form without payload":
        body = b"other=1"
        headers = {
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
    elif case == "unsupported content type":
        headers = {**headers, "Content-Type": "text/plain"}
    assert_json_error(post(ingest, headers, body), status, fragment)
    time.sleep(0.1)
    assert sink.requests == []


def test_wrong_method_is_405(ingest: RunningFunction) -> None:
    answer = requests.get(ingest.url + "/", timeout=5)
    assert_json_error(answer, 405, "POST")


def test_over_25_mib_is_413_and_never_read_into_the_sink(ingest: RunningFunction, sink: FlakySink) -> None:
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    headers, _ = signed("issues", b"{}")
    headers["X-Hub-Signature-256"] = sign(SECRET, body)
    assert_json_error(post(ingest, headers, body), 413, "larger than")
    assert sink.requests == []


def test_sink_down_is_503_within_githubs_timeout(ingest: RunningFunction, sink: FlakySink) -> None:
    sink.failing = True
    headers, body = signed("issues", issue_opened())
    started = time.monotonic()
    answer = post(ingest, headers, body)
    elapsed = time.monotonic() - started
    assert_json_error(answer, 503, "sink did not accept")
    assert len(sink.requests) == 3  # CODEX_SINK_ATTEMPTS, then give up so GitHub can redeliver
    assert elapsed < 10

    sink.failing = False
    sink.requests.clear()
    assert post(ingest, headers, body).status_code == 202  # GitHub's redelivery of the same bytes
    assert decoded(sink.wait_for(1)[0]).id == headers["X-GitHub-Delivery"]


def test_sink_unreachable_is_503(tmp_path: Path) -> None:
    from tests.conftest import free_port

    env = {
        "CODEX_WEBHOOK_SECRET": SECRET,
        "K_SINK": f"http://127.0.0.1:{free_port()}",
        "CODEX_SINK_ATTEMPTS": "2",
        "CODEX_SINK_TIMEOUT_SECONDS": "0.5",
    }
    running = start_function("ingest-webhook", env, tmp_path)
    try:
        headers, body = signed("issues", issue_opened())
        assert_json_error(post(running, headers, body), 503, "ConnectionError")
    finally:
        stop_function(running)


def test_health_endpoints(ingest: RunningFunction) -> None:
    for path in ("/health/liveness", "/health/readiness"):
        assert requests.get(ingest.url + path, timeout=5).status_code == 200


def test_refuses_to_start_without_a_secret_in_one_line_and_status_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_")} | {"K_SINK": "http://127.0.0.1:9"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            "functions/ingest-webhook/main.py",
            "--target",
            "handle",
            "--port",
            "0",
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    (line,) = (done.stdout + done.stderr).strip().splitlines()
    assert line.startswith("ingest-webhook: configuration error: CODEX_WEBHOOK_SECRET='': ")
    assert "CODEX_WEBHOOK_SECRET_FILE" in line and "CODEX_WEBHOOK_ALLOW_UNSIGNED=true" in line


def test_allow_unsigned_accepts_unsigned_but_still_rejects_bad_signatures(sink: FlakySink, tmp_path: Path) -> None:
    env = {"CODEX_WEBHOOK_SECRET": "", "CODEX_WEBHOOK_ALLOW_UNSIGNED": "true", "K_SINK": sink.url}
    running = start_function("ingest-webhook", env, tmp_path)
    try:
        headers, body = signed("issues", issue_opened(), secret=None)
        assert post(running, headers, body).status_code == 202
        assert "ANY caller can inject" in running.output()
    finally:
        stop_function(running)


def test_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, codex_pipeline.handlers.ingest_webhook; "
        "print(sorted(set(sys.modules) & "
        "{'kubernetes', 'psycopg', 'psycopg_pool', 'requests', 'google.protobuf', 'yaml', 'cryptography', "
        "'cloudevents'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_asgi_entry_gives_the_same_answer(sink: FlakySink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The object func-python wraps (``function.new()``), driven as an ASGI server drives it."""
    monkeypatch.setenv("CODEX_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("K_SINK", sink.url)
    function = AsgiFunction(lambda: create_app(load_settings()))
    function.start({})
    assert function.alive()[0] and function.ready()[0]
    headers, body = signed("issues", issue_opened(number=9))

    answer = call_asgi(function, headers, body, chunk_size=100)
    assert answer.status == 202
    assert answer.body == b"" and answer.headers["x-codex-event-type"] == "com.github.issues.opened"
    assert decoded(sink.wait_for(1)[0]).subject == "9"
