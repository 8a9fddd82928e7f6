"""The demo Codex: a scripted stand-in for the ``codex`` CLI, shipped for laptop runs of ``dev``.

``codex-pipeline dev`` runs the workflows on this machine; without a ``codex`` executable and an
API key it gives the steps this program instead (as ``CODEX_BIN``), so the whole loop runs with
no key and no network. It is clearly not Codex: every answer says it comes from the demo.

It speaks the CLI's interface the steps use (``codex exec --json [options] -``: the prompt on
stdin, JSONL events on stdout, as :mod:`codex_pipeline.steps.codex` reads them) and tells the
three prompts apart by their first line:

- planning: answers with a plan in the spec's sections (``PLAN_SECTIONS``), changes nothing;
- implementation: reports a to-do list, writes one small file under ``demo/`` and answers with
  a summary (the step commits, pushes and opens the draft PR);
- review: appends a line to that file (the "fix" for the failing checks it was shown) and
  answers with a summary.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from codex_pipeline.core.prompts import PLAN_SECTIONS

NAME = "demo Codex (scripted, no model)"
THREAD = "00000000-demo-4000-8000-codexpipeline"
CHANGE_FILE = "demo/CODEX_DEMO.md"
PAUSE = 0.3  # seconds between the implementation's steps, so its progress comment is seen to move


def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def stage_of(prompt: str) -> str:
    first = prompt.lstrip().splitlines()[0] if prompt.strip() else ""
    match = re.match(r"You are the (planning|implementation|review) step", first)
    return match.group(1) if match else "unknown"


def issue_of(prompt: str) -> str:
    match = re.search(r"^(?:Issue|Pull request): #(\d+)", prompt, re.MULTILINE)
    return match.group(1) if match else "?"


def plan_text(prompt: str) -> str:
    issue = issue_of(prompt)
    bodies = {
        "Objective": f"Make the change that issue #{issue} asks for (a demo plan: no model read the issue).",
        "Context & Constraints": "Written by the scripted demo Codex of `codex-pipeline dev`; the repository is "
        "the seeded local remote.",
        "Task Breakdown": "1. Add `demo/CODEX_DEMO.md` describing the change\n2. Run the project's checks",
        "Deliverables": "- A draft pull request from the `codex/issue-…` branch",
        "Validation & Observability": "- `python -m pytest -q`",
        "Risks & Contingencies": "- None: the demo only adds a file.",
        "Communication & Handoff": "- Progress on the issue's `codex:progress` comment; handoff when ready.",
        "Ready Checklist": "- [ ] Checks green\n- [ ] Review threads resolved",
    }
    return "\n".join(f"## {section}\n\n{bodies.get(section, '-')}\n" for section in PLAN_SECTIONS)


def _command(item_id: str, command: str, output: str) -> None:
    _emit(
        {
            "type": "item.started",
            "item": {
                "id": item_id,
                "type": "command_execution",
                "command": command,
                "aggregated_output": "",
                "exit_code": None,
                "status": "in_progress",
            },
        }
    )
    _emit(
        {
            "type": "item.completed",
            "item": {
                "id": item_id,
                "type": "command_execution",
                "command": command,
                "aggregated_output": output,
                "exit_code": 0,
                "status": "completed",
            },
        }
    )


def _todo(items: list[tuple[str, bool]], kind: str) -> None:
    _emit(
        {
            "type": kind,
            "item": {
                "id": "item_todo",
                "type": "todo_list",
                "items": [{"text": text, "completed": done} for text, done in items],
            },
        }
    )


def _change(path: Path, line: str) -> None:
    kind = "update" if path.exists() else "add"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else "# Codex demo change\n\n"
    path.write_text(existing + line + "\n")
    _emit(
        {
            "type": "item.completed",
            "item": {
                "id": "item_change",
                "type": "file_change",
                "changes": [{"path": str(path), "kind": kind}],
                "status": "completed",
            },
        }
    )


def answer(prompt: str, workdir: Path) -> str:
    """Emit the events of one run for ``prompt`` in ``workdir``; return the final message."""
    stage = stage_of(prompt)
    issue = issue_of(prompt)
    _emit(
        {
            "type": "item.completed",
            "item": {
                "id": "item_0",
                "type": "reasoning",
                "text": f"**{NAME}**\n\nScripted {stage} answer; no model runs.",
            },
        }
    )
    listing = "\n".join(sorted(p.name for p in workdir.iterdir() if not p.name.startswith(".")))
    _command("item_1", "bash -lc ls", listing + "\n")
    if stage == "planning":
        return plan_text(prompt) + f"\n_Written by the {NAME}._\n"
    if stage == "implementation":
        # One plan item after the other, as Codex works: the progress comment follows each step.
        steps = [("Add demo/CODEX_DEMO.md", False), ("Run the project's checks", False)]
        _todo(steps, "item.started")
        time.sleep(PAUSE)
        _change(workdir / CHANGE_FILE, f"- Issue #{issue}: implemented by the {NAME}.")
        time.sleep(PAUSE)
        _todo([(steps[0][0], True), steps[1]], "item.updated")
        time.sleep(PAUSE)
        _command("item_2", "bash -lc 'python -m pytest -q'", "1 passed in 0.01s\n")
        time.sleep(PAUSE)
        _todo([(text, True) for text, _ in steps], "item.completed")
        return f"Added `{CHANGE_FILE}` for issue #{issue} and ran the checks (1 passed).\n\n_Written by the {NAME}._"
    if stage == "review":
        _todo([("Address the failing checks and threads", False)], "item.started")
        _change(workdir / CHANGE_FILE, f"- Pull request #{issue}: review pass by the {NAME}.")
        _command("item_2", "bash -lc 'python -m pytest -q'", "1 passed in 0.01s\n")
        _todo([("Address the failing checks and threads", True)], "item.completed")
        return f"Worked the review feedback on #{issue} in `{CHANGE_FILE}`; checks pass.\n\n_Written by the {NAME}._"
    return f"The {NAME} does not know this prompt; it changed nothing."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["exec"] or "--json" not in args:
        sys.stderr.write(f"{NAME}: only `codex exec --json [options] -` is supported\n")
        return 64
    prompt = sys.stdin.read() if args[-1] == "-" else args[-1]
    _emit({"type": "thread.started", "thread_id": THREAD})
    _emit({"type": "turn.started"})
    message = answer(prompt, Path.cwd())
    _emit({"type": "item.completed", "item": {"id": "item_final", "type": "agent_message", "text": message}})
    _emit(
        {
            "type": "turn.completed",
            "usage": {"input_tokens": len(prompt) // 4, "cached_input_tokens": 0, "output_tokens": len(message) // 4},
        }
    )
    return 0


def install(folder: Path) -> Path:
    """An executable ``codex-demo`` in ``folder`` that runs this module with this Python (CODEX_BIN)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "codex-demo"
    path.write_text(
        f"#!{sys.executable}\n# {NAME}, written by codex-pipeline dev\n"
        "from codex_pipeline.dev.demo_codex import main\nraise SystemExit(main())\n"
    )
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
