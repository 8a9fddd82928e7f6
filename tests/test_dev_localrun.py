"""Codex on a laptop (dev/localrun.py, dev/demo_codex.py): the real CLI when it and a key are there,
else the demo Codex, whose output the steps' own reader (steps/codex.py) takes as Codex's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codex_pipeline.core.prompts import PLAN_SECTIONS, implementation_prompt, planning_prompt, review_prompt
from codex_pipeline.dev import demo_codex, localrun
from codex_pipeline.steps.codex import CodexOptions, run_codex
from codex_pipeline.wire.pb import codex_task_pb2 as pb

TASK = pb.CodexTask(
    repository="acme/widgets", issue_number=42, issue_title="Add retry", issue_body="Please.", base="main"
)


@pytest.fixture
def codex_cli(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "codex"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("env", "real"),
    [
        ({"OPENAI_API_KEY": "sk-test"}, True),
        ({"CODEX_API_KEY": "sk-test"}, True),
        ({}, False),  # the CLI without a key cannot run: the demo does
    ],
)
def test_the_real_codex_runs_only_with_its_executable_and_a_key(
    tmp_path: Path, codex_cli: Path, env: dict[str, str], real: bool
) -> None:
    binary, key, label, why = localrun.choose_codex({"PATH": str(codex_cli.parent), **env}, tmp_path / "state")
    if real:
        assert (binary, key, label) == (str(codex_cli), "sk-test", "Codex")
    else:
        assert key is None and label == "demo Codex" and "OPENAI_API_KEY is not set" in why
        assert Path(binary) == tmp_path / "state" / "bin" / "codex-demo"


def test_without_any_codex_the_demo_runs_and_the_settings_carry_no_model_key(tmp_path: Path) -> None:
    settings = localrun.settings(
        {"PATH": "/usr/bin:/bin", "CODEX_BIN": ""},
        tmp_path,
        github_token="tok",
        extra={"CODEX_GIT_URL": "file:///x/{repo}.git"},
    )
    assert settings.codex == "demo Codex" and "no codex executable" in settings.codex_why
    assert settings.secrets == {"github-token": {"token": "tok"}}
    assert settings.env["CODEX_BIN"].endswith("codex-demo") and settings.env["CODEX_GIT_URL"] == "file:///x/{repo}.git"


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# widgets\n")
    return work


def test_the_demo_plan_has_the_spec_sections_and_changes_nothing(tmp_path: Path) -> None:
    demo = demo_codex.install(tmp_path / "bin")
    work = _workdir(tmp_path)
    result = run_codex(planning_prompt(TASK), work, CodexOptions(binary=str(demo)))
    assert result.ok, result.failure_reason()
    headings = [line[3:] for line in result.final_message.splitlines() if line.startswith("## ")]
    assert headings == list(PLAN_SECTIONS)
    assert demo_codex.NAME in result.final_message
    assert sorted(p.name for p in work.iterdir()) == ["README.md"]


def test_the_demo_implementation_reports_its_todo_list_and_makes_one_change(tmp_path: Path) -> None:
    demo = demo_codex.install(tmp_path / "bin")
    work = _workdir(tmp_path)
    seen: list[list[tuple[str, bool]]] = []
    result = run_codex(
        implementation_prompt(TASK, "codex/issue-42-add-retry", "## Task Breakdown\n1. x"),
        work,
        CodexOptions(binary=str(demo)),
        on_todo=seen.append,
    )
    assert result.ok, result.failure_reason()
    assert seen[0] == [("Add demo/CODEX_DEMO.md", False), ("Run the project's checks", False)]
    assert all(done for _, done in seen[-1])
    assert result.changed_files == [str(work / demo_codex.CHANGE_FILE)]
    assert "Issue #42" in (work / demo_codex.CHANGE_FILE).read_text()
    assert [c.exit_code for c in result.commands] == [0, 0]


def test_the_demo_review_pass_edits_the_change(tmp_path: Path) -> None:
    demo = demo_codex.install(tmp_path / "bin")
    work = _workdir(tmp_path)
    review = pb.CodexTask(repository="acme/widgets", issue_number=57, issue_title="Add retry")
    result = run_codex(review_prompt(review, "codex/issue-42-add-retry", {}), work, CodexOptions(binary=str(demo)))
    assert result.ok and "#57" in result.final_message
    assert "Pull request #57: review pass" in (work / demo_codex.CHANGE_FILE).read_text()


def test_the_demo_refuses_what_the_cli_would_not_be_asked(tmp_path: Path) -> None:
    demo = demo_codex.install(tmp_path / "bin")
    done = subprocess.run([str(demo), "login"], capture_output=True, text=True, check=False)
    assert done.returncode == 64 and "only `codex exec --json" in done.stderr
