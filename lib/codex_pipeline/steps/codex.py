"""Run the Codex CLI (``codex exec --json``) and read its JSONL event stream.

The prompt goes in on stdin (never in argv: it carries untrusted issue text, and argv is
visible to every process on the node). Each stdout line is one event; we keep the final
``agent_message`` item as the answer, the commands Codex ran (for the validation notes of the
progress comment) and a readable transcript. Lines that are not JSON (older CLIs, warnings)
go to the transcript as they are. A run that exceeds its timeout is killed and reported as a
failure, never left hanging in the pod.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from codex_pipeline.shell import metrics, spans
from codex_pipeline.shell.config import Settings

if TYPE_CHECKING:
    from codex_pipeline.steps.agent import AgentUser

OUTPUT_GRACE = 10.0  # seconds to drain Codex's output after it exited
SPAN_CODEX = "step.codex"

Tee = Callable[[str], None]
# Called with Codex's own to-do list ((text, done) pairs) whenever it changes.
TodoSink = Callable[[list[tuple[str, bool]]], None]
# Called with what just happened ("todo", "file", "command") and the result so far, so the progress
# comment can follow Codex's to-do list, its file edits and its commands while it works.
ProgressSink = Callable[[str, "CodexResult"], None]


@dataclass(frozen=True)
class CodexOptions:
    """How to call the CLI; the template parameters end up here (spec: model, reasoning, search, yolo)."""

    # The settings table's defaults (CODEX_BIN, CODEX_MODEL, ...), declared there once.
    binary: str = Settings.codex_bin
    model: str | None = Settings.codex_model
    reasoning: str | None = Settings.codex_reasoning
    search: bool = Settings.codex_search
    yolo: bool = Settings.codex_yolo
    extra_args: tuple[str, ...] = Settings.codex_extra_args
    timeout: float | None = Settings.codex_timeout

    def argv(self) -> list[str]:
        args = [self.binary, "exec", "--json"]
        if self.model:
            args += ["--model", self.model]
        if self.reasoning:
            args += ["-c", f"model_reasoning_effort={json.dumps(self.reasoning)}"]
        if self.search:
            args += ["-c", "tools.web_search=true"]
        if self.yolo:
            args.append("--dangerously-bypass-approvals-and-sandbox")
        args += list(self.extra_args)
        args.append("-")  # read the prompt from stdin
        return args

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CodexOptions:
        """Defaults from the settings ``CODEX_BIN``, ``CODEX_MODEL``, ``CODEX_REASONING``, ``CODEX_SEARCH``,
        ``CODEX_YOLO``, ``CODEX_EXTRA_ARGS`` and ``CODEX_TIMEOUT_SECONDS``; explicit values win."""
        from codex_pipeline.shell.config import load_settings

        settings = load_settings(environ)
        values: dict[str, Any] = {
            "binary": settings.codex_bin,
            "model": settings.codex_model,
            "reasoning": settings.codex_reasoning,
            "search": settings.codex_search,
            "yolo": settings.codex_yolo,
            "extra_args": settings.codex_extra_args,
            "timeout": settings.codex_timeout,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


@dataclass(frozen=True)
class CommandRun:
    command: str
    exit_code: int | None


@dataclass
class CodexResult:
    exit_code: int
    final_message: str = ""
    thread_id: str | None = None
    commands: list[CommandRun] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    todo: list[tuple[str, bool]] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.errors and bool(self.final_message)

    def failure_reason(self) -> str:
        if self.timed_out:
            return "Codex did not finish before the step's timeout and was stopped"
        if self.errors:
            return self.errors[-1]
        if self.exit_code != 0:
            return f"Codex exited with status {self.exit_code}"
        if not self.final_message:
            return "Codex finished without a final message"
        return ""


class EventReader:
    """Folds JSONL events into a :class:`CodexResult` and renders each one as transcript lines."""

    def __init__(self, on_todo: TodoSink | None = None, on_progress: ProgressSink | None = None) -> None:
        self.result = CodexResult(exit_code=0)
        self.on_todo = on_todo
        self.on_progress = on_progress

    def _progressed(self, kind: str) -> None:
        if self.on_progress is not None:
            self.on_progress(kind, self.result)

    def feed(self, line: str) -> list[str]:
        text = line.rstrip("\n")
        if not text.strip():
            return []
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            return [text]
        if not isinstance(event, dict):
            return [text]
        return self._event(event)

    def _event(self, event: dict[str, Any]) -> list[str]:
        kind = str(event.get("type", ""))
        result = self.result
        if kind == "thread.started":
            result.thread_id = str(event.get("thread_id") or "") or None
            return [f"[codex] thread {result.thread_id}"]
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            result.usage = {k: int(v) for k, v in usage.items() if isinstance(v, int)}
            return [f"[codex] turn completed ({_usage_text(result.usage)})"]
        if kind == "turn.failed":
            message = str((event.get("error") or {}).get("message") or "turn failed")
            result.errors.append(message)
            return [f"[codex] turn failed: {message}"]
        if kind == "error":
            message = str(event.get("message") or "error")
            result.errors.append(message)
            return [f"[codex] error: {message}"]
        if kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            if isinstance(item, dict):
                return self._item(kind, item)
        return []

    def _item(self, kind: str, item: dict[str, Any]) -> list[str]:
        item_type = item.get("type")
        result = self.result
        if item_type == "command_execution":
            command = str(item.get("command", ""))
            if kind == "item.started":
                return [f"$ {command}"]
            if kind == "item.completed":
                code = item.get("exit_code")
                result.commands.append(CommandRun(command, code if isinstance(code, int) else None))
                self._progressed("command")
                output = str(item.get("aggregated_output") or "").rstrip("\n")
                lines = output.splitlines()[-40:] if output else []
                return [*lines, f"[exit {code}] {command}"]
            return []
        if item_type == "todo_list":
            todo = [
                (str(entry.get("text", "")), bool(entry.get("completed")))
                for entry in item.get("items") or []
                if isinstance(entry, dict)
            ]
            if todo == result.todo:
                return []
            result.todo = todo
            if self.on_todo is not None:
                self.on_todo(list(todo))
            self._progressed("todo")
            return [f"[{'x' if done else ' '}] {text}" for text, done in todo]
        if kind != "item.completed":
            return []
        if item_type == "agent_message":
            result.final_message = str(item.get("text") or "")
            return ["[agent]", *result.final_message.splitlines()]
        if item_type == "reasoning":
            return [f"[thinking] {line}" for line in str(item.get("text") or "").splitlines()]
        if item_type == "file_change":
            lines = []
            for change in item.get("changes") or []:
                if isinstance(change, dict) and change.get("path"):
                    path = str(change["path"])
                    if path not in result.changed_files:
                        result.changed_files.append(path)
                    lines.append(f"[{change.get('kind', 'update')}] {path}")
            self._progressed("file")
            return lines
        if item_type == "error":
            return [f"[codex] warning: {item.get('message', '')}"]
        return []


def _usage_text(usage: Mapping[str, int]) -> str:
    return ", ".join(f"{key}={value}" for key, value in usage.items()) or "no usage reported"


def run_codex(
    prompt: str,
    workdir: Path,
    options: CodexOptions,
    *,
    transcript: IO[str] | None = None,
    tee: Sequence[Tee] = (),
    env: Mapping[str, str] | None = None,
    on_todo: TodoSink | None = None,
    user: AgentUser | None = None,
    stop_leftovers: Callable[[], None] | None = None,
    on_progress: ProgressSink | None = None,
) -> CodexResult:
    """Run Codex once in ``workdir``; every transcript line goes to ``transcript`` and each ``tee``.

    With ``user``, Codex runs as that uid/gid with no supplementary groups (the step must be root).
    When Codex exits, its process group is killed and ``stop_leftovers`` runs (it kills the agent
    user's other processes), so nothing it started outlives it.

    Never raises for a Codex failure (missing binary, non-zero exit, timeout): the result says
    what went wrong, so the caller can write a failure recap before exiting non-zero.
    """
    with spans.span(SPAN_CODEX, attributes={"codex.model": options.model or ""}) as span:
        started = time.monotonic()
        result = _run_codex(
            prompt,
            workdir,
            options,
            transcript=transcript,
            tee=tee,
            env=env,
            on_todo=on_todo,
            user=user,
            stop_leftovers=stop_leftovers,
            on_progress=on_progress,
        )
        outcome = (
            "timeout"
            if result.timed_out
            else "not-started"
            if result.exit_code == 127 and not result.final_message
            else "ok"
            if result.ok
            else "failed"
        )
        span.set_attributes({"codex.result": outcome, "process.exit.code": result.exit_code})
        metrics.agent_ran(time.monotonic() - started, result=outcome)
    return result


def _run_codex(
    prompt: str,
    workdir: Path,
    options: CodexOptions,
    *,
    transcript: IO[str] | None,
    tee: Sequence[Tee],
    env: Mapping[str, str] | None,
    on_todo: TodoSink | None,
    user: AgentUser | None,
    stop_leftovers: Callable[[], None] | None,
    on_progress: ProgressSink | None = None,
) -> CodexResult:
    reader = EventReader(on_todo, on_progress)

    def emit(line: str) -> None:
        if transcript is not None:
            transcript.write(line + "\n")
            transcript.flush()
        for sink in tee:
            sink(line)

    argv = options.argv()
    emit(f"[codex] {shlex.join(argv)} (prompt: {len(prompt)} characters on stdin)")
    identity: dict[str, Any] = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    try:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(os.environ if env is None else env),
            start_new_session=True,
            umask=0o022,
            **identity,
        )
    except OSError as exc:
        message = f"cannot start {options.binary!r}: {exc.strerror or exc}"
        emit(f"[codex] {message}")
        return CodexResult(exit_code=127, errors=[message])

    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        _kill_group(process)

    timer = threading.Timer(options.timeout, stop) if options.timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    started = time.monotonic()

    def read_output(stream: IO[str]) -> None:
        for line in stream:
            for shown in reader.feed(line):
                emit(shown)

    assert process.stdin is not None and process.stdout is not None
    writer = threading.Thread(target=_write_stdin, args=(process.stdin, prompt), daemon=True)
    output = threading.Thread(target=read_output, args=(process.stdout,), name="codex-output", daemon=True)
    writer.start()
    output.start()
    try:
        process.wait()
    finally:
        if timer:
            timer.cancel()
        # Whatever Codex started and left running goes with it: it could hold the output pipe open
        # (the step would wait forever) or keep changing the tree while the step commits.
        _kill_group(process)
        if stop_leftovers is not None:
            stop_leftovers()
    writer.join(timeout=1)
    output.join(timeout=OUTPUT_GRACE)
    if output.is_alive():
        emit("[codex] a process Codex started outside its group still holds its output; not waiting for it")
    result = reader.result
    result.exit_code = process.returncode
    result.timed_out = timed_out.is_set()
    emit(
        f"[codex] exit {result.exit_code} after {time.monotonic() - started:.1f}s"
        + (" (timed out)" if result.timed_out else "")
    )
    return result


def _write_stdin(stream: IO[str], prompt: str) -> None:
    try:
        stream.write(prompt)
        stream.close()
    except (BrokenPipeError, OSError):
        pass  # Codex exited before reading everything; its exit status tells the story


def _kill_group(process: subprocess.Popen[str]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
