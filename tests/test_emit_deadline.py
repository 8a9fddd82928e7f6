"""One total deadline for every emit attempt of a delivery (CODEX_SINK_DEADLINE_SECONDS).

The sinks here misbehave on the wire (tests/fakes/hostile.py): one closes the connection 1.8 s
after the request without answering, one trickles a valid answer a byte at a time (which no
per-socket-operation timeout ever cuts off), one never answers. The emitter and ingest-webhook
under both runtimes must answer 503 within the deadline, and a healthy sink right after must
still work.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from codex_pipeline.effects.emit import Emitter, deadline_after
from codex_pipeline.errors import Unavailable
from codex_pipeline.wire.signatures import sign
from tests.fakes.hostile import HostileSink
from tests.fakes.httpserver import RecordingSink
from tests.runtimes import RUNTIMES, serve
from tests.sink_events import opened_event as event

SECRET = "deadline-secret"


@pytest.mark.parametrize(("mode", "delay"), [("close", 1.8), ("trickle", 0.2), ("hang", 0.0)])
def test_emitter_gives_up_within_the_total_deadline(mode: str, delay: float) -> None:
    with HostileSink(mode, delay) as sink:
        emitter = Emitter(sink.url, timeout=2.0, attempts=3, backoff=0.1, deadline=2.5)
        started = time.monotonic()
        with pytest.raises(Unavailable, match="sink did not accept"):
            emitter.emit(event())
        elapsed = time.monotonic() - started
    assert 1.7 < elapsed < 2.5 + 1.0, elapsed  # margin for a loaded machine
    assert sink.requests >= 1


def test_a_shared_deadline_bounds_several_emits_together() -> None:
    with HostileSink("trickle", 0.1) as sink:
        emitter = Emitter(sink.url, timeout=1.0, attempts=1, deadline=30)
        until = deadline_after(1.5)
        started = time.monotonic()
        with pytest.raises(Unavailable):
            emitter.emit(event(), until)  # its own attempt bound: 1 s
        with pytest.raises(Unavailable):
            emitter.emit(event(), until)  # what is left of the shared 1.5 s
        assert time.monotonic() - started < 1.5 + 1.0


def test_keep_alive_still_works_after_a_cut_off_attempt() -> None:
    with RecordingSink(delay=0.0) as good:
        emitter = Emitter(good.url, timeout=1.0, attempts=2, deadline=2)
        for _ in range(3):
            emitter.emit(event())
        assert len(good.wait_for(3)) == 3


def delivery() -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "action": "opened",
            "issue": {"number": 3, "title": "t"},
            "repository": {"full_name": "acme/widgets", "html_url": "https://github.com/acme/widgets"},
            "sender": {"login": "octocat"},
        }
    ).encode()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
    }, body


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(("mode", "delay"), [("close", 1.8), ("trickle", 0.2)])
def test_ingest_answers_503_within_the_deadline(runtime: str, mode: str, delay: float, tmp_path: Path) -> None:
    with HostileSink(mode, delay) as sink:
        env = {
            "CODEX_WEBHOOK_SECRET": SECRET,
            "K_SINK": sink.url,
            "CODEX_SINK_DEADLINE_SECONDS": "3",
            "CODEX_SINK_TIMEOUT_SECONDS": "2",
            "CODEX_SINK_ATTEMPTS": "3",
        }
        with serve("ingest-webhook", runtime, env, tmp_path) as served:
            headers, body = delivery()
            started = time.monotonic()
            answer = requests.post(served.url + "/", data=body, headers=headers, timeout=15)
            elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "unavailable"
    assert elapsed < 3 + 1.5, elapsed  # the deadline plus a loaded machine's start of the answer
    assert sink.requests >= 1
