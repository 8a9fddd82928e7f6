"""``codex-pipeline dead-letters list|show|replay``: what Knative gave up on, and a way back.

Reads ``codex.dead-letter`` from Kafka (``--bootstrap``; a consumer group that reads the topic
from its start to its end and commits nothing, so every run sees every dead letter) or, without
it, the local topics of a running ``codex-pipeline dev``. ``show`` prints the original event with
the ``knativeerror*`` extensions decoded; ``replay`` sends chosen events (``--id``, ``--type``,
``--since``, or ``--all``), same id, to the Broker they came from (its Kafka broker ingress in the
cluster, dev's router locally).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_EVENTING = Path(__file__).resolve().parents[3] / "eventing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("list", "show", "replay"),
        help="list every dead letter, show chosen ones decoded, or replay chosen ones",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="event ids (show, replay)")
    parser.add_argument("--type", action="append", default=[], help="replay: events of this type (repeatable)")
    parser.add_argument("--since", help="replay: events since this time (ISO 8601) or this long ago (30m, 6h, 2d)")
    parser.add_argument("--all", action="store_true", help="replay: every dead letter")
    parser.add_argument("--dry-run", action="store_true", help="replay: say where each would go, send nothing")
    parser.add_argument("--topic", default="codex.dead-letter", help="dead-letter topic (default codex.dead-letter)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers; omit for dev's local topics")
    parser.add_argument("--group", default="codex-pipeline-dead-letters", help="Kafka consumer group")
    parser.add_argument(
        "--broker-ingress",
        help="where Brokers take events: <ingress>/<namespace>/<broker> "
        "(default: Knative's Kafka broker ingress with --bootstrap, dev's router without)",
    )
    parser.add_argument("--broker", help="replay to this Broker (namespace/name) instead of the one found in eventing/")
    parser.add_argument("--eventing", type=Path, default=REPO_EVENTING, help="the Triggers that name the Brokers")
    parser.add_argument("--state", type=Path, default=Path(".codex-pipeline"), help="dev's state folder")


def _dev_info(state: Path) -> dict[str, Any]:
    try:
        info = json.loads((state / "dev.json").read_text())
    except (OSError, ValueError):
        raise SystemExit(
            f"dead-letters: no running dev found ({state / 'dev.json'}); start `codex-pipeline dev` "
            "or pass --bootstrap for Kafka"
        ) from None
    return info if isinstance(info, dict) else {}


def _local(args: argparse.Namespace, info: dict[str, Any]) -> Iterator[Any]:
    import requests

    from codex_pipeline.wire.dead_letters import DeadLetter
    from codex_pipeline.wire.events import Event

    url = f"{str(info['router']).rstrip('/')}/topics/{args.topic}"
    after = 0
    while True:
        try:
            records = requests.get(url, params={"after": after, "limit": 1000}, timeout=10).json()["records"]
        except (requests.RequestException, ValueError, KeyError):
            raise SystemExit(f"dead-letters: dev's router at {info['router']} is not reachable") from None
        if not records:
            return
        for record in records:
            after = int(record["offset"])
            data = (
                json.dumps(record["data"]).encode()
                if record.get("data") is not None
                else base64.b64decode(record.get("data_base64") or "")
            )
            yield DeadLetter(f"offset {after}", Event.from_attributes(record["attributes"], data))


def _kafka(args: argparse.Namespace) -> Iterator[Any]:
    try:
        from confluent_kafka import Consumer, KafkaException, TopicPartition
    except ImportError:
        raise SystemExit(
            "dead-letters: --bootstrap needs confluent-kafka (pip install 'codex-pipeline[kafka]')"
        ) from None
    from codex_pipeline.cli.listen import _text, structured
    from codex_pipeline.wire.dead_letters import DeadLetter
    from codex_pipeline.wire.events import Event

    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "client.id": "codex-pipeline-dead-letters",
        }
    )
    try:
        metadata = consumer.list_topics(args.topic, timeout=10)
        topic = metadata.topics.get(args.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return
        ends: dict[int, int] = {}
        starts: list[Any] = []
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(args.topic, partition, low))
        if not starts:
            return
        consumer.assign(starts)
        while ends:
            message = consumer.poll(5.0)
            if message is None:
                raise SystemExit(f"dead-letters: Kafka at {args.bootstrap} stopped answering before the topic's end")
            if message.error() is not None:
                continue
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
            pairs: Any = message.headers() or []
            headers = {str(key): _text(value) for key, value in pairs}
            value = message.value() or b""
            attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
            if attributes:
                if "content-type" in headers and "datacontenttype" not in attributes:
                    attributes["datacontenttype"] = headers["content-type"]
            else:
                attributes, value = structured(value)
            if not {"id", "type", "source"} <= set(attributes):
                continue
            kind, stamp = message.timestamp()
            when = datetime.fromtimestamp(stamp / 1000, UTC) if kind and stamp > 0 else None
            yield DeadLetter(f"partition {partition} offset {offset}", Event.from_attributes(attributes, value), when)
    except KafkaException as exc:
        raise SystemExit(f"dead-letters: Kafka at {args.bootstrap}: {exc}") from None
    finally:
        consumer.close()


def _replay(args: argparse.Namespace, letters: list[Any], info: dict[str, Any]) -> int:
    import requests

    from codex_pipeline.cli.reconcile import parse_since
    from codex_pipeline.dev.topology import TopologyError, load
    from codex_pipeline.wire.dead_letters import KAFKA_BROKER_INGRESS, TriggerView, broker_of, select
    from codex_pipeline.wire.events import encode_binary

    if not (args.ids or args.type or args.since or args.all):
        raise SystemExit("dead-letters replay: choose events: IDs, --type, --since or --all")
    try:
        since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    except ValueError as error:
        raise SystemExit(f"dead-letters replay: {error}") from None
    chosen = select(letters, ids=args.ids, types=args.type, since=since)
    missing = sorted(set(args.ids) - {letter.event.id for letter in chosen})
    for event_id in missing:
        print(f"not found      {event_id}", file=sys.stderr)
    fixed = tuple(args.broker.split("/", 1)) if args.broker else None
    triggers: list[TriggerView] = []
    if fixed is None:
        try:
            topology = load(args.eventing)
        except TopologyError as error:
            raise SystemExit(f"dead-letters replay: {error}; pass --broker namespace/name") from None
        triggers = [TriggerView(t.broker, t.subscriber, t.filter.matches) for t in topology.triggers]
    ingress = (args.broker_ingress or (KAFKA_BROKER_INGRESS if args.bootstrap else str(info["router"]))).rstrip("/")
    failures = 0
    for letter in chosen:
        broker = fixed or broker_of(letter, triggers, info.get("functions") or {})
        if broker is None:
            print(
                f"skipped        {letter.event.id} {letter.event.type}: no single Broker has a Trigger for it; "
                "pass --broker namespace/name",
                file=sys.stderr,
            )
            failures += 1
            continue
        url = f"{ingress}/{broker[0]}/{broker[1]}"
        if args.dry_run:
            print(f"would replay   {letter.event.id} {letter.event.type} -> Broker {broker[0]}/{broker[1]} ({url})")
            continue
        headers, body = encode_binary(letter.original)
        try:
            answer = requests.post(
                url,
                params={"from": "dead-letters"} if not args.bootstrap else None,
                data=body,
                headers=headers,
                timeout=30,
            )
            status = answer.status_code
        except requests.RequestException as exc:
            status, answer = 0, None
            print(f"failed         {letter.event.id}: {url} unreachable ({type(exc).__name__})", file=sys.stderr)
        if 200 <= status < 300:
            print(f"replayed       {letter.event.id} {letter.event.type} -> Broker {broker[0]}/{broker[1]} ({status})")
        else:
            failures += 1
            if answer is not None:
                print(
                    f"failed         {letter.event.id}: Broker answered {status} {answer.text[:200]}", file=sys.stderr
                )
    return 1 if failures or missing else 0


def run(args: argparse.Namespace) -> int:
    info = {} if args.bootstrap else _dev_info(args.state)
    letters = list(_kafka(args) if args.bootstrap else _local(args, info))
    if args.action == "list":
        for letter in letters:
            print(letter.summary_line())
        print(f"{len(letters)} dead letter(s) in {args.topic}", file=sys.stderr)
        return 0
    if args.action == "show":
        shown = [letter for letter in letters if not args.ids or letter.event.id in args.ids]
        from codex_pipeline.cli.listen import readable

        for letter in shown:
            original = letter.original
            # A task is shown as the spec's JSON (as `listen` shows it), other data as JSON or base64.
            shown_json = {
                "position": letter.position,
                **readable(original.attributes(), original.data),
                "error": letter.as_json()["error"],
            }
            print(json.dumps(shown_json, indent=2, ensure_ascii=False))
        return 0 if shown else 1
    return _replay(args, letters, info)
