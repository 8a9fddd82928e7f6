"""The local executor of ``codex-pipeline dev``: each Workflow the dry-run submitter writes runs here.

Local tooling, not a workflow engine: it reads the Workflow's WorkflowTemplate from
``workflows/`` (:mod:`codex_pipeline.dev.templates`) and does what its pod would do, as
subprocesses on this machine, in ``<state>/runs/<workflow>/``:

- the entrypoint (a container template, or ``steps``/``dag`` of them, run one after the other),
  then the exit handler (``spec.onExit``) with ``workflow.status`` and ``workflow.failures``;
- a container's ``command`` + ``args`` with its ``env`` (``value``, and ``valueFrom.secretKeyRef``
  from dev's own settings), its ``workingDir``, input parameters, ``raw`` input artifacts written
  to their path, and its volumes: each ``volumeMount`` is a folder of the run (``emptyDir``
  per step; ``secret`` volumes hold the keys dev knows, mode 0600), and paths under a mount
  path are mapped into that folder wherever they appear (env values, arguments, artifacts);
- ``activeDeadlineSeconds`` (workflow and template) as timeouts, ``retryStrategy`` (limit,
  ``retryPolicy`` OnFailure by default, Always, OnError) as retries;
- output artifacts copied to ``<run>/artifacts/<name>`` (``optional`` ones may be missing);
- ``synchronization`` (``mutexes``/``mutex``, ``semaphores``/``semaphore``, workflow or
  template level; a semaphore's limit is its ConfigMap key in ``workflows/``, else 1): a run
  waits for its locks, so runs of one issue that a template serialises never overlap here either.

- ``spec.shutdown: Stop`` (what the functions write to supersede or cancel a run, as ``argo stop``
  does): the running step's process group is ended (SIGTERM, then SIGKILL), the steps left are
  skipped, the exit handler still runs (with the Workflow's annotations read again, so it sees
  ``codex.stop-reason``), and the run ends Failed with Argo's message "Stopped with strategy 'Stop'".

Each run's result is ``<run>/status.json`` (phase Succeeded, Failed or Error, as Argo names
them); a Workflow with a result is never run again, so a restarted ``dev`` does not repeat work.
Like Argo's controller, it also writes ``status`` (phase, message, times) into the Workflow's file
(under the dry-run submitter's lock), which is where the functions read a run's outcome
(``WorkflowSubmitter.state``: ``@<bot> retry``).
Workflows written before execution was first enabled in this state folder are left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codex_pipeline.dev.templates import (
    Resolved,
    TemplateError,
    annotation_variables,
    input_parameters,
    load_templates,
    resolve,
    semaphore_limits,
    substitute,
)
from codex_pipeline.dev.view import View
from codex_pipeline.effects.argo import ANNOTATION_STOP_REASON, DryRunSubmitter

EXIT_HANDLER_TIMEOUT = 600.0
STATUS = "status.json"
SINCE = ".since"
STOPPED = "Stopped with strategy 'Stop'"  # Argo's message for a Workflow stopped by spec.shutdown
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a stopped step (a pod's grace period, shortened)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Settings:
    """What dev gives every run: its own settings as env, secrets by name and key, commands."""

    env: dict[str, str]
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)  # image command -> local executable
    codex: str = "codex"  # how the live view names the Codex runs use (short)
    codex_why: str = ""  # why that one (the banner says it once)
    semaphore_limits: dict[str, int] = field(default_factory=dict)  # "<configmap>/<key>" -> limit


@dataclass
class Node:
    name: str
    template: str
    phase: str = "Pending"
    message: str = ""
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    attempts: int = 0
    log: str = ""


@dataclass
class Run:
    resolved: Resolved
    folder: Path
    deadline: float | None
    nodes: list[Node] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    namespace: str = ""
    name: str = ""
    stopped: bool = False  # spec.shutdown was seen: the steps left are skipped
    exiting: bool = False  # the exit handler runs: a stop no longer interrupts anything


class Locks:
    """Argo's synchronization, in one process: named mutexes and semaphores with holders."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.limits = dict(limits)
        self._cond = threading.Condition()
        self._held: dict[str, list[str]] = {}

    def _limit(self, key: str) -> int:
        if key.startswith("mutex/"):
            return 1
        return max(1, self.limits.get(key.split("/", 1)[1], 1))

    @contextlib.contextmanager
    def hold(self, keys: list[str], holder: str, on_wait: Callable[[str, list[str]], None]) -> Iterator[None]:
        keys = sorted(set(keys))
        with self._cond:
            told = False
            while any(len(self._held.get(k, [])) >= self._limit(k) for k in keys):
                if not told:
                    busy = next(k for k in keys if len(self._held.get(k, [])) >= self._limit(k))
                    on_wait(busy, list(self._held.get(busy, [])))
                    told = True
                self._cond.wait(0.5)
            for key in keys:
                self._held.setdefault(key, []).append(holder)
        try:
            yield
        finally:
            with self._cond:
                for key in keys:
                    self._held[key].remove(holder)
                self._cond.notify_all()


def sync_keys(synchronization: Any, variables: Mapping[str, str]) -> list[str]:
    """The lock names of a ``synchronization`` block (Argo 3.6+ lists and the older single forms)."""
    if not isinstance(synchronization, dict):
        return []
    keys: list[str] = []
    mutexes = list(synchronization.get("mutexes") or [])
    if isinstance(synchronization.get("mutex"), dict):
        mutexes.append(synchronization["mutex"])
    for mutex in mutexes:
        if isinstance(mutex, dict) and mutex.get("name"):
            namespace = mutex.get("namespace") or variables.get("workflow.namespace", "")
            keys.append(f"mutex/{namespace}/{substitute(str(mutex['name']), variables)}")
    semaphores = list(synchronization.get("semaphores") or [])
    if isinstance(synchronization.get("semaphore"), dict):
        semaphores.append(synchronization["semaphore"])
    for semaphore in semaphores:
        ref = semaphore.get("configMapKeyRef") if isinstance(semaphore, dict) else None
        if isinstance(ref, dict) and ref.get("name"):
            keys.append(f"semaphore/{substitute(str(ref['name']), variables)}/{ref.get('key', '')}")
    return keys


class Executor:
    def __init__(
        self, workflows: Path, templates: Path, runs: Path, settings: Settings, view: View, *, poll: float = 0.25
    ) -> None:
        self.workflows = workflows
        self.templates_dir = templates
        self.runs = runs
        self.settings = settings
        self.view = view
        self.poll = poll
        self.locks = Locks(settings.semaphore_limits)
        self.results: dict[str, str] = {}
        self._started: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._since = 0.0

    # ------------------------------------------------------------------ lifecycle

    def _since_mark(self) -> float:
        """When runs were first executed in this state folder (written on first use)."""
        self.runs.mkdir(parents=True, exist_ok=True)
        since = self.runs / SINCE
        if not since.is_file():
            since.write_text(_now() + "\n")
        return since.stat().st_mtime

    def start(self) -> None:
        self._since = self._since_mark()
        thread = threading.Thread(target=self._watch, name="executor", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for process in list(self._processes.values()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        for thread in self._threads:
            thread.join(timeout=10)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(not t.is_alive() for t in self._threads if t.name != "executor"):
                return True
            time.sleep(0.1)
        return False

    def _watch(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.scan()
            self._stop.wait(self.poll)

    def scan(self) -> list[str]:
        """Start a thread for each new Workflow file; the names started."""
        started = []
        if not self._since:
            self._since = self._since_mark()
        for path in sorted(self.workflows.glob("*/*.json")) if self.workflows.is_dir() else []:
            name = path.stem
            if name in self._started or path.name.startswith("."):
                continue
            self._started.add(name)
            if (self.runs / name / STATUS).is_file():
                continue  # ran before this dev started
            if path.stat().st_mtime < self._since:
                continue  # written before runs were executed in this state folder
            thread = threading.Thread(target=self._run_safely, args=(path,), name=f"run-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
            started.append(name)
        return started

    # ------------------------------------------------------------------ one workflow

    def _run_safely(self, path: Path) -> None:
        try:
            self.run(json.loads(path.read_text()))
        except Exception as exc:
            self.view.note(f"!! local run of {path.stem} failed to start: {exc}")

    def run(self, workflow: Mapping[str, Any]) -> str:
        """Run one Workflow to its end; its phase (Succeeded, Failed or Error)."""
        metadata = workflow.get("metadata") or {}
        name = str(metadata.get("name") or "")
        key = str((metadata.get("annotations") or {}).get("codex.delivery-id") or name)
        folder = self.runs / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "workflow.json").write_text(json.dumps(workflow, indent=2, sort_keys=True) + "\n")
        started, clock = _now(), time.monotonic()
        try:
            resolved = resolve(workflow, load_templates(self.templates_dir))
        except TemplateError as exc:
            return self._finish(folder, name, key, None, "Error", str(exc), started, clock)
        spec = resolved.spec
        self.locks.limits = {**semaphore_limits(self.templates_dir), **self.settings.semaphore_limits}
        keys = sync_keys(spec.get("synchronization"), resolved.variables)

        def waiting(lock: str, holders: list[str]) -> None:
            self.view.line(
                "run-waiting",
                key,
                f"{name} waits for {lock.split('/', 1)[0]} "
                f"{lock.split('/', 1)[1]} (held by {', '.join(holders) or '?'})",
            )

        namespace = str(metadata.get("namespace") or "")
        with self.locks.hold(keys, name, waiting):
            deadline = spec.get("activeDeadlineSeconds")
            run = Run(
                resolved,
                folder,
                time.monotonic() + float(deadline) if deadline else None,
                variables=dict(resolved.variables),
                namespace=namespace,
                name=name,
            )
            self._write_status(run, {"phase": "Running", "startedAt": started})
            self.view.line("run-started", key, f"{name} running here ({resolved.template_name}, {self.settings.codex})")
            entry = str(spec.get("entrypoint") or "")
            if self._stop_requested(run):
                phase, message = "Failed", STOPPED
            else:
                phase, message = self._template(run, entry, entry, {})
            if run.stopped:
                phase, message = "Failed", STOPPED
                self.view.line(
                    "run-stopped",
                    key,
                    f"{name} stopped (spec.shutdown: Stop"
                    f"{'; ' + reason if (reason := self._stop_reason(run)) else ''})",
                )
            exit_handler = spec.get("onExit")
            if exit_handler:
                failures = [
                    {
                        "displayName": n.name,
                        "message": n.message,
                        "templateName": n.template,
                        "phase": n.phase,
                        "finishedAt": n.finished_at,
                    }
                    for n in run.nodes
                    if n.phase in ("Failed", "Error")
                ]
                run.variables.update(
                    {
                        "workflow.status": phase,
                        "workflow.failures": json.dumps(failures),
                        "workflow.duration": f"{time.monotonic() - clock:.6f}",
                        **self._annotations(run),
                    }
                )
                run.exiting = True
                run.deadline = time.monotonic() + EXIT_HANDLER_TIMEOUT
                exit_phase, exit_message = self._template(run, f"{name}.onExit", str(exit_handler), {})
                if phase == "Succeeded" and exit_phase != "Succeeded":
                    phase, message = exit_phase, f"exit handler: {exit_message}"
        return self._finish(folder, name, key, run, phase, message, started, clock)

    def _finish(
        self, folder: Path, name: str, key: str, run: Run | None, phase: str, message: str, started: str, clock: float
    ) -> str:
        took = time.monotonic() - clock
        status = {
            "name": name,
            "phase": phase,
            "message": message,
            "startedAt": started,
            "finishedAt": _now(),
            "seconds": round(took, 3),
            "template": run.resolved.template_name if run else None,
            "nodes": [vars(n) for n in run.nodes] if run else [],
            "artifacts": run.artifacts if run else [],
        }
        tmp = folder / (STATUS + ".tmp")
        tmp.write_text(json.dumps(status, indent=2) + "\n")
        tmp.replace(folder / STATUS)
        if run is not None:
            self._write_status(
                run, {"phase": phase, "message": message, "startedAt": started, "finishedAt": status["finishedAt"]}
            )
        self.results[name] = phase
        self.view.run_finished(key, name, phase, took, message)
        return phase

    # ------------------------------------------------------------------ the Workflow's file

    def _workflow_file(self, run: Run) -> DryRunSubmitter | None:
        return DryRunSubmitter(self.workflows) if run.namespace and run.name else None

    def _read(self, run: Run) -> dict[str, Any]:
        submitter = self._workflow_file(run)
        if submitter is None:
            return {}
        try:
            loaded = json.loads(submitter.path_of(run.namespace, run.name).read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write_status(self, run: Run, status: dict[str, Any]) -> None:
        """``status`` into the Workflow's file, as the controller writes it (best effort: a file
        that is gone, or a run started without one, is left alone)."""
        submitter = self._workflow_file(run)
        if submitter is not None:
            with contextlib.suppress(Exception):
                submitter.update(run.namespace, run.name, lambda workflow: workflow.__setitem__("status", status))

    def _stop_requested(self, run: Run) -> bool:
        """Whether the Workflow was asked to stop (``spec.shutdown``), remembered once seen; never
        while its exit handler runs (that is what a stop still runs)."""
        if run.exiting:
            return False
        if not run.stopped:
            spec = self._read(run).get("spec")
            run.stopped = isinstance(spec, dict) and bool(spec.get("shutdown"))
        return run.stopped

    def _annotations(self, run: Run) -> dict[str, str]:
        """``workflow.annotations.*`` as the Workflow's file holds them now (a stop adds its reason)."""
        metadata = self._read(run).get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if not isinstance(annotations, dict):
            return {}
        return annotation_variables({str(key): str(value) for key, value in annotations.items()})

    def _stop_reason(self, run: Run) -> str:
        return self._annotations(run).get(f"workflow.annotations.{ANNOTATION_STOP_REASON}", "")

    # ------------------------------------------------------------------ templates

    def _template(self, run: Run, node_name: str, template_name: str, passed: Mapping[str, str]) -> tuple[str, str]:
        if run.stopped and not run.exiting:
            return "Failed", STOPPED  # the steps left after a stop never start
        try:
            template = run.resolved.template(template_name)
            variables = {**run.variables, **input_parameters(template, passed, run.variables)}
        except TemplateError as exc:
            run.nodes.append(Node(node_name, template_name, "Error", str(exc), started_at=_now(), finished_at=_now()))
            return "Error", str(exc)
        keys = sync_keys(template.get("synchronization"), variables)
        with self.locks.hold(keys, node_name, lambda lock, holders: None):
            if "container" in template:
                return self._container(run, node_name, template, variables)
            if "steps" in template:
                return self._steps(run, node_name, template, variables)
            if "dag" in template:
                return self._dag(run, node_name, template, variables)
        message = f"template {template_name!r}: only container, steps and dag templates run locally"
        run.nodes.append(Node(node_name, template_name, "Error", message, started_at=_now(), finished_at=_now()))
        return "Error", message

    def _arguments(self, step: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
        parameters = (step.get("arguments") or {}).get("parameters") or []
        return {
            str(p["name"]): str(substitute(str(p.get("value", "")), variables))
            for p in parameters
            if isinstance(p, dict) and p.get("name")
        }

    def _steps(
        self, run: Run, node_name: str, template: Mapping[str, Any], variables: Mapping[str, str]
    ) -> tuple[str, str]:
        for group in template.get("steps") or []:
            for step in group if isinstance(group, list) else [group]:
                phase, message = self._template(
                    run, f"{node_name}.{step['name']}", str(step["template"]), self._arguments(step, variables)
                )
                if phase != "Succeeded" and not (step.get("continueOn") or {}).get("failed"):
                    return phase, message
        return "Succeeded", ""

    def _dag(
        self, run: Run, node_name: str, template: Mapping[str, Any], variables: Mapping[str, str]
    ) -> tuple[str, str]:
        tasks = {str(t["name"]): t for t in (template.get("dag") or {}).get("tasks") or []}
        done: dict[str, str] = {}
        result = ("Succeeded", "")
        while len(done) < len(tasks):
            ready = [
                n for n, t in tasks.items() if n not in done and all(d in done for d in t.get("dependencies") or [])
            ]
            if not ready:
                return "Error", f"dag of {node_name}: dependencies cannot be met"
            for name in ready:
                task = tasks[name]
                if any(done[d] != "Succeeded" for d in task.get("dependencies") or []):
                    done[name] = "Omitted"
                    continue
                phase, message = self._template(
                    run, f"{node_name}.{name}", str(task["template"]), self._arguments(task, variables)
                )
                done[name] = phase
                if phase != "Succeeded":
                    result = (phase, message)
        return result

    # ------------------------------------------------------------------ containers

    def _container(
        self, run: Run, node_name: str, template: Mapping[str, Any], variables: Mapping[str, str]
    ) -> tuple[str, str]:
        strategy = template.get("retryStrategy") or {}
        limit = int(substitute(str(strategy.get("limit", 0)), variables) or 0) if strategy else 0
        policy = str(strategy.get("retryPolicy") or "OnFailure")
        node = Node(node_name, str(template.get("name")), "Running", started_at=_now())
        run.nodes.append(node)
        for attempt in range(limit + 1):
            node.attempts = attempt + 1
            phase, message, code = self._attempt(run, node, template, variables, attempt)
            node.phase, node.message, node.exit_code = phase, message, code
            retry = (
                (policy == "Always" and phase != "Succeeded")
                or (policy == "OnFailure" and phase == "Failed")
                or (policy in ("OnError", "OnTransientError") and phase == "Error")
            )
            if (
                phase == "Succeeded"
                or not retry
                or self._stop.is_set()
                or message.endswith("deadline")
                or (run.stopped and not run.exiting)
            ):
                break
        node.finished_at = _now()
        return node.phase, node.message

    def _attempt(
        self, run: Run, node: Node, template: Mapping[str, Any], variables: Mapping[str, str], attempt: int
    ) -> tuple[str, str, int | None]:
        container = substitute(template.get("container") or {}, variables)
        pod = run.folder / "nodes" / (node.name.replace("/", "-") + (f"-retry{attempt}" if attempt else ""))
        mounts = self._volumes(run, pod, container.get("volumeMounts") or [])

        def local(path: str) -> str | None:
            for mount, folder in mounts:
                if path == mount or path.startswith(mount.rstrip("/") + "/"):
                    return str(folder / path[len(mount) :].lstrip("/"))
            return None

        def anywhere(path: str) -> Path:
            return Path(local(path) or pod / "root" / path.lstrip("/"))

        # Artifact paths outside every mount are files of the pod too (Argo mounts them itself):
        # map them as well, so an argument or env value naming one finds the file.
        artifact_paths = [
            str(a.get("path"))
            for kind in ("inputs", "outputs")
            for a in (template.get(kind) or {}).get("artifacts") or []
            if isinstance(a, dict) and str(a.get("path") or "").startswith("/")
        ]
        extra = [(p, anywhere(p)) for p in substitute(artifact_paths, variables) if local(p) is None]
        mounts = sorted([*mounts, *extra], key=lambda item: len(item[0]), reverse=True)

        for artifact in (template.get("inputs") or {}).get("artifacts") or []:
            artifact = substitute(artifact, variables)
            target = anywhere(str(artifact.get("path") or ""))
            if isinstance(artifact.get("raw"), dict):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(str(artifact["raw"].get("data") or ""))
            elif not artifact.get("optional"):
                return "Error", f"input artifact {artifact.get('name')!r}: only raw artifacts run locally", None
        env, notes = self._env(container.get("env") or [], local)
        argv = [str(item) for item in (container.get("command") or []) + (container.get("args") or [])]
        argv = [local(item) or item if item.startswith("/") else item for item in argv]
        if not argv:
            return "Error", "the container has no command (the image's entrypoint cannot run locally)", None
        argv[0] = self.settings.commands.get(argv[0]) or shutil.which(argv[0], path=env.get("PATH")) or argv[0]
        working = anywhere(str(container.get("workingDir") or "/"))
        working.mkdir(parents=True, exist_ok=True)
        timeout = [
            t
            for t in (
                run.deadline - time.monotonic() if run.deadline else None,
                float(template["activeDeadlineSeconds"]) if template.get("activeDeadlineSeconds") else None,
            )
            if t is not None
        ]
        log = run.folder / f"{node.name.replace('/', '-')}.log"
        node.log = str(log)
        with log.open("ab") as out:
            for note in notes:
                out.write(f"[dev] {note}\n".encode())
            out.write(
                f"[dev] attempt {attempt + 1}: {' '.join(argv[:4])}{' …' if len(argv) > 4 else ''} "
                f"in {working}\n".encode()
            )
            out.flush()
            try:
                process = subprocess.Popen(
                    argv,
                    cwd=working,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                return "Error", f"cannot start {argv[0]}: {exc.strerror or exc}", None
            self._processes[process.pid] = process
            try:
                outcome = self._wait(run, process, time.monotonic() + max(0.0, min(timeout)) if timeout else None)
            finally:
                self._processes.pop(process.pid, None)
            if isinstance(outcome, str):
                out.write(f"[dev] {outcome}\n".encode())
                return "Failed", outcome, None
            code = outcome
        if code != 0:
            return "Failed", f"Error (exit code {code})", code
        for artifact in (template.get("outputs") or {}).get("artifacts") or []:
            artifact = substitute(artifact, variables)
            source = anywhere(str(artifact.get("path") or ""))
            if not source.exists():
                if artifact.get("optional"):
                    continue
                return "Error", f"output artifact {artifact.get('name')!r}: {artifact.get('path')} does not exist", code
            kept = run.folder / "artifacts" / str(artifact.get("name"))
            kept.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, kept, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, kept)
            run.artifacts.append(str(kept))
        return "Succeeded", "", code

    def _wait(self, run: Run, process: subprocess.Popen[bytes], deadline: float | None) -> int | str:
        """The step's exit code; or, when its deadline passed or its Workflow was stopped (checked
        every poll), the reason, after ending its process group (a stop gets a grace period)."""
        while True:
            wait = self.poll if deadline is None else max(0.0, min(self.poll, deadline - time.monotonic()))
            try:
                return process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return "Step exceeded its deadline"
            if self._stop_requested(run):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                return STOPPED

    def _volumes(self, run: Run, pod: Path, mounts: list[Any]) -> list[tuple[str, Path]]:
        """(mountPath, local folder) per mount, longest path first; secret volumes filled."""
        defined = {str(v.get("name")): v for v in run.resolved.spec.get("volumes") or [] if isinstance(v, dict)}
        found: list[tuple[str, Path]] = []
        for mount in mounts:
            if not isinstance(mount, dict) or not mount.get("mountPath"):
                continue
            name = str(mount.get("name"))
            volume = defined.get(name, {})
            folder = pod / "volumes" / name
            folder.mkdir(parents=True, exist_ok=True)
            secret = volume.get("secret")
            if isinstance(secret, dict):
                self._fill_secret(folder, secret)
            if mount.get("subPath"):
                folder = folder / str(mount["subPath"])
                folder.mkdir(parents=True, exist_ok=True)
            found.append((str(mount["mountPath"]), folder))
        return sorted(found, key=lambda item: len(item[0]), reverse=True)

    def _fill_secret(self, folder: Path, secret: Mapping[str, Any]) -> None:
        values = self.settings.secrets.get(str(secret.get("secretName") or ""), {})
        items = secret.get("items")
        chosen = (
            [(str(i["key"]), str(i.get("path") or i["key"])) for i in items if isinstance(i, dict)]
            if items
            else [(key, key) for key in values]
        )
        for key, relative in chosen:
            if key in values:
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(values[key])
                target.chmod(int(secret.get("defaultMode") or 0o600) & 0o777)

    def _env(self, items: list[Any], local: Callable[[str], str | None]) -> tuple[dict[str, str], list[str]]:
        env = dict(self.settings.env)
        notes: list[str] = []
        for item in items:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            name = str(item["name"])
            if "value" in item:
                value = str(item["value"])
                env[name] = (local(value) or value) if value.startswith("/") else value
                continue
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if isinstance(ref, dict):
                secret = self.settings.secrets.get(str(ref.get("name")), {}).get(str(ref.get("key")))
                if secret is not None:
                    env[name] = secret
                elif not ref.get("optional"):
                    notes.append(
                        f"{name}: secret {ref.get('name')}/{ref.get('key')} is not set on this machine; left unset"
                    )
                continue
            notes.append(f"{name}: only value and secretKeyRef are set locally; left unset")
        if env.pop("CODEX_AGENT_USER", None):
            # The runner image's Codex user exists only in that image, and dev runs as one user: Codex
            # runs as this machine's user (README "Security": without CODEX_AGENT_USER).
            notes.append("CODEX_AGENT_USER: Codex runs as this machine's user locally, not as the image's user")
        return env, notes
