"""Wire ``codex-pipeline dev`` together: state folder, router, one process per function.

Everything ``dev`` keeps lives in one state folder (default ``.codex-pipeline/``):
``events.db`` (topics and deliveries), ``state.db`` (the functions' SQLite store),
``workflows/`` (what the dry-run submitter writes), ``logs/<function>.log``, ``webhook-secret``
(generated once when ``CODEX_WEBHOOK_SECRET`` is unset; ``replay`` signs with it) and
``dev.json`` (the URLs of this run, read by ``replay`` and ``listen``).

With the dry-run submitter and the GitHub stand-in (the embedded defaults), dev also runs each
Workflow it writes (:mod:`codex_pipeline.dev.executor`, in ``runs/``) against bare git remotes
in ``git/``, and the stand-in sends what happens on it back to ingest-webhook as signed webhook
deliveries, so an issue becomes a plan, a draft PR and a ready PR on one machine.
``--no-execute`` (or ``--execute`` to force it) changes whether workflows run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codex_pipeline.dev import processes, standin
from codex_pipeline.dev.log import EventLog
from codex_pipeline.dev.router import Router
from codex_pipeline.dev.topology import Topology, load
from codex_pipeline.dev.view import View
from codex_pipeline.errors import CONFIGURATION_EXIT, ConfigurationError
from codex_pipeline.shell.config import Settings, configured_names, load_settings
from codex_pipeline.wire.events import Event

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS = ("ingest-webhook", "route-task", "dispatch-planning", "promote-plan", "request-review")
ENTRY = "ingest-webhook"
DEV_CONFIG = REPO_ROOT / "examples" / "dev-config.yaml"
GITHUB_SEED = REPO_ROOT / "examples" / "github-standin.yaml"


@dataclass
class DevOptions:
    state: Path = Path(".codex-pipeline")
    port: int = 8080
    router_port: int = 0
    only: tuple[str, ...] = ()
    reconcile_every: float = 30.0  # seconds between `reconcile` runs against the GitHub stand-in (0: off)
    eventing: Path = REPO_ROOT / "eventing"
    functions: Path = REPO_ROOT / "functions"
    workflow_templates: Path = REPO_ROOT / "workflows"
    execute: bool | None = None  # None: run workflows here when the dry-run submitter and the stand-in serve
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def webhook_secret(state: Path, environ: Mapping[str, str]) -> tuple[str, str]:
    """(secret, where it came from): the configured one, else one generated once for this folder."""
    configured = load_settings(environ).webhook_secrets  # CODEX_WEBHOOK_SECRET, its _FILE, or the YAML file
    if configured:
        return configured[0], "CODEX_WEBHOOK_SECRET"
    path = state / "webhook-secret"
    if not path.is_file():
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip(), str(path)


def function_names(functions: Path) -> list[str]:
    found = {p.name for p in functions.iterdir() if p.is_dir()} if functions.is_dir() else set()
    return sorted(set(FUNCTIONS) | found, key=lambda n: (FUNCTIONS.index(n) if n in FUNCTIONS else 99, n))


def sink_env(name: str, functions: Path, topology: Topology, router: Router) -> dict[str, str]:
    """K_SINK from the SinkBinding, and every func.yaml env value naming a KafkaSink ingress URL,
    pointed at the local router (the same sinks the cluster would use)."""
    env: dict[str, str] = {}
    if name in topology.bindings:
        env["K_SINK"] = router.sink_url(topology.bindings[name], name)
    func_yaml = functions / name / "func.yaml"
    if func_yaml.is_file():
        loaded: Any = yaml.safe_load(func_yaml.read_text()) or {}
        for item in (loaded.get("run") or {}).get("envs") or []:
            value = item.get("value") if isinstance(item, dict) else None
            sink = topology.sink_for_url(value) if isinstance(value, str) else None
            if sink is not None:
                env[str(item["name"])] = router.sink_url(sink, name)
    return env


def base_env(options: DevOptions, secret: str) -> dict[str, str]:
    """The embedded defaults: SQLite store and dry-run submitter in the state folder, unless the
    caller configured a real database or cluster in its environment."""
    env = dict(options.environ)
    state = options.state.resolve()
    if "CODEX_CONFIG_FILE" not in env and DEV_CONFIG.is_file():
        env["CODEX_CONFIG_FILE"] = str(DEV_CONFIG)
    given = configured_names(env)  # from the environment, a _FILE or the YAML file: those win
    defaults = {
        "CODEX_DATABASE_URL": f"sqlite:///{state / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(state / "workflows"),
        "CODEX_WEBHOOK_SECRET": secret,
    }
    env.update({name: value for name, value in defaults.items() if name not in given})
    return env


class StartFailed(Exception):
    """A function did not come up; ``status`` is 2 when it stopped on a wrong setting."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def last_line(served: processes.Served) -> str:
    """The last non-blank line of a function's log: its one-line configuration error, or the
    last line of a traceback (which names the exception)."""
    lines = [line.strip() for line in served.tail(40).splitlines() if line.strip()]
    return lines[-1] if lines else f"exited with {served.process.returncode}, nothing logged"


class Dev:
    def __init__(self, options: DevOptions, out: Any = None) -> None:
        self.options = options
        self.view = View(out)
        self.topology = load(options.eventing)
        self.log = EventLog(options.state / "events.db")
        self.served: list[processes.Served] = []
        self.router: Router | None = None
        self.stopped = threading.Event()
        self._env: dict[str, str] = {}
        self._settings = Settings()
        self.github: Any = None  # the GitHub stand-in, when no GitHub is configured
        self.reconciler: Any = None  # `reconcile` against the stand-in's webhook (dev/reconciler.py)
        self.webhooks: Any = None  # the stand-in's webhook sender
        self.executor: Any = None  # the local executor, when workflows run here
        self._saved_requests = -1
        self.metrics_dir = (options.state / "metrics").resolve()

    def _lock(self) -> None:
        """One dev per state folder: two routers on one topic log would deliver everything twice."""
        import fcntl

        path = self.options.state / "dev.lock"
        self._lock_file = path.open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "?"
            raise SystemExit(
                f"codex-pipeline dev: another dev (pid {holder}) is running on {self.options.state}; "
                "stop it or pass --state DIR"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def start(self) -> dict[str, Any]:
        options = self.options
        state = options.state
        (state / "logs").mkdir(parents=True, exist_ok=True)
        self._lock()
        secret, secret_from = webhook_secret(state, options.environ)
        names = function_names(options.functions)
        wanted = [n for n in names if not options.only or n in options.only]
        present = [n for n in wanted if (options.functions / n / "main.py").is_file()]
        missing = [n for n in names if n not in present]

        if options.port and ENTRY in present and not processes.port_free(options.port):
            raise SystemExit(
                f"codex-pipeline dev: port {options.port} (ingest-webhook) is in use, perhaps by another "
                "`make run`; stop it, or pass --port N (0 = any free port)"
            )
        env = self._env = base_env(options, secret)
        # Every function and step writes its metrics here; the summary adds them up (this run's only).
        for old in self.metrics_dir.glob("*.json"):
            old.unlink(missing_ok=True)
        env["CODEX_METRICS_DIR"] = str(self.metrics_dir)
        # Every function reads the same settings: one wrong value stops dev here, in one line,
        # instead of five functions failing alike in their logs.
        settings = self._settings = load_settings(env)
        ports = {n: (options.port if n == ENTRY and options.port else processes.free_port()) for n in present}
        subscribers = {n: f"http://127.0.0.1:{ports[n]}/" for n in present if n != ENTRY}
        self.router = Router(
            self.topology, self.log, self.view, subscribers, logs={n: state / "logs" / f"{n}.log" for n in present}
        )
        router_port = self.router.start(options.router_port)
        use_standin = standin.wanted(env)
        execute = (
            options.execute if options.execute is not None else (use_standin and settings.argo_submitter == "dry-run")
        )
        if settings.argo_submitter != "dry-run":
            execute = False  # the cluster runs what the Kubernetes submitter creates
        remotes = None
        if use_standin:
            from codex_pipeline.dev.remotes import Remotes
            from codex_pipeline.dev.webhooks import Sender

            remotes = Remotes((state / "git").resolve())  # git runs in other folders: never a relative path
            ingest = f"http://127.0.0.1:{ports[ENTRY]}/" if ENTRY in ports else None
            if ingest:
                self.webhooks = Sender(ingest, settings.webhook_secrets[0], on_sent=self._on_webhook).start()
            self.github = standin.start(
                GITHUB_SEED,
                send=self._send_webhook,
                remotes=remotes,
                login=settings.planner_login,
                executing=execute,
                saved=standin.state_file(state / "github-standin.json"),
            )
            standin.enable_app(self.github, state)
            env.update(standin.env(self.github))
            settings = self._settings = load_settings(env)  # now naming the stand-in's token and URL
            self.router.taps.append(self._learn)
        if execute:
            self._start_executor(env, remotes)
        for name in present:
            child = processes.child_env(env, sink_env(name, options.functions, self.topology, self.router))
            self.served.append(
                processes.start(
                    name, options.functions / name / "main.py", ports[name], child, state / "logs" / f"{name}.log"
                )
            )
        failed = processes.wait_ready(self.served)
        if failed:
            # A pipeline with a function missing holds its deliveries silently: stop and say which.
            broken = [s for s in self.served if s.name in failed]
            configuration = any(s.process.returncode == CONFIGURATION_EXIT for s in broken)
            lines = [f"codex-pipeline dev: {s.name} failed to start: {last_line(s)} (log: {s.log})" for s in broken]
            raise StartFailed("\n".join(lines), CONFIGURATION_EXIT if configuration else 1)
        up = list(self.served)
        if self.github is not None and ENTRY in ports and ENTRY not in failed:
            from codex_pipeline.dev import reconciler

            repository = next(iter(self.github.repos.values())).full_name if self.github.repos else "acme/widgets"
            self.reconciler = reconciler.start(
                self.github,
                repository,
                f"http://127.0.0.1:{ports[ENTRY]}/",
                secret,
                standin.TOKEN,
                settings.database_url,
                self.view,
                options.reconcile_every,
            )
        info = {
            "pid": os.getpid(),
            "webhook": f"http://127.0.0.1:{ports[ENTRY]}/" if ENTRY in ports and ENTRY not in failed else None,
            "router": f"http://127.0.0.1:{router_port}",
            "functions": {s.name: s.url for s in up},
            "missing": missing,
            "failed": sorted(failed),
            "state": str(state.resolve()),
            "workflows": settings.dry_run_dir if settings.argo_submitter == "dry-run" else None,
            "secret_from": secret_from,
            "github": self.github.url if self.github is not None else None,
            "github_hook": self.reconciler.hook.id if self.reconciler is not None else None,
            "runs": str((state / "runs").resolve()) if self.executor is not None else None,
            "git": str((state / "git").resolve()) if remotes is not None else None,
        }
        self._banner(info)
        # Written last: its appearance means dev is up and has said what it serves.
        tmp = state / "dev.json.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(state / "dev.json")
        return info

    def _banner(self, info: dict[str, Any]) -> None:
        note = self.view.note
        note("codex-pipeline dev: the pipeline on this machine, routed by eventing/")
        for name, url in info["functions"].items():
            note(f"  {name:<18} {url}   log: {self.options.state / 'logs' / (name + '.log')}")
        for name in info["missing"]:
            note(
                f"  {name:<18} not served: functions/{name}/main.py does not exist yet"
                if name not in self.options.only and self.options.only == ()
                else f"  {name:<18} not served"
            )
        note(f"  router             {info['router']}   topics: {', '.join(self.topology.topics())}")
        if info["workflows"]:
            note(f"  workflows (dry-run) {info['workflows']}")
        else:
            note(
                f"  workflows          created through the Kubernetes API "
                f"({self._settings.kubeconfig or 'in-cluster, then ~/.kube/config'})"
            )
        if info["github_hook"]:
            every = self.options.reconcile_every
            note(
                f"  webhook (stand-in) hook {info['github_hook']} -> ingest-webhook; `replay` sends through it and "
                + (
                    f"`reconcile` redelivers what ingest refused, every {every:g}s"
                    if every
                    else "reconcile is off (--reconcile-every 0)"
                )
            )
        if info["runs"]:
            note(
                f"  runs (here)        {info['runs']}   each Workflow runs on this machine with "
                f"{self.executor.settings.codex_why}"
            )
        if info["github"]:
            note(
                f"  github (stand-in)  {info['github']}   seeded from {os.path.relpath(GITHUB_SEED)}; what the "
                f"functions post is saved to {self.options.state / 'github-standin.json'}"
            )
            if self.github is not None and self.github.app is not None:
                note("                     a token for everything, and GitHub App codex-app for the runs' check runs")
            if self.webhooks is not None:
                note(f"                     sends webhooks back to ingest-webhook; git remotes in {info['git']}")
        else:
            note(f"  github             {self._settings.github_api_url}")
        note(f"  webhook secret     from {info['secret_from']}")
        cli = (
            "codex-pipeline"
            if shutil.which("codex-pipeline")
            else os.path.relpath(Path(sys.executable).parent / "codex-pipeline")
        )
        state = "" if self.options.state == Path(".codex-pipeline") else f" --state {self.options.state}"
        note(
            f"  watch tasks        {cli} listen{state}   dead letters: {cli} listen{state} --topic "
            "codex.dead-letter --from-beginning"
        )
        note("  Ctrl-C stops and prints a summary; pending deliveries survive a restart.")
        if info["webhook"]:
            if self.executor is not None and self.webhooks is not None:
                note(
                    f'  after the plan PR  {cli} dev comment{state} 57 "@tuslagch review"   (a review; the PR '
                    "then turns ready)"
                )
            note(
                f"ready: webhook {info['webhook']}  next, in another terminal: "
                f"{cli} replay{state} examples/issues.opened.json\n"
            )
        else:
            note(
                f"ready: no webhook served (--only {' '.join(self.options.only)}); deliveries to the others are held\n"
            )

    def _start_executor(self, env: dict[str, str], remotes: Any) -> None:
        from codex_pipeline.dev import localrun
        from codex_pipeline.dev.executor import Executor

        extra = {name: env[name] for name in ("CODEX_GITHUB_API_URL", "CODEX_METRICS_DIR") if env.get(name)}
        if remotes is not None:
            extra["CODEX_GIT_URL"] = remotes.url_template
        token = self._settings.github_token
        app = (
            (self._settings.github_app_id, self._settings.github_app_private_key)
            if self._settings.github_app_id and self._settings.github_app_private_key
            else None
        )
        state = self.options.state.resolve()  # runs work in their own folders: never a relative path
        settings = localrun.settings(self.options.environ, state, github_token=token, extra=extra, github_app=app)
        self.executor = Executor(
            Path(self._settings.dry_run_dir), self.options.workflow_templates, state / "runs", settings, self.view
        )
        self.executor.start()

    def _send_webhook(self, event: str, payload: dict[str, Any]) -> None:
        if self.webhooks is not None:
            self.webhooks.send(event, payload)

    def _on_webhook(self, delivery: Any) -> None:
        if self.reconciler is not None:  # logged as GitHub logs it: a refused one is found by reconcile
            self.github.deliveries.record(
                self.reconciler.hook,
                delivery.event,
                delivery.body,
                guid=delivery.guid,
                status_code=delivery.status_code or 0,
                error=delivery.error,
                duration=delivery.duration,
            )
        outcome = delivery.status_code if delivery.status_code is not None else delivery.error
        action = f".{delivery.action}" if delivery.action else ""
        self.view.line(
            "webhook",
            delivery.guid,
            f"stand-in -> ingest-webhook {delivery.event}{action} "
            f"{delivery.repository}: {outcome} ({what_happened(delivery.body)})",
        )
        self.save_github()

    def _learn(self, topic: str, origin: str, event: Event) -> None:
        """The stand-in learns what a replayed delivery names (its own deliveries it knows already)."""
        if self.github is None or origin != ENTRY or not event.type.startswith("com.github."):
            return
        try:
            payload = json.loads(event.data)
        except ValueError:
            return
        if isinstance(payload, dict):
            for what in self.github.learn(event.type.split(".")[2], payload):
                self.view.line("github", event.id, f"stand-in now knows {what}")

    def save_github(self) -> None:
        if self.github is not None:
            self._saved_requests = len(self.github.requests)
            standin.save(self.github, self.options.state / "github-standin.json")

    def watch(self) -> None:
        """Block until stopped; report a function that dies (its deliveries are then held)."""
        reported: set[str] = set()
        while not self.stopped.wait(0.5):
            if self.github is not None and len(self.github.requests) != self._saved_requests:
                self.save_github()
            for served in self.served:
                if served.name not in reported and not processes.is_alive(served):
                    reported.add(served.name)
                    self.view.note(
                        f"!! {served.name} exited with {served.process.returncode}; its deliveries "
                        f"wait for the next start. Last lines of {served.log}:\n{served.tail()}"
                    )
                    if self.router is not None:
                        self.router.subscribers.pop(served.name, None)

    def stop(self, *, summary: bool = True) -> None:
        self.stopped.set()
        if self.executor is not None:
            self.executor.stop()
        processes.stop(self.served)
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.router is not None:
            self.router.stop()
            if summary:
                from codex_pipeline.dev.metricsview import metric_lines

                self.view.note(self.view.summary(self.router.pending(), metric_lines(self.metrics_dir)))
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.github is not None:
            path = self.options.state / "github-standin.json"
            posted = standin.save(self.github, path)
            count = sum(len(items) for items in posted["comments"].values())
            self.view.note(f"GitHub stand-in: {count} comment(s) posted, saved to {path}")
            self.github.__exit__(None, None, None)
            self.github = None
        self.log.close()


def what_happened(body: bytes) -> str:
    """One phrase for the live view: what on the stand-in this webhook reports."""
    payload: Any = json.loads(body)
    if "comment" in payload:
        text = str(payload["comment"].get("body") or "")
        first = text.split("\n", 1)[0][:40]
        return f"comment by {payload['comment']['user']['login']} on #{payload['issue']['number']}: {first}"
    if "check_run" in payload:
        run = payload["check_run"]
        return f"{run['name']} {run['conclusion']} on {run['head_sha'][:12]}"
    if "pull_request" in payload:
        pull = payload["pull_request"]
        kind = "draft PR" if pull.get("draft") else "PR"
        return f"{kind} #{pull['number']} from {pull['head']['ref']} at {pull['head']['sha'][:12]}"
    return payload.get("action") or "event"


def run(options: DevOptions) -> int:
    dev = Dev(options)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (`cmd &` in a script)
    try:
        dev.start()
        dev.watch()
    except KeyboardInterrupt:
        pass
    except (StartFailed, ConfigurationError) as error:
        dev.stop(summary=False)
        sys.stdout.flush()
        if isinstance(error, ConfigurationError):
            print(f"codex-pipeline dev: configuration error: {error}", file=sys.stderr)
            return CONFIGURATION_EXIT
        print(str(error), file=sys.stderr)
        return error.status
    finally:
        if not dev.stopped.is_set():
            dev.stop()
    sys.stdout.flush()
    return 0
