"""`reconcile` against the GitHub stand-in's deliveries API (real HTTP, real signed deliveries to a
real receiver) and a real store: what is redelivered, what never twice, pagination, rate limits."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from codex_pipeline.cli import main
from codex_pipeline.effects.github import AppAuth, GitHubClient, TokenAuth
from codex_pipeline.effects.github.deliveries import Hook, HookDelivery
from codex_pipeline.effects.reconcile import reconcile
from codex_pipeline.effects.store import Store, open_store
from tests.fakes.github import FakeGitHub
from tests.fakes.httpserver import RecordingSink

REPO = "acme/widgets"
SECRET = "hook-secret"


class Receiver(RecordingSink):
    """ingest-webhook's place: answers 503 while ``down``, else 202."""

    def __init__(self) -> None:
        super().__init__(script=lambda _r: 503 if self.down else 202)
        self.down = False


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = open_store(url)
    opened.migrate()
    yield opened
    opened.close()


def hook_of(gh: FakeGitHub, receiver: Receiver) -> Hook:
    # A fresh hook id per test keeps the shared PostgreSQL database's rows apart.
    fake = gh.add_hook(REPO, receiver.url, SECRET, hook_id=400_000_000 + uuid.uuid4().int % 10**8)
    return Hook(REPO, fake.id)


def client(gh: FakeGitHub, *, per_page: int = 100, max_wait: float = 5.0, sleep: Sleeps | None = None) -> GitHubClient:
    return GitHubClient(TokenAuth("test-token"), gh.url, per_page=per_page, max_wait=max_wait, sleep=sleep or Sleeps())


def send(gh: FakeGitHub, hook: Hook, n: int = 1, event: str = "issues") -> list[dict[str, object]]:
    fake = gh.hooks[int(hook.hook_id or 0)]
    return [gh.deliver(fake, event, {"action": "opened", "issue": {"number": i + 1}}) for i in range(n)]


def wait_for_redeliveries(gh: FakeGitHub, hook: Hook, count: int) -> list[HookDelivery]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [HookDelivery.from_api(i) for i in gh.deliveries.items(int(hook.hook_id or 0)) if i["redelivery"]]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"expected {count} redeliveries")


def test_a_failed_delivery_is_redelivered_once_with_the_same_guid_and_body(gh, receiver, store):
    hook = hook_of(gh, receiver)
    send(gh, hook, 2)
    receiver.down = True
    (failed,) = send(gh, hook, 1)
    receiver.down = False
    assert failed["status_code"] == 503 and failed["status"] == "Invalid HTTP Response: 503"

    summary = reconcile(client(gh), store, hook)
    assert (summary.checked, summary.events, summary.failed) == (3, 3, 1)
    assert [o.delivery.id for o in summary.redelivered] == [failed["id"]]
    (again,) = wait_for_redeliveries(gh, hook, 1)
    assert again.guid == failed["guid"] and again.succeeded and again.id != failed["id"]
    originals = [r for r in receiver.requests if r.headers["x-github-delivery"] == failed["guid"]]
    assert len(originals) == 2 and originals[0].body == originals[1].body
    assert originals[1].headers["x-hub-signature-256"] == originals[0].headers["x-hub-signature-256"]

    # Delivered now: the next runs find nothing to do, and GitHub is never asked again.
    for _ in range(2):
        later = reconcile(client(gh), store, hook)
        assert later.failed == 0 and later.redelivered == []
    assert len(gh.calls("POST", f"/repos/{REPO}/hooks/{hook.hook_id}/deliveries")) == 1


def test_a_redelivery_whose_result_is_not_in_yet_is_not_asked_for_again(gh, receiver, store):
    hook = hook_of(gh, receiver)
    receiver.down = True
    (failed,) = send(gh, hook)
    gh.fail_next(404, path_contains="/attempts")  # GitHub accepted nothing: released, tried next run
    first = reconcile(client(gh), store, hook)
    assert first.redelivered == [] and "GitHub refused" in first.skipped[0].reason
    assert store.redeliveries(str(hook), [str(failed["guid"])])  # a refusal is kept: never asked again
    assert reconcile(client(gh), store, hook).skipped[0].reason.startswith("redelivery requested")


def test_an_event_that_always_fails_is_given_up_after_the_per_event_limit(gh, receiver, store):
    hook = hook_of(gh, receiver)
    receiver.down = True
    send(gh, hook)
    for attempt in range(1, 4):
        summary = reconcile(client(gh), store, hook, max_per_event=2)
        if attempt <= 2:
            assert len(summary.redelivered) == 1, summary.text()
            wait_for_redeliveries(gh, hook, attempt)
        else:
            assert summary.redelivered == [] and "gave up after 2 redeliveries" in summary.skipped[0].reason
    assert len(gh.calls("POST", f"/repos/{REPO}/hooks/{hook.hook_id}/deliveries")) == 2


def test_redeliveries_per_run_are_capped_and_the_rest_wait_for_the_next_run(gh, receiver, store):
    hook = hook_of(gh, receiver)
    receiver.down = True
    failed = send(gh, hook, 3)
    receiver.down = False
    first = reconcile(client(gh), store, hook, max_redeliveries=2)
    assert [o.delivery.id for o in first.redelivered] == [failed[0]["id"], failed[1]["id"]]  # oldest first
    assert "cap of 2" in first.skipped[0].reason
    wait_for_redeliveries(gh, hook, 2)
    second = reconcile(client(gh), store, hook, max_redeliveries=2)
    assert [o.delivery.id for o in second.redelivered] == [failed[2]["id"]]


def test_dry_run_lists_and_changes_nothing(gh, receiver, store):
    hook = hook_of(gh, receiver)
    receiver.down = True
    send(gh, hook, 2)
    summary = reconcile(client(gh), store, hook, dry_run=True)
    assert len(summary.redelivered) == 2 and "would redeliver 2" in summary.text()
    assert gh.calls("POST", f"/repos/{REPO}/hooks/") == []
    assert store.reconcile_cursor(str(hook)) is None


def test_every_page_is_read_through_the_link_cursor(gh, receiver, store):
    hook = hook_of(gh, receiver)
    sent = send(gh, hook, 7)
    receiver.down = True
    (failed,) = send(gh, hook)
    summary = reconcile(client(gh, per_page=3), store, hook)
    assert summary.checked == 8 and [o.delivery.id for o in summary.redelivered] == [failed["id"]]
    pages = gh.calls("GET", f"/repos/{REPO}/hooks/{hook.hook_id}/deliveries")
    assert len(pages) == 3
    assert "per_page=3" in pages[0].path and "cursor=" not in pages[0].path
    assert [f"cursor=v1_{sent[4]['id']}" in pages[1].path, f"cursor=v1_{sent[1]['id']}" in pages[2].path] == [True] * 2


def test_the_listing_stops_at_the_cursor_or_since(gh, receiver, store):
    hook = hook_of(gh, receiver)
    send(gh, hook, 5)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for sent in gh.deliveries.sent:
        sent.item["delivered_at"] = hour_ago
    store.save_reconcile_cursor(str(hook), datetime.now(UTC) - timedelta(minutes=5))  # a run after those five
    (new,) = send(gh, hook)
    summary = reconcile(client(gh, per_page=2), store, hook)
    assert summary.since_from == "cursor" and summary.checked == 1
    assert len(gh.calls("GET", "/repos/")) == 1  # the first page reached the cursor: no more pages read
    assert store.reconcile_cursor(str(hook)) == datetime.fromisoformat(str(new["delivered_at"]).replace("Z", "+00:00"))
    wide = reconcile(client(gh, per_page=2), store, hook, since=datetime.now(UTC) - timedelta(hours=2), dry_run=True)
    assert wide.since_from == "--since" and wide.checked == 6


def test_a_short_rate_limit_is_waited_out_and_a_long_one_stops_the_run_without_losing_anything(gh, receiver, store):
    hook = hook_of(gh, receiver)
    receiver.down = True
    (failed,) = send(gh, hook)
    receiver.down = False
    sleeps = Sleeps()
    gh.secondary_rate_limit(retry_after=2)
    waited = reconcile(client(gh, sleep=sleeps), store, hook, dry_run=True)
    assert sleeps.waits == [2.0] and len(waited.redelivered) == 1

    gh.rate_limit(reset_in=3600, path_contains="/deliveries")
    stopped = reconcile(client(gh, max_wait=5), store, hook)
    assert "rate limit" in stopped.stopped and stopped.redelivered == []
    assert store.reconcile_cursor(str(hook)) is None

    # Rate-limited while asking for the redelivery: released, and the next run asks.
    gh.rate_limit(reset_in=3600, path_contains="/attempts")
    blocked = reconcile(client(gh, max_wait=5), store, hook)
    assert blocked.redelivered == [] and "GitHub unavailable" in blocked.skipped[0].reason
    assert store.redeliveries(str(hook), [str(failed["guid"])]) == []
    assert [o.delivery.id for o in reconcile(client(gh), store, hook).redelivered] == [failed["id"]]


def test_the_apps_webhook_is_read_and_redelivered_with_the_app_jwt(gh, receiver, store, app_key):
    private, public = app_key
    gh.enable_app("4242", public)
    fake = gh.add_hook(None, receiver.url, SECRET)
    receiver.down = True
    (failed,) = [gh.deliver(fake, "issue_comment", {"action": "created"})]
    receiver.down = False
    app_client = GitHubClient(AppAuth("4242", private), gh.url)
    token_client = client(gh)
    hook = Hook()
    with pytest.raises(Exception, match="needs GitHub App credentials"):
        list(token_client.hook_deliveries(hook))
    summary = reconcile(app_client, store, hook, since=datetime.now(UTC) - timedelta(minutes=5))
    assert [o.delivery.id for o in summary.redelivered] == [failed["id"]]
    (post,) = gh.calls("POST", "/app/hook/deliveries/")
    assert post.path == f"/app/hook/deliveries/{failed['id']}/attempts"
    assert post.headers["authorization"].startswith("Bearer ey")  # a JWT, not an installation token


def test_the_cli_prints_the_summary_and_refuses_without_a_hook(gh, receiver, tmp_path, capsys, monkeypatch):
    hook = hook_of(gh, receiver)
    receiver.down = True
    (failed,) = send(gh, hook)
    monkeypatch.setenv("CODEX_GITHUB_API_URL", gh.url)
    monkeypatch.setenv("CODEX_GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("CODEX_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("CODEX_RECONCILE_HOOK", raising=False)
    assert main(["reconcile"]) == 2
    assert "which webhook?" in capsys.readouterr().err
    assert main(["reconcile", "--hook", str(hook), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(dry run)" in out and "would redeliver 1" in out and f"{failed['id']} issues.opened" in out
    monkeypatch.setenv("CODEX_RECONCILE_HOOK", str(hook))
    assert main(["reconcile", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "redelivered  1" in out and "last answer 503" in out
    wait_for_redeliveries(gh, hook, 1)  # it failed too (the receiver is still down): asked once more
    assert main(["reconcile"]) == 0
    out = capsys.readouterr().out
    assert "redelivered  1" in out and "(since" not in out and "(cursor)" in out
