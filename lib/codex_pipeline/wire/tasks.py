"""The CodexTask codec: protobuf bytes <-> message <-> the spec's JSON.

The JSON is what the spec's Argo parameters and the ``github.codex.tasks`` topic carry:
camelCase keys (``issueNumber``, ``planCommentBody``, ``reviewContext.reviewThreads``),
``stage`` as ``planning``/``implementation``/``review`` and numbers as JSON numbers.
Reading is lenient where the spec itself is (protobuf enum names for ``stage``; ``title``
and ``body`` as the planning smoke test writes them); writing is canonical.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message

from codex_pipeline.core.policy import repository_problem
from codex_pipeline.errors import BadRequest
from codex_pipeline.wire.http import compact_json, parse_json
from codex_pipeline.wire.pb import codex_task_pb2 as pb

CodexTask = pb.CodexTask
CodexReviewContext = pb.CodexReviewContext
CodexReviewThread = pb.CodexReviewThread
CodexFailingCheck = pb.CodexFailingCheck

STAGE_NAMES: dict[int, str] = {
    pb.CODEX_TASK_STAGE_PLANNING: "planning",
    pb.CODEX_TASK_STAGE_IMPLEMENTATION: "implementation",
    pb.CODEX_TASK_STAGE_REVIEW: "review",
}
_STAGE_BY_TEXT: dict[str, int] = {name: number for number, name in STAGE_NAMES.items()}
_STAGE_BY_TEXT.update({pb.CodexTaskStage.Name(n).lower(): n for n in pb.CodexTaskStage.values()})
_STAGE_BY_TEXT["unspecified"] = pb.CODEX_TASK_STAGE_UNSPECIFIED

PROTOBUF_TYPES = frozenset({"application/protobuf", "application/x-protobuf", "application/octet-stream"})
JSON_TYPES = frozenset({"application/json", "text/json"})
DATASCHEMA = "proompteng.froussard.v1.CodexTask"
_M = TypeVar("_M", bound=Message)
_ALIASES = {"title": "issueTitle", "body": "issueBody"}
# A delivery id names workflows, store rows and CloudEvent ids: no control characters (NUL above all).
_IDENTIFIERS = frozenset({"delivery_id", "repository"})
_IDENTIFIER = re.compile(r"[^\x00-\x1f\x7f]+")
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_TIMESTAMP_SECONDS = range(-62_135_596_800, 253_402_300_800)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)


def stage_name(stage: int) -> str:
    """``planning`` for CODEX_TASK_STAGE_PLANNING; ``unspecified`` for anything unknown."""
    return STAGE_NAMES.get(stage, "unspecified")


def parse_stage(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in pb.CodexTaskStage.values():
        return value
    if isinstance(value, str) and value.strip().lower() in _STAGE_BY_TEXT:
        return _STAGE_BY_TEXT[value.strip().lower()]
    raise BadRequest(f"unknown task stage {value!r}; expected planning, implementation or review")


def set_timestamp(stamp: Any, moment: datetime) -> bool:
    """Write an aware ``moment`` into a ``google.protobuf.Timestamp``; False (``stamp`` untouched)
    when it falls outside the range a Timestamp can hold.

    What ``Timestamp.FromDatetime`` does for an aware datetime, by datetime arithmetic in C:
    protobuf's own is Python (a struct_time and ``calendar.timegm``), and in the served process,
    caches cold, route-task spent as much on it as on building the task's prompt.
    tests/test_tasks_codec.py holds the two equal.
    """
    since = moment - _EPOCH
    seconds = since.days * 86_400 + since.seconds
    if seconds not in _TIMESTAMP_SECONDS:
        return False
    stamp.seconds = seconds
    stamp.nanos = since.microseconds * 1000
    return True


def timestamp_text(stamp: Any) -> str:
    """A Timestamp as protobuf's JSON mapping writes it (``Timestamp.ToJsonString``): RFC 3339 in
    UTC with ``Z``, and 0, 3, 6 or 9 fractional digits, as few as the value needs.

    Written here for the reason :func:`set_timestamp` is; a value outside the range is left to
    protobuf, which raises on it.
    """
    seconds, nanos = stamp.seconds, stamp.nanos
    if seconds not in _TIMESTAMP_SECONDS or not 0 <= nanos < 1_000_000_000:
        return str(stamp.ToJsonString())
    whole = (_EPOCH_NAIVE + timedelta(seconds=seconds)).isoformat()
    if not nanos:
        return whole + "Z"
    if not nanos % 1_000_000:
        return f"{whole}.{nanos // 1_000_000:03d}Z"
    if not nanos % 1000:
        return f"{whole}.{nanos // 1000:06d}Z"
    return f"{whole}.{nanos:09d}Z"


# How each field of CodexTask is written: (JSON name, kind), kind being "plain", "timestamp" or
# "message", looked up by descriptor so that the walk asks no descriptor anything per task.
_JSON_FIELDS: dict[Any, tuple[str, str]] = {
    field: (
        field.json_name,
        "plain"
        if field.message_type is None
        else "timestamp"
        if field.message_type.full_name == "google.protobuf.Timestamp"
        else "message",
    )
    for field in pb.CodexTask.DESCRIPTOR.fields
}


def to_json_dict(task: pb.CodexTask) -> dict[str, Any]:
    """The spec's JSON shape of a task (camelCase, stage as a word, numbers as numbers).

    Protobuf's JSON mapping, walked over the fields that are set: ``json_format.MessageToDict``
    gives the same dict but costs route-task more than the whole routing decision. The nested
    review context still goes through it; tests/test_tasks_codec.py holds the two equal.
    """
    data: dict[str, Any] = {}
    for field, value in task.ListFields():
        name, kind = _JSON_FIELDS[field]
        if kind == "plain":
            data[name] = value
        elif kind == "timestamp":
            data[name] = timestamp_text(value)
        else:
            from google.protobuf import json_format  # loaded on the first review context only

            data[name] = json_format.MessageToDict(value, preserving_proto_field_name=False)
    data["stage"] = stage_name(task.stage)
    return data


def to_json(task: pb.CodexTask) -> bytes:
    """The task's JSON, compact and UTF-8 (:func:`codex_pipeline.wire.http.compact_json`)."""
    return to_json_and_issued_at(task)[0]


def to_json_and_issued_at(task: pb.CodexTask) -> tuple[bytes, str | None]:
    """The task's JSON and its ``issuedAt`` as written there (RFC 3339, ``Z``), read from one walk of
    the fields: route-task gives both of a task's events that time."""
    data = to_json_dict(task)
    return compact_json(data), data.get("issuedAt")


def from_json_dict(data: Any) -> pb.CodexTask:
    if not isinstance(data, dict):
        raise BadRequest("a task in JSON must be an object")
    normalised = dict(data)
    for alias, canonical in _ALIASES.items():
        if alias in normalised and canonical not in normalised:
            normalised[canonical] = normalised.pop(alias)
        else:
            normalised.pop(alias, None)
    if "stage" in normalised:
        normalised["stage"] = pb.CodexTaskStage.Name(parse_stage(normalised["stage"]))
    from google.protobuf import json_format  # a task read as JSON: not on route-task's path

    task = pb.CodexTask()
    try:
        json_format.ParseDict(normalised, task, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise BadRequest(f"task JSON does not match CodexTask: {exc}") from None
    return task


def from_json(raw: bytes | str) -> pb.CodexTask:
    return from_json_dict(parse_json(raw, "task"))


def scrub(message: _M) -> _M:
    """Remove NUL from every free-text field (in place; returns ``message``). Issue text may carry
    NUL; PostgreSQL cannot store it and SQLite can, so it goes before anything is stored and both
    backends keep the same task. Identifiers keep theirs, so :func:`require` refuses them (400)
    rather than merging two different ids into one."""
    for field, value in message.ListFields():
        if field.name in _IDENTIFIERS:
            continue
        if field.type == field.TYPE_STRING:
            if field.is_repeated:
                if any("\x00" in item for item in value):
                    cleaned = [item.replace("\x00", "") for item in value]
                    del value[:]
                    value.extend(cleaned)
            elif "\x00" in value:
                setattr(message, field.name, value.replace("\x00", ""))
        elif field.type == field.TYPE_MESSAGE:
            for item in value if field.is_repeated else [value]:
                scrub(item)
    return message


def to_protobuf(task: pb.CodexTask) -> bytes:
    return task.SerializeToString(deterministic=True)


def from_protobuf(raw: bytes) -> pb.CodexTask:
    task = pb.CodexTask()
    try:
        task.ParseFromString(raw)
    except DecodeError as exc:
        raise BadRequest(f"bytes are not a protobuf CodexTask: {exc}") from None
    return task


def decode(raw: bytes, content_type: str | None) -> pb.CodexTask:
    """Decode a task by media type; without one, JSON when it looks like JSON, else protobuf."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return scrub(from_json(raw))
    if media in PROTOBUF_TYPES:
        return scrub(from_protobuf(raw))
    if media:
        raise BadRequest(
            f"unsupported task content type {media!r}; send application/protobuf, "
            "application/x-protobuf or application/json"
        )
    stripped = raw.lstrip()
    return scrub(from_json(raw) if stripped[:1] in (b"{", b"[") else from_protobuf(raw))


def pull_request_of(task: pb.CodexTask) -> int:
    """The pull request a review or readiness task is about: ``pullRequestNumber`` since review
    tasks name their issue in ``issueNumber``; tasks from before that field named the PR there."""
    return int(task.pull_request_number) if task.HasField("pull_request_number") else int(task.issue_number)


def partition_key(repository: str, issue_number: int) -> str:
    """``owner/repo#number``: all events of one issue land on one partition, in order."""
    return f"{repository}#{issue_number}"


def task_event_id(delivery_id: str, stage: int | str) -> str:
    """The CloudEvent id of a task: stable per delivery and stage, so re-emits deduplicate."""
    name = stage if isinstance(stage, str) else stage_name(stage)
    return f"{delivery_id}:{name}"


def require(task: pb.CodexTask, *names: str) -> None:
    """400 naming every missing field, so a bad replay says exactly what to fix."""
    missing = [name for name in names if not getattr(task, name)]
    if missing:
        raise BadRequest(f"task is missing required field(s): {', '.join(missing)}")
    if "repository" in names:
        problem = repository_problem(task.repository)
        if problem:
            raise BadRequest(f"task repository: {problem}")
    if "delivery_id" in names and not _IDENTIFIER.fullmatch(task.delivery_id):
        raise BadRequest(f"task delivery id {task.delivery_id[:80]!r} holds control characters")
