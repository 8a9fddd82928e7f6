"""The task codec: protobuf <-> message <-> the spec's JSON, round-trip by property."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_pipeline.errors import BadRequest
from codex_pipeline.wire import tasks
from codex_pipeline.wire.pb import codex_task_pb2 as pb

text = st.text(max_size=40)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Timestamp's range in seconds, and nanos of each precision the JSON mapping writes (0, 3, 6, 9 digits)
timestamp_seconds = st.integers(min_value=-62_135_596_800, max_value=253_402_300_799)
timestamp_nanos = st.one_of(
    st.just(0),
    st.integers(0, 999).map(lambda ms: ms * 1_000_000),
    st.integers(0, 999_999).map(lambda us: us * 1000),
    st.integers(0, 999_999_999),
)
# RFC 3339 offsets are whole minutes (for an offset with seconds protobuf keeps the local
# microseconds, an instant off by the offset's fraction; set_timestamp keeps the exact instant)
utc_offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda minutes: timedelta(minutes=minutes))
aware_datetimes = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)),
    st.datetimes(),
    utc_offsets,
)


@st.composite
def codex_tasks(draw: st.DrawFn) -> pb.CodexTask:
    task = pb.CodexTask(
        stage=draw(st.sampled_from(list(pb.CodexTaskStage.values()))),  # type: ignore[arg-type]
        prompt=draw(text),
        repository=draw(text),
        base=draw(text),
        head=draw(text),
        issue_number=draw(int64),
        issue_url=draw(text),
        issue_title=draw(text),
        issue_body=draw(text),
        sender=draw(text),
        delivery_id=draw(text),
    )
    if draw(st.booleans()):
        task.issued_at.seconds = draw(timestamp_seconds)
        task.issued_at.nanos = draw(timestamp_nanos)
    if draw(st.booleans()):
        task.plan_comment_id = draw(int64)
    if draw(st.booleans()):
        task.plan_comment_url = draw(text)
    if draw(st.booleans()):
        task.plan_comment_body = draw(text)
    if draw(st.booleans()):
        task.pull_request_number = draw(int64)
    if draw(st.booleans()):
        task.plan_sha256 = draw(text)
    if draw(st.booleans()):
        task.replan = draw(st.booleans())
    if draw(st.booleans()):
        context = task.review_context
        if draw(st.booleans()):
            context.summary = draw(text)
        for _ in range(draw(st.integers(0, 3))):
            thread = context.review_threads.add(summary=draw(text))
            if draw(st.booleans()):
                thread.url = draw(text)
            if draw(st.booleans()):
                thread.author = draw(text)
        for _ in range(draw(st.integers(0, 3))):
            check = context.failing_checks.add(name=draw(text))
            for name in ("conclusion", "url", "details"):
                if draw(st.booleans()):
                    setattr(check, name, draw(text))
        context.additional_notes.extend(draw(st.lists(text, max_size=3)))
    return task


@given(codex_tasks())
def test_protobuf_round_trip_is_lossless(task: pb.CodexTask) -> None:
    assert tasks.from_protobuf(tasks.to_protobuf(task)) == task


@given(codex_tasks())
def test_json_round_trip_is_lossless(task: pb.CodexTask) -> None:
    assert tasks.from_json(tasks.to_json(task)) == task


@given(codex_tasks())
def test_the_json_mapping_is_protobufs_own(task: pb.CodexTask) -> None:
    """to_json_dict walks the fields itself for speed (issue 14); it must give what protobuf's
    own JSON mapping gives, with the spec's two changes (stage as a word, int64 as numbers)."""
    from google.protobuf import json_format

    reference = json_format.MessageToDict(task, preserving_proto_field_name=False)
    reference["stage"] = tasks.stage_name(task.stage)
    for key in ("issueNumber", "planCommentId", "pullRequestNumber"):
        if key in reference:
            reference[key] = int(reference[key])
    assert tasks.to_json_dict(task) == reference
    assert list(tasks.to_json_dict(task)) == list(reference)


@given(timestamp_seconds, timestamp_nanos)
def test_timestamps_are_written_as_protobuf_writes_them(seconds: int, nanos: int) -> None:
    """timestamp_text stands in for Timestamp.ToJsonString on route-task's path (issue 14)."""
    stamp = pb.CodexTask().issued_at
    stamp.seconds, stamp.nanos = seconds, nanos
    assert tasks.timestamp_text(stamp) == stamp.ToJsonString()


@pytest.mark.parametrize(("seconds", "nanos"), [(-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 10**9)])
def test_a_timestamp_out_of_range_is_refused_as_protobuf_refuses_it(seconds: int, nanos: int) -> None:
    stamp = pb.CodexTask().issued_at
    stamp.seconds, stamp.nanos = seconds, nanos
    with pytest.raises(ValueError, match="Timestamp is not valid"):
        tasks.timestamp_text(stamp)


@given(aware_datetimes)
def test_datetimes_become_the_timestamps_protobuf_makes_of_them(moment: datetime) -> None:
    """set_timestamp stands in for Timestamp.FromDatetime: same value, and refused exactly where
    protobuf refuses (a moment that leaves Timestamp's range once in UTC), leaving the field unset."""
    reference = pb.CodexTask()
    try:
        reference.issued_at.FromDatetime(moment)
    except (ValueError, OverflowError):
        reference.ClearField("issued_at")
    task = pb.CodexTask()
    assert tasks.set_timestamp(task.issued_at, moment) == reference.HasField("issued_at")
    assert task == reference


def test_an_offset_with_a_fraction_of_a_second_keeps_the_exact_instant() -> None:
    moment = datetime(2000, 1, 1, tzinfo=timezone(timedelta(microseconds=1)))
    task = pb.CodexTask()
    assert tasks.set_timestamp(task.issued_at, moment)
    assert task.issued_at.ToDatetime(tzinfo=UTC) == moment


def test_a_timestamp_at_the_edges_of_its_range() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    task = pb.CodexTask()
    assert tasks.set_timestamp(task.issued_at, last)
    assert tasks.timestamp_text(task.issued_at) == "9999-12-31T23:59:59.999999Z"
    assert not tasks.set_timestamp(task.issued_at, last.replace(tzinfo=timezone(timedelta(hours=-1))))
    first = datetime(1, 1, 1, tzinfo=UTC)
    assert tasks.set_timestamp(task.issued_at, first)
    assert tasks.timestamp_text(task.issued_at) == "0001-01-01T00:00:00Z"
    assert not tasks.set_timestamp(task.issued_at, first.replace(tzinfo=timezone(timedelta(hours=1))))


@given(codex_tasks())
def test_json_uses_spec_shapes(task: pb.CodexTask) -> None:
    data = json.loads(tasks.to_json(task))
    assert data["stage"] in ("planning", "implementation", "review", "unspecified")
    if task.issue_number:
        assert data["issueNumber"] == task.issue_number  # a number, not protobuf's int64 string
    if task.HasField("plan_comment_id"):
        assert data["planCommentId"] == task.plan_comment_id


def test_reads_the_spec_review_payload() -> None:
    spec_payload = {
        "stage": "review",
        "repository": "proompteng/lab",
        "issueNumber": 999,
        "base": "main",
        "head": "codex/test",
        "issueUrl": "https://github.com/proompteng/lab/pull/999",
        "issueTitle": "Codex dry run",
        "issueBody": "Testing review workflows",
        "reviewContext": {
            "summary": "Two review threads open",
            "reviewThreads": [
                {
                    "summary": "Add unit test for webhook",
                    "url": "https://github.com/proompteng/lab/pull/999#discussion-1",
                    "author": "octocat",
                }
            ],
            "failingChecks": [{"name": "ci / test", "conclusion": "failure", "url": "https://ci.example.test"}],
        },
    }
    task = tasks.from_json_dict(spec_payload)
    assert task.stage == pb.CODEX_TASK_STAGE_REVIEW
    assert task.review_context.review_threads[0].author == "octocat"
    assert task.review_context.failing_checks[0].conclusion == "failure"
    assert tasks.to_json_dict(task) == spec_payload


def test_reads_planning_smoke_test_aliases_and_enum_names() -> None:
    task = tasks.from_json_dict(
        {
            "stage": "CODEX_TASK_STAGE_PLANNING",
            "repository": "proompteng/lab",
            "issueNumber": 999,
            "title": "Codex dry run",
            "body": "Testing orchestration",
        }
    )
    assert task.stage == pb.CODEX_TASK_STAGE_PLANNING
    assert (task.issue_title, task.issue_body) == ("Codex dry run", "Testing orchestration")


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", "not a protobuf"),
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"stage": "deploy"}', "application/json", "unknown task stage"),
        (b'{"issueNumber": "many"}', "application/json", "does not match"),
        (b"[]", "application/json", "must be an object"),
        (b"x", "text/plain", "unsupported task content type"),
    ],
)
def test_undecodable_tasks_are_bad_requests(raw: bytes, content_type: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        tasks.decode(raw, content_type)


def test_decode_sniffs_json_and_protobuf_without_content_type() -> None:
    task = pb.CodexTask(stage=pb.CODEX_TASK_STAGE_PLANNING, repository="o/r", issue_number=3, delivery_id="d")
    assert tasks.decode(tasks.to_protobuf(task), None) == task
    assert tasks.decode(tasks.to_json(task), None) == task


def test_require_names_every_missing_field() -> None:
    with pytest.raises(BadRequest, match="repository, issue_number, delivery_id"):
        tasks.require(pb.CodexTask(), "repository", "issue_number", "delivery_id")


@given(codex_tasks())
def test_the_json_bytes_are_what_json_dumps_writes(task: pb.CodexTask) -> None:
    """to_json writes with orjson for speed (issue 14): byte for byte what the standard library's
    compact, non-ASCII-preserving dump gives, escapes of control characters included."""
    expected = json.dumps(tasks.to_json_dict(task), separators=(",", ":"), ensure_ascii=False).encode()
    assert tasks.to_json(task) == expected
