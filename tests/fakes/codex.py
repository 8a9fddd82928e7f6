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
- ``FAKE_CODEX_MODE``: ``ok`` (default), ``fail`` (turn.failed + exit 1), ``hang`` (sleeps),
  ``silent`` (no agent message), ``crash`` (garbage then exit 2)
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
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning",
                                              "text": "**Reading the task**\n\nLooking at the repository layout."}})
    emit({"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                            "aggregated_output": "", "exit_code": None, "status": "in_progress"}})
    listing = "\n".join(sorted(p.name for p in Path.cwd().iterdir() if not p.name.startswith(".")))
    if os.environ.get("FAKE_CODEX_PRINT"):  # a command whose output carries some text (e.g. a leaked secret)
        listing += "\n" + os.environ["FAKE_CODEX_PRINT"]
    emit({"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                              "aggregated_output": listing + "\n", "exit_code": 0,
                                              "status": "completed"}})
    todo = [{"text": "Read the plan", "completed": True}, {"text": "Edit the code", "completed": False}]
    emit({"type": "item.started", "item": {"id": "item_9", "type": "todo_list", "items": todo}})
    if mode == "hang":
        time.sleep(600)
        return 0
    if mode == "crash":
        sys.stdout.write("thread 'main' panicked at codex-rs/exec/src/lib.rs\n")
        return 2
    if mode == "fail":
        emit({"type": "turn.failed", "error": {"message": "stream disconnected before completion: 503"}})
        return 1
    edits = json.loads(os.environ.get("FAKE_CODEX_EDITS", "{}"))
    changes = []
    for name, content in edits.items():
        path = Path.cwd() / name
        kind = "update" if path.exists() else "add"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        changes.append({"path": str(path), "kind": kind})
    if changes:
        emit({"type": "item.completed", "item": {"id": "item_2", "type": "file_change", "changes": changes,
                                                  "status": "completed"}})
        emit({"type": "item.completed", "item": {"id": "item_3", "type": "command_execution",
                                                  "command": "bash -lc 'python -m pytest -q'",
                                                  "aggregated_output": "3 passed in 0.12s\n", "exit_code": 0,
                                                  "status": "completed"}})
    if os.environ.get("FAKE_CODEX_COMMIT"):  # Codex in yolo mode sometimes commits by itself
        import subprocess

        subprocess.run(["git", "add", "--all"], check=True)
        subprocess.run(["git", "-c", "user.name=codex", "-c", "user.email=codex@example.test", "commit", "-q", "-m",
                        os.environ["FAKE_CODEX_COMMIT"]], check=True)
    emit({"type": "item.completed", "item": {"id": "item_9", "type": "todo_list",
                                              "items": [{**entry, "completed": True} for entry in todo]}})
    if mode != "silent":
        message_file = os.environ.get("FAKE_CODEX_MESSAGE_FILE")
        message = Path(message_file).read_text() if message_file else "Done: made the requested change."
        emit({"type": "item.completed", "item": {"id": "item_4", "type": "agent_message", "text": message}})
    emit({"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                                              "output_tokens": 122}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
