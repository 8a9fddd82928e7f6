"""Discord ``/plan`` in: ingest-webhook's ``/discord/interactions`` over real HTTP.

functions-framework in a subprocess, a real Ed25519 key pair made here (Discord's side signs
with the private key), a real sink recording what was emitted; the same PING also through the
ASGI entry that func deploy wraps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from codex_pipeline.core.policy import Policy
from codex_pipeline.handlers.ingest_webhook import create_app
from codex_pipeline.shell.asgi import AsgiFunction
from codex_pipeline.shell.config import load_settings
from codex_pipeline.wire import events
from codex_pipeline.wire.http import Headers, Request
from tests import discord_support as ds
from tests.asgi_call import call_asgi
from tests.conftest import RunningFunction, start_function, stop_function
from tests.fakes.httpserver import RecordingSink

pytestmark = pytest.mark.xdist_group("ingest-discord")
PATH = "/discord/interactions"


@pytest.fixture(scope="module")
def app() -> ds.DiscordApp:
    return ds.DiscordApp()


@pytest.fixture(scope="module")
def sink() -> Iterator[RecordingSink]:
    with RecordingSink() as server:
        yield server


@pytest.fixture(scope="module")
def ingest(
    app: ds.DiscordApp, sink: RecordingSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningFunction]:
    env = {
        "CODEX_WEBHOOK_SECRET": "discord-test-webhook-secret",
        "K_SINK": sink.url,
        "CODEX_DISCORD_PUBLIC_KEY": app.public_key_hex,
        "CODEX_DISCORD_ALLOWED_USERS": ds.ALLOWED_USER,
        "CODEX_DISCORD_ALLOWED_ROLES": ds.PLANNERS_ROLE,
    }
    running = start_function("ingest-webhook", env, tmp_path_factory.mktemp("ingest-discord"))
    yield running
    stop_function(running)


@pytest.fixture(autouse=True)
def _fresh_sink(sink: RecordingSink) -> None:
    sink.requests.clear()


def post(ingest: RunningFunction, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(ingest.url + PATH, data=body, headers=headers, timeout=10)


def assert_nothing_emitted(sink: RecordingSink) -> None:
    time.sleep(0.2)
    assert sink.requests == []


def test_ping_is_answered_with_type_1(ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink) -> None:
    answer = post(ingest, *app.signed(ds.ping()))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"type": 1}
    assert_nothing_emitted(sink)


@pytest.mark.parametrize("case", ["other key", "tampered body", "missing signature", "missing timestamp", "not hex"])
def test_bad_signatures_get_401_json(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink, case: str
) -> None:
    headers, body = app.signed(ds.plan_submission())
    if case == "other key":
        headers, body = app.signed(ds.plan_submission(), key=Ed25519PrivateKey.generate())
    elif case == "tampered body":
        body = body.replace(b"retries", b"rm -rf!")
    elif case == "missing signature":
        del headers["X-Signature-Ed25519"]
    elif case == "missing timestamp":
        del headers["X-Signature-Timestamp"]
    else:
        headers["X-Signature-Ed25519"] = "zz" * 64
    answer = post(ingest, headers, body)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert_nothing_emitted(sink)


@pytest.mark.parametrize("skew", [-301, 400])
def test_stale_or_future_timestamps_are_refused(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink, skew: int
) -> None:
    answer = post(ingest, *app.signed(ds.plan_submission(), at=time.time() + skew))
    assert answer.status_code == 401
    assert "timestamp" in answer.json()["message"]
    assert_nothing_emitted(sink)


def test_plan_command_opens_the_modal(ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink) -> None:
    answer = post(ingest, *app.signed(ds.plan_command()))
    assert answer.status_code == 200
    modal = answer.json()
    assert modal["type"] == 9
    assert modal["data"]["custom_id"] == "codex-plan"
    inputs = [c for row in modal["data"]["components"] for c in row["components"]]
    assert [(i["custom_id"], i["style"], i["required"]) for i in inputs] == [("title", 1, False), ("request", 2, True)]
    assert_nothing_emitted(sink)


def test_plan_command_by_a_stranger_is_refused_without_a_modal(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink
) -> None:
    answer = post(ingest, *app.signed(ds.plan_command(user_id=ds.STRANGER)))
    assert answer.json()["type"] == 4
    assert answer.json()["data"]["flags"] == 64
    assert "not allowed" in answer.json()["data"]["content"]


def test_submission_by_an_allowed_user_is_emitted_and_acknowledged(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink
) -> None:
    interaction = ds.plan_submission(interaction_id="1312000000000000042")
    headers, body = app.signed(interaction)
    started = time.monotonic()
    answer = post(ingest, headers, body)
    elapsed = time.monotonic() - started

    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["type"] == 4 and document["data"]["flags"] == 64
    assert "received" in document["data"]["content"]
    assert elapsed < 3.0  # Discord's deadline for the first answer
    (received,) = sink.wait_for(1)
    assert received.headers["ce-specversion"] == "1.0"
    event = events.decode_request(Request("POST", "/", Headers(received.headers), received.body))
    assert event.id == "1312000000000000042"
    assert event.type == "com.discord.interaction.plan"
    assert event.source == f"https://discord.com/applications/{ds.APPLICATION_ID}"
    assert event.extensions["partitionkey"] == f"discord:{ds.ALLOWED_USER}"
    assert event.data == body  # the interaction bytes as Discord signed them


def test_submission_by_a_member_of_an_allowed_role_is_emitted(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink
) -> None:
    interaction = ds.plan_submission(user_id=ds.ROLE_USER, roles=["5000000000000000001", ds.PLANNERS_ROLE])
    assert post(ingest, *app.signed(interaction)).json()["type"] == 4
    (received,) = sink.wait_for(1)
    assert received.headers["ce-id"] == interaction["id"]


@pytest.mark.parametrize("who", ["stranger", "stranger with another role"])
def test_submission_by_a_user_who_may_not_is_refused_and_nothing_is_emitted(
    ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink, who: str
) -> None:
    roles = ["5000000000000000099"] if who.endswith("role") else []
    answer = post(ingest, *app.signed(ds.plan_submission(user_id=ds.STRANGER, roles=roles)))
    assert answer.status_code == 200
    document = answer.json()
    assert document["type"] == 4 and document["data"]["flags"] == 64
    assert "not allowed" in document["data"]["content"]
    assert_nothing_emitted(sink)


def test_an_empty_request_is_not_emitted(ingest: RunningFunction, app: ds.DiscordApp, sink: RecordingSink) -> None:
    answer = post(ingest, *app.signed(ds.plan_submission(request="\u200b<!-- hidden -->  ")))
    assert "empty" in answer.json()["data"]["content"]
    assert_nothing_emitted(sink)


def test_the_github_path_still_wants_its_own_signature(ingest: RunningFunction, app: ds.DiscordApp) -> None:
    answer = requests.post(
        ingest.url + "/",
        data=app.signed(ds.ping())[1],
        headers={"Content-Type": "application/json", "X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1"},
        timeout=10,
    )
    assert answer.status_code == 401


def test_without_a_public_key_the_path_answers_404(monkeypatch: pytest.MonkeyPatch, app: ds.DiscordApp) -> None:
    monkeypatch.setenv("CODEX_WEBHOOK_SECRET", "s")
    monkeypatch.delenv("CODEX_DISCORD_PUBLIC_KEY", raising=False)
    function = create_app(load_settings())
    headers, body = app.signed(ds.ping())
    answer = function(Request("POST", PATH, Headers(headers), body))
    assert answer.status == 404


def test_asgi_entry_answers_ping(app: ds.DiscordApp, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("K_SINK", sink.url)
    monkeypatch.setenv("CODEX_DISCORD_PUBLIC_KEY", app.public_key_hex)
    function = AsgiFunction(lambda: create_app(load_settings()))
    function.start({})
    headers, body = app.signed(ds.ping())
    answer = call_asgi(function, headers, body, path=PATH)
    assert answer.status == 200
    assert json.loads(answer.body) == {"type": 1}


def test_policy_decides_by_ids_not_names() -> None:
    policy = Policy(
        discord_users=frozenset({ds.ALLOWED_USER, "not-a-snowflake"}), discord_roles=frozenset({ds.PLANNERS_ROLE})
    )
    assert policy.may_request_discord_plan(ds.ALLOWED_USER)
    assert policy.may_request_discord_plan(ds.ROLE_USER, [ds.PLANNERS_ROLE])
    assert not policy.may_request_discord_plan("not-a-snowflake")
    assert not policy.may_request_discord_plan(ds.STRANGER, ["5000000000000000099"])
    assert not policy.may_request_discord_plan(None)
    nobody = Policy()
    refused = nobody.may_request_discord_plan(ds.ALLOWED_USER)
    assert not refused and "nobody" in refused.reason
