"""A decision field named like a LogRecord attribute must not break the handler that logs it."""

from __future__ import annotations

import logging

import pytest

from codex_pipeline.shell import logs


def test_reserved_field_names_are_kept_with_a_suffix(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logs.decision(logging.getLogger("codex_pipeline.test"), "workflow written", name="wf-1", module="m")
    record = caplog.records[-1]
    assert record.getMessage() == "workflow written: name=wf-1 module=m"
    assert record.name == "codex_pipeline.test"
    assert vars(record)["name_"] == "wf-1" and vars(record)["module_"] == "m"
