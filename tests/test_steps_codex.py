"""The Codex runner against a fake ``codex`` executable that speaks the real ``exec --json`` stream."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from codex_pipeline.steps.codex import CodexOptions, CodexResult, EventReader, run_codex
from tests.steps_support import codex_env


def _run(tmp_path: Path, **kwargs: Any) -> tuple[CodexResult, str, Path]:
    record = tmp_path / "record"
    env = {**os.environ, **codex_env(tmp_path / "bin", record, tmp=tmp_path, **kwargs)}
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    (workdir / "README.md").write_text("# demo\n")
    transcript = io.StringIO()
    result = run_codex("Do the thing.\n", workdir, CodexOptions(timeout=30), transcript=transcript, env=env)
    return result, transcript.getvalue(), record


def test_final_agent_message_commands_and_usage_are_read_from_the_stream(tmp_path: Path) -> None:
    result, transcript, _ = _run(tmp_path, edits={"src/new.py": "x = 1\n"}, message="## Summary\nAdded x.")
    assert result.ok
    assert result.final_message == "## Summary\nAdded x."
    assert [c.command for c in result.commands] == ["bash -lc ls", "bash -lc 'python -m pytest -q'"]
    assert result.usage["output_tokens"] == 122
    assert (tmp_path / "work" / "src" / "new.py").read_text() == "x = 1\n"
    assert "[agent]" in transcript and "$ bash -lc ls" in transcript and "[add]" in transcript


def test_prompt_goes_on_stdin_and_model_and_flags_on_argv(tmp_path: Path) -> None:
    _, _, record = _run(tmp_path)
    assert (record / "prompt-0.txt").read_text() == "Do the thing.\n"
    argv = json.loads((record / "argv-0.json").read_text())
    assert argv[:2] == ["exec", "--json"] and argv[-1] == "-"
    assert argv[argv.index("--model") + 1] == "gpt-5.1-codex-max"
    assert 'model_reasoning_effort="high"' in argv
    assert "--dangerously-bypass-approvals-and-sandbox" in argv
    assert "Do the thing" not in " ".join(argv)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("fail", "stream disconnected before completion: 503"),
        ("crash", "Codex exited with status 2"),
        ("silent", "Codex finished without a final message"),
    ],
)
def test_failures_are_reported_not_raised(tmp_path: Path, mode: str, reason: str) -> None:
    result, transcript, _ = _run(tmp_path, mode=mode)
    assert not result.ok
    assert result.failure_reason() == reason
    assert "[codex] exit" in transcript


def test_a_hanging_codex_is_killed_at_the_timeout(tmp_path: Path) -> None:
    env = {**os.environ, **codex_env(tmp_path / "bin", tmp_path / "rec", mode="hang")}
    result = run_codex("x", tmp_path, CodexOptions(timeout=1.0), env=env)
    assert result.timed_out and not result.ok
    assert "timeout" in result.failure_reason()


def test_a_missing_binary_is_a_failure_with_a_reason(tmp_path: Path) -> None:
    result = run_codex("x", tmp_path, CodexOptions(binary=str(tmp_path / "nope")))
    assert result.exit_code == 127 and "cannot start" in result.failure_reason()


def test_options_from_env_and_explicit_values() -> None:
    options = CodexOptions.from_env(
        {
            "CODEX_MODEL": "gpt-5-codex",
            "CODEX_REASONING": "medium",
            "CODEX_SEARCH": "false",
            "CODEX_EXTRA_ARGS": "--profile ci",
        },
        yolo=False,
    )
    argv = options.argv()
    assert argv == [
        "codex",
        "exec",
        "--json",
        "--model",
        "gpt-5-codex",
        "-c",
        'model_reasoning_effort="medium"',
        "--profile",
        "ci",
        "-",
    ]


def test_unknown_events_and_plain_lines_do_not_break_the_reader() -> None:
    reader = EventReader()
    assert reader.feed("Reading prompt from stdin...\n") == ["Reading prompt from stdin..."]
    assert reader.feed(json.dumps({"type": "token_count", "n": 3})) == []
    assert reader.feed(
        json.dumps(
            {
                "type": "item.completed",
                "item": {
                    "type": "todo_list",
                    "items": [{"text": "write tests", "completed": True}, {"text": "ship", "completed": False}],
                },
            }
        )
    ) == ["[x] write tests", "[ ] ship"]
