"""NUL in task text and delivery ids, and concurrent copies of one delivery id, answered alike on
PostgreSQL and SQLite: dispatch-planning over HTTP (functions-framework) with each real store.

- NUL in an issue title: stored with the NUL removed (202 on both backends);
- NUL in a delivery id: 400 on both, nothing stored;
- eight concurrent copies of one delivery id naming eight issues: exactly one Workflow; the
  others answer 202 duplicate or 409 with the reason, and the retried 409s answer the duplicate.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.effects.store import open_store
from codex_pipeline.wire import tasks
from tests.conftest import RunningFunction, start_function, stop_function

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile-store")]
NAMESPACE = "argo-workflows"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dispatch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningFunction, Path, str]]:
    tmp = tmp_path_factory.mktemp(f"nul-{request.param}")
    url = f"sqlite:///{tmp / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    env = {
        "CODEX_DATABASE_URL": url,
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp / "workflows"),
        "CODEX_LOG_LEVEL": "INFO",
    }
    running = start_function("dispatch-planning", env, tmp)
    yield running, tmp, url
    stop_function(running)


def task(delivery: str, number: int = 7, title: str = "Add a probe") -> tasks.CodexTask:
    return tasks.from_json_dict(
        {
            "stage": "planning",
            "prompt": "plan it",
            "repository": "acme/widgets",
            "issueNumber": number,
            "issueTitle": title,
            "issueBody": "body\x00text",
            "deliveryId": delivery,
        }
    )


def send(
    running: RunningFunction,
    body: tasks.CodexTask | bytes,
    content_type: str = "application/x-protobuf",
) -> requests.Response:
    data = body if isinstance(body, bytes) else tasks.to_protobuf(body)
    return requests.post(running.url + "/", data=data, headers={"Content-Type": content_type}, timeout=15)


def workflows(tmp: Path) -> list[dict[str, Any]]:
    folder = tmp / "workflows" / NAMESPACE
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def test_nul_in_an_issue_title_is_stored_without_it(dispatch: tuple[RunningFunction, Path, str]) -> None:
    running, _, url = dispatch
    delivery = f"nul-title-{uuid.uuid4().hex[:8]}"
    answer = send(running, task(delivery, title="Add\x00 a probe"))
    assert answer.status_code == 202, answer.text
    store = open_store(url)
    try:
        kept = store.find_intake("planning", delivery)
    finally:
        store.close()
    assert kept is not None
    stored = tasks.from_protobuf(kept.payload)
    assert stored.issue_title == "Add a probe" and stored.issue_body == "bodytext"
    assert "\\u0000" not in kept.payload_json and "\x00" not in kept.payload_json


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
def test_nul_in_a_delivery_id_is_400_and_nothing_is_stored(
    dispatch: tuple[RunningFunction, Path, str], media: str
) -> None:
    running, tmp, url = dispatch
    before = len(workflows(tmp))
    delivery = f"nul\x00id-{uuid.uuid4().hex[:8]}"
    body = tasks.to_json(task(delivery)) if media == "application/json" else tasks.to_protobuf(task(delivery))
    answer = send(running, body, media)
    assert answer.status_code == 400, answer.text
    assert "control characters" in answer.json()["message"]
    assert len(workflows(tmp)) == before
    store = open_store(url)
    try:
        assert store.find_intake("planning", delivery) is None
    finally:
        store.close()


def test_concurrent_copies_of_one_delivery_make_one_workflow(dispatch: tuple[RunningFunction, Path, str]) -> None:
    running, tmp, _ = dispatch
    delivery = f"copies-{uuid.uuid4().hex[:8]}"
    before = {w["metadata"]["name"] for w in workflows(tmp)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: send(running, task(delivery, number=n)), range(1, 9)))
    assert sorted({a.status_code for a in answers}) in ([202], [202, 409]), [a.text for a in answers]
    fresh = [a.json() for a in answers if a.status_code == 202 and not a.json()["duplicate"]]
    assert len(fresh) == 1
    for refused in (a for a in answers if a.status_code == 409):
        assert "was first received for acme/widgets#" in refused.json()["message"]
    made = [w for w in workflows(tmp) if w["metadata"]["name"] not in before]
    assert [w["metadata"]["name"] for w in made] == [fresh[0]["name"]]
    # a broker retries the 409s: they now meet the first copy's run
    for number in range(1, 9):
        again = send(running, task(delivery, number=number))
        assert again.status_code == 202 and again.json() == {**fresh[0], "duplicate": True}
