"""The GitHub payload builders produce what GitHub sends (so every test built on them is honest)."""

from __future__ import annotations

import json

from codex_pipeline.wire.events import decode_request
from codex_pipeline.wire.http import Headers, Request
from tests.payloads import github


def test_comment_on_a_pr_is_an_issue_comment_without_head_or_base() -> None:
    payload = github.issue_comment("@tuslagch review", on_pr=True, association="COLLABORATOR")
    assert "pull_request" in payload["issue"]
    assert payload["issue"]["html_url"].endswith("/pull/42")
    assert "head" not in payload["issue"] and "base" not in payload["issue"]
    assert payload["comment"]["author_association"] == "COLLABORATOR"


def test_check_suite_lists_short_prs_and_none_for_forks() -> None:
    suite = github.check_suite_completed()["check_suite"]
    assert suite["pull_requests"][0]["head"]["ref"] == suite["head_branch"]
    assert set(suite["pull_requests"][0]) == {"url", "id", "number", "head", "base"}
    assert github.check_suite_completed(pulls=[])["check_suite"]["pull_requests"] == []


def test_builders_are_json_and_deterministic_per_login() -> None:
    first = github.issues_opened(sender="alice")
    second = github.issues_opened(sender="alice")
    assert first["sender"]["id"] == second["sender"]["id"]
    json.dumps(github.pull_request_review_thread())
    json.dumps(github.check_run_completed())


def test_cloudevent_decodes_as_ingest_emits_it() -> None:
    payload = github.issues_labeled("codex")
    headers, body = github.cloudevent("issues", payload, "d-1", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    event = decode_request(Request("POST", "/", Headers(headers), body))
    assert event.type == "com.github.issues.labeled"
    assert event.id == "d-1"
    assert event.extensions["partitionkey"] == "acme/widgets#42"
    assert event.traceparent is not None
    assert json.loads(event.data)["label"]["name"] == "codex"
