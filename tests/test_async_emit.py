"""The event-loop emit path (async_emit.py, outcome.py) keeps the sync emitter's promises.

Same misbehaving sinks as tests/test_emit_deadline.py (closing, trickling, hanging), the same
total deadline, retry and 503 rules; and route-task under both runtimes (func-python now emits
from the event loop, its two events concurrently) answers alike and reaches both sinks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
import requests

from codex_pipeline.effects.async_emit import AsyncEmitter, emit_all
from codex_pipeline.effects.emit import deadline_after
from codex_pipeline.errors import Unavailable
from codex_pipeline.wire.events import decode_request
from codex_pipeline.wire.http import Headers, Request
from tests.fakes.hostile import HostileSink
from tests.fakes.httpserver import RecordingSink
from tests.payloads import github
from tests.runtimes import RUNTIMES, serve
from tests.sink_events import opened_event as event


async def _emit(emitter: AsyncEmitter, count: int = 1, deadline: float | None = None) -> None:
    try:
        for _ in range(count):
            await emitter.emit(event(), deadline)
    finally:
        await emitter.aclose()


@pytest.mark.parametrize(("mode", "delay"), [("close", 1.8), ("trickle", 0.2), ("hang", 0.0)])
def test_async_emitter_gives_up_within_the_total_deadline(mode: str, delay: float) -> None:
    with HostileSink(mode, delay) as sink:
        emitter = AsyncEmitter(sink.url, timeout=2.0, attempts=3, backoff=0.1, deadline=2.5)
        started = time.monotonic()
        with pytest.raises(Unavailable, match="sink did not accept"):
            asyncio.run(_emit(emitter))
        elapsed = time.monotonic() - started
    assert 1.7 < elapsed < 2.5 + 0.3, elapsed
    assert sink.requests >= 1


def test_concurrent_emits_share_one_deadline() -> None:
    """Two trickling sinks at once: both cut off by the one deadline, together, not one after the other."""
    with HostileSink("trickle", 0.1) as first, HostileSink("trickle", 0.1) as second:
        one, two = (AsyncEmitter(s.url, timeout=5.0, attempts=1, deadline=30) for s in (first, second))

        async def both() -> None:
            try:
                await emit_all([(one, event()), (two, event())], deadline_after(1.5))
            finally:
                await one.aclose()
                await two.aclose()

        started = time.monotonic()
        with pytest.raises(Unavailable):
            asyncio.run(both())
        elapsed = time.monotonic() - started
    assert 1.3 < elapsed < 1.5 + 0.4, elapsed
    assert first.requests == second.requests == 1


def test_kept_connection_delivers_binary_events() -> None:
    with RecordingSink() as good:
        asyncio.run(_emit(AsyncEmitter(good.url, timeout=1.0, attempts=2, deadline=2), count=3))
        recorded = good.wait_for(3)
    decoded = [decode_request(Request("POST", r.path, Headers(r.headers), r.body)) for r in recorded]
    assert [e.type for e in decoded] == ["com.github.issues.opened"] * 3
    assert decoded[0].data == b'{"action":"opened"}'


@pytest.mark.parametrize(("status", "requests_made", "problem"), [(503, 3, "HTTP 503"), (400, 1, "HTTP 400")])
def test_retryable_statuses_are_retried_and_others_are_not(status: int, requests_made: int, problem: str) -> None:
    with RecordingSink() as sink:
        sink.status = status
        with pytest.raises(Unavailable, match=problem):
            asyncio.run(_emit(AsyncEmitter(sink.url, timeout=1.0, attempts=3, backoff=0.01, deadline=5)))
        assert len(sink.requests) == requests_made


def test_an_unreachable_sink_is_unavailable() -> None:
    with RecordingSink() as sink:
        url = sink.url
    with pytest.raises(Unavailable, match="ConnectionError"):
        asyncio.run(_emit(AsyncEmitter(url, timeout=1.0, attempts=2, backoff=0.01, deadline=3)))


ROUTE_ENV = {
    "CODEX_TRIGGER_LOGINS": "alice",
    "CODEX_TRIGGER_LABEL": "codex",
    "CODEX_PLANNER_LOGIN": "codex-planner",
    "CODEX_SINK_DEADLINE_SECONDS": "3",
    "CODEX_SINK_TIMEOUT_SECONDS": "2",
    "CODEX_SINK_ATTEMPTS": "3",
}


def _task(delivery: str) -> tuple[dict[str, str], bytes]:
    return github.cloudevent("issues", github.issues_opened(42, sender="alice"), delivery)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_route_task_reaches_both_sinks_and_is_503_when_one_hangs(runtime: str, tmp_path: Path) -> None:
    with RecordingSink() as structured, RecordingSink() as as_json, HostileSink("hang") as hanging:
        env = {**ROUTE_ENV, "CODEX_TASKS_SINK": structured.url, "CODEX_TASKS_JSON_SINK": as_json.url}
        (tmp_path / "ok").mkdir()
        (tmp_path / "hang").mkdir()
        with serve("route-task", runtime, env, tmp_path / "ok") as served:
            for _ in range(3):  # more than one, so kept connections are reused
                headers, body = _task(str(uuid.uuid4()))
                answer = requests.post(served.url + "/", data=body, headers=headers, timeout=15)
                assert (answer.status_code, answer.content) == (202, b""), answer.text
            assert len(structured.wait_for(3)) == 3 and len(as_json.wait_for(3)) == 3
            media = {Headers(r.headers).get("content-type") for r in [*structured.requests, *as_json.requests]}
            assert media == {"application/protobuf", "application/json"}

        env["CODEX_TASKS_JSON_SINK"] = hanging.url
        with serve("route-task", runtime, env, tmp_path / "hang") as served:
            headers, body = _task(str(uuid.uuid4()))
            started = time.monotonic()
            answer = requests.post(served.url + "/", data=body, headers=headers, timeout=15)
            elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "unavailable"
    assert elapsed < 3 + 0.5, elapsed
