"""`dead-letters` on Kafka: a real Kafka-protocol broker (tansu), records as the dead-letter
KafkaSink writes them, and the replay received by a Broker ingress stand-in over real HTTP."""

from __future__ import annotations

import base64
import subprocess

import pytest

from codex_pipeline.wire.events import decode_request
from codex_pipeline.wire.http import Headers, Request
from tests.conftest import ROOT
from tests.fakes.httpserver import RecordingSink
from tests.test_listen import CLI, kafka  # noqa: F401 -- the tansu broker fixture

pytestmark = pytest.mark.xdist_group("kafka")
DLQ = "codex.dead-letter"


def produce_dead_letter(bootstrap: str, event_id: str, code: str, body: str) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if DLQ not in admin.list_topics(timeout=5).topics:
        for future in admin.create_topics([NewTopic(DLQ, num_partitions=1, replication_factor=1)]).values():
            future.result(timeout=10)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(
        DLQ,
        key=b"acme/widgets#1",
        value=b'{"delivery":"d-1"}',
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", b"route-task"),
            ("ce_type", b"codex.plan.request"),
            ("ce_subject", b"acme/widgets#1"),
            ("ce_partitionkey", b"acme/widgets#1"),
            ("content-type", b"application/json"),
            ("ce_knativeerrordest", b"http://dispatch-planning.codex.svc.cluster.local"),
            ("ce_knativeerrorcode", code.encode()),
            ("ce_knativeerrordata", base64.b64encode(body.encode())),
        ],
    )
    assert producer.flush(10) == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "dead-letters", *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


def test_kafka_dead_letters_are_listed_decoded_and_replayed_with_their_id(kafka: str) -> None:  # noqa: F811
    produce_dead_letter(kafka, "plan-req-7", "422", '{"error":"bad_request","message":"no repository"}')
    listed = cli("list", "--bootstrap", kafka)
    assert listed.returncode == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if "plan-req-7" in row]
    assert "partition 0 offset" in line and "code=422" in line and "no repository" in line
    shown = cli("show", "plan-req-7", "--bootstrap", kafka)
    assert '"destination": "http://dispatch-planning.codex.svc.cluster.local"' in shown.stdout
    assert '"data": "{\\"error\\":\\"bad_request\\",\\"message\\":\\"no repository\\"}"' in shown.stdout

    with RecordingSink() as ingress:
        replayed = cli("replay", "--type", "codex.plan.request", "--bootstrap", kafka, "--broker-ingress", ingress.url)
        assert replayed.returncode == 0, replayed.stderr
        (received,) = ingress.wait_for(1)
    # dispatch-planning's Trigger on Broker codex-tasks names the subscriber in knativeerrordest.
    assert received.path == "/codex/codex-tasks"
    event = decode_request(Request("POST", received.path, Headers(received.headers), received.body))
    assert event.id == "plan-req-7" and event.type == "codex.plan.request"
    assert not any(name.startswith("knativeerror") for name in event.extensions)
    assert event.data == b'{"delivery":"d-1"}'
