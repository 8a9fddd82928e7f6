"""The console script as a user meets it: conventions over the real parser, and verbs that stop cleanly.

Conventions: every flag says what it does, one concept has one flag name across verbs, enumerated
values are refused when wrong, and a configuration error is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_pipeline.cli import build_parser, main
from codex_pipeline.dev.log import EventLog
from codex_pipeline.dev.router import Router
from codex_pipeline.dev.topology import load
from codex_pipeline.dev.view import View
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "codex-pipeline")

# One flag name per concept. A verb that needs the concept uses this name; the others are refused.
CONCEPTS = {
    "--workflow-name": ("--run-id", "--workflow", "--workflow-id", "--run"),
    "--repo": ("--repository", "--repo-name"),
    "--issue": ("--issue-number", "--number"),
    "--state": ("--state-dir", "--state-folder"),
    "--idle-timeout": ("--idle",),
}


def subparsers(
    parser: argparse.ArgumentParser, path: str = "codex-pipeline"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subparsers(sub, f"{path} {name}")


def options() -> Iterator[tuple[str, argparse.Action]]:
    for path, parser in subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            yield path, action


def test_every_flag_and_argument_has_help() -> None:
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, action in options()
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert not missing


def test_one_name_per_concept_across_verbs() -> None:
    used = {flag: path for path, action in options() for flag in action.option_strings}
    for canonical, synonyms in CONCEPTS.items():
        wrong = {flag: used[flag] for flag in synonyms if flag in used}
        assert not wrong, f"use {canonical} instead of {wrong}"


def test_timeout_means_the_same_everywhere() -> None:
    # `--timeout` stops the operation the verb runs; waiting for input is `--idle-timeout`.
    for path, action in options():
        if "--timeout" in action.option_strings:
            assert "stopped" in (action.help or ""), (path, action.help)
        if action.dest.endswith("timeout") or action.dest == "interval":
            assert action.type is not None and action.type is not float, f"{path} {action.dest}: unvalidated"


def test_the_top_level_description_is_written_for_users() -> None:
    parser = build_parser()
    assert parser.description and "``" not in parser.description and "console script" not in parser.description
    assert "GitHub issues" in parser.description


@pytest.mark.parametrize(
    "argv",
    [
        ["discord-channel", "--stage", "bogus", "--dry-run"],
        ["listen", "--idle-timeout", "nan"],
        ["listen", "--idle-timeout", "inf"],
        ["listen", "--max", "-1"],
        ["step", "plan", "--timeout", "0"],
        ["discord-channel", "--stage", "review", "--interval", "-1"],
        ["serve", "ingest-webhook", "--port", "70000"],
    ],
)
def test_wrong_values_are_refused_by_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err


# --- configuration errors of the verbs ----------------------------------------------------------


def run_cli(
    *argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_")}
    return subprocess.run(
        [CLI, *argv], capture_output=True, text=True, env=base | (env or {}), cwd=cwd, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("argv", "env", "setting"),
    [
        (["migrate", "--status"], {"CODEX_DATABASE_URL": "mysql://root:pw@db/x"}, "CODEX_DATABASE_URL"),
        (["migrate", "--status"], {"CODEX_DATABASE_TIMEOUT_SECONDS": "inf"}, "CODEX_DATABASE_TIMEOUT_SECONDS"),
        (["migrate", "--status"], {"CODEX_CONFIG_FILE": "/nonexistent/codex.yaml"}, "CODEX_CONFIG_FILE"),
        # The steps and the other verbs read the same table: a wrong value stops them alike.
        (
            ["step", "plan", "--dry-run", "--workflow-name", "w"],
            {"CODEX_TIMEOUT_SECONDS": "soon"},
            "CODEX_TIMEOUT_SECONDS",
        ),
        (["step", "implement", "--dry-run", "--workflow-name", "w"], {"CODEX_SEARCH": "maybe"}, "CODEX_SEARCH"),
        (["transcripts", "wf-1"], {"CODEX_CONFIG_FILE": "/nonexistent/codex.yaml"}, "CODEX_CONFIG_FILE"),
        (
            ["replay", "examples/issues.opened.json", "--url", "http://127.0.0.1:9/"],
            {"CODEX_WEBHOOK_SECRET_FILE": "/nonexistent/secret"},
            "CODEX_WEBHOOK_SECRET_FILE",
        ),
        (
            ["progress-comment", "--repo", "a/b", "--issue", "1", "--dry-run"],
            {"CODEX_EXTRA_ARGS": "'unclosed"},
            "CODEX_EXTRA_ARGS",
        ),
    ],
)
def test_a_verbs_configuration_error_is_one_line_and_status_2(
    argv: list[str], env: dict[str, str], setting: str
) -> None:
    done = run_cli(*argv, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"codex-pipeline {argv[0]}: configuration error: {setting}")
    assert "pw@" not in line
    if not setting.endswith(("_FILE", "CONFIG_FILE")):
        assert "; set it to " in line  # the fix


# --- lint -----------------------------------------------------------------------------------------


def test_lint_refuses_a_folder_with_nothing_to_check(tmp_path: Path) -> None:
    done = run_cli("lint", cwd=tmp_path)
    assert done.returncode == 2 and "nothing to check" in done.stderr
    missing = run_cli("lint", "--root", str(tmp_path / "nonexistent"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert "0 problem(s)" not in done.stdout + missing.stdout


# --- serve ----------------------------------------------------------------------------------------


def test_serve_runs_with_its_own_interpreter_without_the_venv_on_path(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEX_", "VIRTUAL_ENV"))}
    env |= {"PATH": "/usr/bin:/bin", "CODEX_WEBHOOK_SECRET": "s", "K_SINK": "http://127.0.0.1:9"}
    process = subprocess.Popen(
        [CLI, "serve", "ingest-webhook", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        import requests

        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["reason"] == "sink configured"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


# --- listen ---------------------------------------------------------------------------------------


def has_socket(pid: int) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir())
    except OSError:
        return False


def test_ctrl_c_stops_listen_quietly_and_dev_prints_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    eventing = tmp_path / "eventing"
    shutil.copytree(ROOT / "eventing", eventing)
    log = EventLog(tmp_path / "events.db")
    router = Router(load(eventing), log, View(io.StringIO()), {})
    port = router.start(free_port())
    try:
        listening = []
        for _ in range(3):
            listening.append(
                subprocess.Popen(
                    [CLI, "listen", "--router", f"http://127.0.0.1:{port}"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for process in listening:  # Ctrl-C once each has a connection to the router open
            deadline = time.monotonic() + 60
            while not has_socket(process.pid):
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        time.sleep(0.5)  # from its first request into the long poll
        for process in listening:
            process.send_signal(signal.SIGINT)
        for process in listening:
            out, err = process.communicate(timeout=30)
            assert (process.returncode, err, out) == (0, "", "")
        time.sleep(6.0)  # the router answers the abandoned long polls (5 s) into closed sockets
    finally:
        router.stop()
        log.close()
    assert "Traceback" not in capfd.readouterr().err


def test_listen_to_a_dead_broker_says_so_and_fails() -> None:
    pytest.importorskip("confluent_kafka")
    started = time.monotonic()
    done = run_cli("listen", "--bootstrap", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("listen: no Kafka broker answers at 127.0.0.1:") and "--bootstrap" in line
    assert time.monotonic() - started < 30


# --- the step branch of the error tree -------------------------------------------------------------


def test_a_steps_input_error_is_one_line_and_status_2() -> None:
    done = run_cli(
        "step", "plan", "--workflow-name", "w", "--workdir", "/nonexistent/w", env={"PAYLOAD": "{not json\n"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("codex-pipeline step plan: task is not valid JSON")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("StepInputError", 2),
        ("StepFailed", 1),
        ("GitError", 1),
        ("ConfigurationError", 2),
        ("BadRequest", 2),
        ("Unavailable", 1),
        ("DiscordError", 1),
    ],
)
def test_every_error_a_step_meets_is_in_the_tree_with_one_exit_status(name: str, status: int) -> None:
    from codex_pipeline import errors
    from codex_pipeline.cli.step import exit_status

    error = getattr(errors, name)("git push failed:\n  remote: denied")
    assert isinstance(error, errors.CodexPipelineError)
    assert exit_status(error) == status
    assert "\n" not in str(error) or isinstance(error, errors.PipelineError)
