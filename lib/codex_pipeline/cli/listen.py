"""``codex-pipeline listen``: the spec's ``facteur codex-listen``, streaming a task topic as JSON.

Two sources, one output: ``--bootstrap`` reads Kafka with a real consumer group
(``--group``; offsets are committed, so a second run resumes where the first stopped;
``--from-beginning`` applies when the group has no committed offset, as in Kafka's console
consumer); without it, the local topics of a running ``codex-pipeline dev``. Each record is
printed as one JSON object: the CloudEvent attributes (from ``ce_*`` headers on Kafka) and the
task decoded from protobuf or JSON into the spec's JSON (any other data as JSON or base64).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from codex_pipeline.cli.values import count, seconds

DEFAULT_TOPIC = "github.issues.codex.tasks"
# How long a broker may take to answer at start, or stay away while streaming, before listen gives up.
CONNECT_SECONDS = 10.0
# Set by Ctrl-C. The KeyboardInterrupt it raises can land in a finaliser deep inside requests,
# where Python prints it and carries on; the long poll then checks this before asking again.
_interrupted = threading.Event()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"topic to stream (default: {DEFAULT_TOPIC})")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port[,...]); omit for dev's local topics")
    parser.add_argument("--group", default="codex-pipeline-listen", help="Kafka consumer group")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest record (Kafka: when the group has no committed offset)",
    )
    parser.add_argument("--max", type=count, default=0, metavar="N", help="stop after N records (default: never)")
    parser.add_argument(
        "--idle-timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="stop after this long without a record (default: never)",
    )
    parser.add_argument("--compact", action="store_true", help="one JSON object per line")
    parser.add_argument("--state", type=Path, default=Path(".codex-pipeline"), help="dev's state folder")
    parser.add_argument("--router", help="dev's router URL (default: from the state folder)")


def readable(attributes: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    """Attributes plus the data decoded: a CodexTask as the spec's JSON, else JSON, else base64."""
    from codex_pipeline.errors import BadRequest
    from codex_pipeline.wire import tasks

    out: dict[str, Any] = {
        "type": attributes.get("type"),
        "id": attributes.get("id"),
        "subject": attributes.get("subject"),
        "partitionkey": attributes.get("partitionkey"),
        "attributes": dict(attributes),
    }
    content_type = str(attributes.get("datacontenttype") or "")
    kind = str(attributes.get("type") or "")
    if kind.startswith("codex.task.") or kind == "codex.pr.readiness" or "protobuf" in content_type:
        try:
            out["task"] = tasks.to_json_dict(tasks.decode(data, content_type or None))
            return out
        except BadRequest:
            pass
    try:
        out["data"] = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        out["data_base64"] = base64.b64encode(data).decode()
    return out


def _local(args: argparse.Namespace) -> Generator[dict[str, Any], None, None]:
    import requests

    router = args.router
    if not router:
        try:
            router = json.loads((args.state / "dev.json").read_text())["router"]
        except (OSError, ValueError, KeyError):
            raise SystemExit(
                f"listen: no running dev found ({args.state / 'dev.json'}); start `codex-pipeline dev` "
                "or pass --bootstrap for Kafka"
            ) from None
    url = f"{str(router).rstrip('/')}/topics/{args.topic}"
    try:
        first = requests.get(url, params={"after": 0, "limit": 1}, timeout=10).json()
    except requests.RequestException as exc:
        raise SystemExit(f"listen: dev's router at {router} is not reachable ({type(exc).__name__})") from None
    after = 0 if args.from_beginning else int(first.get("end", 0))
    idle_since = time.monotonic()
    while not _interrupted.is_set():
        wait = 5.0 if not args.idle_timeout else max(0.1, min(5.0, args.idle_timeout - (time.monotonic() - idle_since)))
        try:
            answer = requests.get(url, params={"after": after, "wait": wait}, timeout=wait + 10).json()
        except requests.RequestException:
            raise SystemExit(f"listen: dev's router at {router} went away") from None
        for record in answer["records"]:
            after = int(record["offset"])
            idle_since = time.monotonic()
            data = (
                json.dumps(record["data"]).encode()
                if record.get("data") is not None
                else base64.b64decode(record.get("data_base64") or "")
            )
            yield {"topic": args.topic, "offset": after, **readable(record["attributes"], data)}
        if args.idle_timeout and time.monotonic() - idle_since >= args.idle_timeout:
            return


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def structured(value: bytes) -> tuple[dict[str, Any], bytes]:
    """(attributes, data) of a structured-mode CloudEvent record; ({}, value) for a plain record."""
    try:
        envelope = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}, value
    if not isinstance(envelope, dict) or not {"specversion", "id", "type"} <= set(envelope):
        return {}, value
    attributes = {k: str(v) for k, v in envelope.items() if k not in ("data", "data_base64")}
    if "data_base64" in envelope:
        return attributes, base64.b64decode(str(envelope["data_base64"]))
    data = envelope.get("data")
    return attributes, (data.encode() if isinstance(data, str) else json.dumps(data).encode())


def kafka_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.auto.commit": True,
        # A new group otherwise waits about half of the default 45 s before its first record.
        "session.timeout.ms": 6000,
        "client.id": "codex-pipeline-listen",
    }


def _kafka(args: argparse.Namespace) -> Generator[dict[str, Any], None, None]:
    try:
        from confluent_kafka import Consumer, KafkaError, KafkaException
    except ImportError:
        raise SystemExit("listen: --bootstrap needs confluent-kafka (pip install 'codex-pipeline[kafka]')") from None
    down_since: list[float] = []  # when every broker went down (librdkafka retries forever on its own)

    def on_error(error: Any) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            down_since[:] = down_since or [time.monotonic()]

    # librdkafka logs every failed connection attempt to stderr (dozens a second with no broker);
    # its log goes to a Python logger that is not shown, and the outcome is said once, below.
    quiet = logging.getLogger("codex_pipeline.listen.kafka")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    consumer = Consumer({**kafka_config(args), "error_cb": on_error, "logger": quiet})
    try:
        consumer.list_topics(args.topic, timeout=CONNECT_SECONDS)
    except KafkaException:
        consumer.close()
        raise SystemExit(
            f"listen: no Kafka broker answers at {args.bootstrap} within {CONNECT_SECONDS:g}s; "
            "check --bootstrap (host:port of a broker)"
        ) from None
    consumer.subscribe([args.topic])
    idle_since = time.monotonic()
    try:
        while not _interrupted.is_set():
            message = consumer.poll(0.5)
            if message is None:
                if down_since and time.monotonic() - down_since[0] >= CONNECT_SECONDS:
                    raise SystemExit(
                        f"listen: the Kafka broker at {args.bootstrap} went away (no answer for {CONNECT_SECONDS:g}s)"
                    )
                if args.idle_timeout and time.monotonic() - idle_since >= args.idle_timeout:
                    return
                continue
            down_since.clear()
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise SystemExit(f"listen: Kafka at {args.bootstrap}: {error}")
                if error.code() != KafkaError._PARTITION_EOF:
                    print(f"listen: Kafka: {error}", file=sys.stderr)
                continue
            idle_since = time.monotonic()
            pairs: Any = message.headers() or []
            headers = {str(key): _text(value) for key, value in pairs}
            value = message.value() or b""
            attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
            if attributes:  # binary content mode (what our KafkaSinks write)
                if "content-type" in headers and "datacontenttype" not in attributes:
                    attributes["datacontenttype"] = headers["content-type"]
            else:  # structured content mode: the value is the whole CloudEvent as JSON
                attributes, value = structured(value)
            key = message.key()
            yield {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key.decode("utf-8", "replace") if key else None,
                **readable(attributes, value),
            }
    except KafkaException as exc:
        raise SystemExit(f"listen: Kafka at {args.bootstrap}: {exc}") from None
    finally:
        consumer.close()  # commits the offsets of what was printed


def _on_ctrl_c(signum: int, frame: object) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    _interrupted.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        return _stream(args)
    finally:
        if previous is not None:  # the caller's Ctrl-C handling, as it was
            signal.signal(signal.SIGINT, previous)


def _stream(args: argparse.Namespace) -> int:
    stream = _kafka(args) if args.bootstrap else _local(args)
    count = 0
    try:
        for item in stream:
            print(
                json.dumps(item, ensure_ascii=False, sort_keys=False)
                if args.compact
                else json.dumps(item, ensure_ascii=False, indent=2),
                flush=True,
            )
            count += 1
            if args.max and count >= args.max:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops listening: no traceback
    except BrokenPipeError:
        # The reader went away (`listen | head`): stop quietly, and keep Python's final flush of
        # stdout from raising the same error again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            stream.close()
    return 0
