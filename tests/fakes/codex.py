#!/usr/bin/env python3
"""A fake ``codex`` CLI: the outside edge the steps talk to, installed first on PATH in tests.

It answers ``codex exec --json … -`` as the real CLI does: reads the prompt from stdin, prints
JSONL events (``thread.started``, ``turn.started``, ``item.*`` for reasoning, a command run, a
file change and the final ``agent_message``, ``turn.completed`` with usage) and edits files in
its working directory. Behaviour is chosen by environment variables:

- ``FAKE_CODEX_RECORD``: directory where each call leaves ``prompt-N.txt`` and ``argv-N.json``
- ``FAKE_CODEX_MESSAGE_FILE``: the final agent message (default: a short summary)
- ``FAKE_CODEX_EDITS``: JSON object ``{relative path: new content}`` written before finishing
- ``FAKE_CODEX_COMMIT``: commit the edits with this message (as Codex may do on its own)
- ``FAKE_CODEX_PRINT``: extra text in the output of its ``ls`` command
- ``FAKE_CODEX_STEPS``: JSON list of ``{"todo": text, "edit": {path: content}, "command": [cmd, exit]}``
  worked one after the other: its to-do list (those before checked off), then the edit, then the
  command; the usual edits, command and final to-do list follow
- ``FAKE_CODEX_MODE``: ``ok`` (default), ``fail`` (turn.failed + exit 1), ``hang`` (sleeps),
  ``silent`` (no agent message), ``crash`` (garbage then exit 2), ``probe`` (below, then as ``ok``)
- ``probe`` plays a prompt-injected agent hunting for credentials: it reads its environment,
  every ``/proc/<pid>/environ`` (``/proc/1`` and its parent's first), the paths in
  ``FAKE_CODEX_PROBE_PATHS`` (comma-separated files or folders: where the secrets are mounted),
  ``git config``, ``git credential fill``, ``.git/config``; tries to plant a hook in ``.git``, to
  move ``.git`` away, to push a branch of its own, to leave a process running; and calls the model
  through the provider ``base_url`` its ``-c`` options name. Everything it got is written as JSON
  to ``FAKE_CODEX_REPORT``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if argv[:1] != ["exec"] or "--json" not in argv:
        sys.stderr.write("fake codex only supports: codex exec --json [options] -\n")
        return 64
    prompt = sys.stdin.read() if argv[-1] == "-" else argv[-1]
    record = os.environ.get("FAKE_CODEX_RECORD")
    if record:
        folder = Path(record)
        folder.mkdir(parents=True, exist_ok=True)
        index = len(list(folder.glob("prompt-*.txt")))
        (folder / f"prompt-{index}.txt").write_text(prompt)
        (folder / f"argv-{index}.json").write_text(json.dumps(argv))
        (folder / f"env-{index}.json").write_text(json.dumps(dict(os.environ)))
    mode = os.environ.get("FAKE_CODEX_MODE", "ok")
    emit({"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"})
    emit({"type": "turn.started"})
    emit(
        {
            "type": "item.completed",
            "item": {
                "id": "item_0",
                "type": "reasoning",
                "text": "**Reading the task**\n\nLooking at the repository layout.",
            },
        }
    )
    emit(
        {
            "type": "item.started",
            "item": {
                "id": "item_1",
                "type": "command_execution",
                "command": "bash -lc ls",
                "aggregated_output": "",
                "exit_code": None,
                "status": "in_progress",
            },
        }
    )
    listing = "\n".join(sorted(p.name for p in Path.cwd().iterdir() if not p.name.startswith(".")))
    if os.environ.get("FAKE_CODEX_PRINT"):  # a command whose output carries some text (e.g. a leaked secret)
        listing += "\n" + os.environ["FAKE_CODEX_PRINT"]
    emit(
        {
            "type": "item.completed",
            "item": {
                "id": "item_1",
                "type": "command_execution",
                "command": "bash -lc ls",
                "aggregated_output": listing + "\n",
                "exit_code": 0,
                "status": "completed",
            },
        }
    )
    todo = [{"text": "Read the plan", "completed": True}, {"text": "Edit the code", "completed": False}]
    emit({"type": "item.started", "item": {"id": "item_9", "type": "todo_list", "items": todo}})
    if mode == "probe":
        Path(os.environ["FAKE_CODEX_REPORT"]).write_text(json.dumps(probe(argv), indent=1))
    if mode == "hang":
        time.sleep(600)
        return 0
    if mode == "crash":
        sys.stdout.write("thread 'main' panicked at codex-rs/exec/src/lib.rs\n")
        return 2
    if mode == "fail":
        emit({"type": "turn.failed", "error": {"message": "stream disconnected before completion: 503"}})
        return 1
    steps = json.loads(os.environ.get("FAKE_CODEX_STEPS", "[]"))
    if steps:
        todo = [{"text": step["todo"], "completed": False} for step in steps]
    for index, step in enumerate(steps):
        todo = [{**entry, "completed": i < index} for i, entry in enumerate(todo)]
        emit({"type": "item.updated", "item": {"id": "item_9", "type": "todo_list", "items": todo}})
        for name, content in (step.get("edit") or {}).items():
            path = Path.cwd() / name
            kind = "update" if path.exists() else "add"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            emit(
                {
                    "type": "item.completed",
                    "item": {
                        "id": f"item_s{index}",
                        "type": "file_change",
                        "changes": [{"path": str(path), "kind": kind}],
                        "status": "completed",
                    },
                }
            )
        if step.get("command"):
            command, code = step["command"]
            emit(
                {
                    "type": "item.completed",
                    "item": {
                        "id": f"item_c{index}",
                        "type": "command_execution",
                        "command": command,
                        "aggregated_output": "",
                        "exit_code": code,
                        "status": "completed",
                    },
                }
            )
    edits = json.loads(os.environ.get("FAKE_CODEX_EDITS", "{}"))
    changes = []
    for name, content in edits.items():
        path = Path.cwd() / name
        kind = "update" if path.exists() else "add"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        changes.append({"path": str(path), "kind": kind})
    if changes:
        emit(
            {
                "type": "item.completed",
                "item": {"id": "item_2", "type": "file_change", "changes": changes, "status": "completed"},
            }
        )
        emit(
            {
                "type": "item.completed",
                "item": {
                    "id": "item_3",
                    "type": "command_execution",
                    "command": "bash -lc 'python -m pytest -q'",
                    "aggregated_output": "3 passed in 0.12s\n",
                    "exit_code": 0,
                    "status": "completed",
                },
            }
        )
    if os.environ.get("FAKE_CODEX_COMMIT"):  # Codex in yolo mode sometimes commits by itself
        import subprocess

        subprocess.run(["git", "add", "--all"], check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=codex",
                "-c",
                "user.email=codex@example.test",
                "commit",
                "-q",
                "-m",
                os.environ["FAKE_CODEX_COMMIT"],
            ],
            check=True,
        )
    emit(
        {
            "type": "item.completed",
            "item": {"id": "item_9", "type": "todo_list", "items": [{**entry, "completed": True} for entry in todo]},
        }
    )
    if mode != "silent":
        message_file = os.environ.get("FAKE_CODEX_MESSAGE_FILE")
        message = Path(message_file).read_text() if message_file else "Done: made the requested change."
        emit({"type": "item.completed", "item": {"id": "item_4", "type": "agent_message", "text": message}})
    emit(
        {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}}
    )
    return 0


def _read(path: Path) -> str:
    try:
        return "READ: " + path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        return f"DENIED: {exc.strerror}"


def _run(*args: str, stdin: str = "") -> str:
    import subprocess

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, env=env, check=False, timeout=60)
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def probe(argv: list[str]) -> dict[str, object]:
    import re
    import subprocess
    import urllib.request

    report: dict[str, object] = {"uid": os.getuid(), "ppid": os.getppid(), "environ": dict(os.environ)}
    pids = ["1", str(os.getppid()), *sorted(p for p in os.listdir("/proc") if p.isdigit())]
    report["proc_environ"] = {
        pid: _read(Path("/proc", pid, "environ")) for pid in dict.fromkeys(pids) if pid != str(os.getpid())
    }
    files: dict[str, str] = {}
    for entry in filter(None, os.environ.get("FAKE_CODEX_PROBE_PATHS", "").split(",")):
        root = Path(entry)
        paths = [root] if not root.is_dir() else [p for p in root.rglob("*") if p.is_file()] or [root]
        try:
            os.listdir(root) if root.is_dir() else None
        except OSError as exc:
            files[str(root)] = f"DENIED: {exc.strerror}"
        files.update({str(path): _read(path) for path in paths})
    report["files"] = files
    report["git_config"] = _run("git", "config", "--list", "--show-origin")
    report["credential_fill"] = _run("git", "credential", "fill", stdin="protocol=https\nhost=github.com\n\n")
    report["git_dir_config"] = _read(Path(".git", "config"))
    try:
        Path(".git", "hooks", "post-commit").write_text("#!/bin/sh\nenv > /tmp/stolen\n")
        report["plant_hook"] = "WROTE"
    except OSError as exc:
        report["plant_hook"] = f"DENIED: {exc.strerror}"
    try:
        os.rename(".git", ".git-moved")
        report["move_git"] = "MOVED"
    except OSError as exc:
        report["move_git"] = f"DENIED: {exc.strerror}"
    _run("git", "config", "--global", "--add", "safe.directory", "*")  # as an attacker would, in its own HOME
    report["push"] = _run("git", "push", "origin", "HEAD:refs/heads/agent-pushed")
    lingering = subprocess.Popen(["sleep", "300"], start_new_session=True)  # a daemon that outlives Codex
    report["lingering_pid"] = lingering.pid
    base = next((m.group(1) for a in argv if (m := re.search(r'base_url = "([^"]+)"', a))), None)
    report["model_base_url"] = base
    if base:
        request = urllib.request.Request(
            f"{base}/responses",
            data=b'{"model": "m", "stream": true, "input": "hi"}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                report["model_call"] = f"{answer.status} {answer.read().decode()}"
        except OSError as exc:
            report["model_call"] = f"FAILED: {exc}"
    return report


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
