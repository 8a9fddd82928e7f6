"""What every step needs: the task, credentials, the working tree, Codex options and the transcript.

Inputs arrive as the WorkflowTemplates pass them: base64 of the task JSON in a file (a raw input
artifact: ``payload`` for planning, ``eventBody`` for implementation and review). Never argv or an
environment variable in a cluster: they carry untrusted issue text, which must not pass Argo's
template substitution in plain form, and one environment string is capped at 128 KiB. The
environment variables remain for local runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from codex_pipeline.errors import ConfigurationError, StepInputError
from codex_pipeline.steps.codex import CodexOptions, CodexResult, ProgressSink, TodoSink, run_codex
from codex_pipeline.steps.secretfiles import secret
from codex_pipeline.wire.pb import codex_task_pb2 as pb
from codex_pipeline.wire.tasks import from_json_dict

if TYPE_CHECKING:
    from codex_pipeline.effects.github import Auth, GitHubClient
    from codex_pipeline.shell.config import Settings


def read_input(path: str | None, env_name: str, environ: Mapping[str, str]) -> str:
    """A parameter from ``--…-file PATH`` (``-`` = stdin) or the environment variable ``env_name``."""
    if path == "-":
        return sys.stdin.read()
    if path:
        return Path(path).read_text()
    value = environ.get(env_name)
    if value is None:
        raise StepInputError(f"no input: pass a file or set {env_name}")
    return value


def decode_task_json(text: str, *, base64_encoded: bool | None) -> tuple[pb.CodexTask, dict[str, Any]]:
    """The task and its raw JSON object (review steps read keys the proto does not carry).

    ``base64_encoded=None`` takes either: JSON starts with ``{``, which base64 never does."""
    raw = text.strip()
    if base64_encoded is None:
        base64_encoded = not raw.startswith("{")
    if base64_encoded:
        try:
            raw = base64.b64decode(raw, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise StepInputError(f"task input is not base64 of UTF-8 JSON: {exc}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StepInputError(f"task is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("body"), dict) and "repository" not in data:
        data = data["body"]  # an Argo Events envelope: the task is its body
    task = from_json_dict(data)
    missing = [name for name in ("repository", "issue_number") if not getattr(task, name)]
    if missing:
        raise StepInputError(f"task is missing required field(s): {', '.join(missing)}")
    return task, data if isinstance(data, dict) else {}


def github_token(environ: Mapping[str, str]) -> str | None:
    """``CODEX_GITHUB_TOKEN`` (or its ``_FILE``), else the ``GITHUB_TOKEN``/``GH_TOKEN`` the spec's secret sets."""
    return secret(environ, "CODEX_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")


def model_api_key(environ: Mapping[str, str]) -> str | None:
    """The model API key the step's proxy adds to Codex's calls (``CODEX_API_KEY`` or ``OPENAI_API_KEY``)."""
    return secret(environ, "CODEX_API_KEY", "OPENAI_API_KEY")


class GitHubAccess:
    """The shared GitHub client, the login whose comments are ours, and git's credentials."""

    def __init__(
        self, client: GitHubClient, auth: Auth, planner_login: str | None, *, checks: GitHubClient | None = None
    ) -> None:
        self.client = client
        self.checks = checks or client  # check runs need a GitHub App (else commit statuses)
        self.auth = auth
        self._login = planner_login
        self._resolved = planner_login is not None

    @property
    def planner_login(self) -> str:
        """Our comments' author: ``CODEX_PLANNER_LOGIN``, else whoever these credentials are.

        Asked of GitHub once, and only when a step looks for its own comments, so a comment
        that anyone else opens with one of our markers is never taken for ours."""
        if not self._resolved:
            self._login = self.client.viewer_login()
            self._resolved = True
        assert self._login is not None
        return self._login

    def git_token(self, repository: str) -> str | None:
        """A token git can push with: the configured token, or a fresh GitHub App installation token."""
        return self.auth.token_for(repository)


def github_access(environ: Mapping[str, str]) -> GitHubAccess:
    from codex_pipeline.effects.github import checks_client, client_from_settings
    from codex_pipeline.shell.config import load_settings

    token = github_token(environ)
    environ = app_credentials(environ)
    settings = load_settings(environ, github_token=token) if token else load_settings(environ)
    client = client_from_settings(settings)
    # git pushes with the client's own credentials: a GitHub App's AppAuth is bound to the client
    # (it exchanges its JWT through it), so a second auth_from_settings() could not fetch a token.
    return GitHubAccess(client, client.auth, settings.planner_login, checks=checks_client(settings, client))


APP_SETTINGS = ("CODEX_GITHUB_APP_ID", "CODEX_GITHUB_APP_PRIVATE_KEY", "CODEX_GITHUB_APP_INSTALLATION_ID")


def app_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the GitHub App's settings read from their files, when those files exist.

    The templates mount the App's Secret as optional (a deployment with a token alone has none):
    a ``_FILE`` naming a missing file means "no App", where the settings would refuse to start."""
    env = dict(environ)
    for name in APP_SETTINGS:
        path = env.pop(f"{name}_FILE", None)
        if path and name not in env:
            value = secret({f"{name}_FILE": path}, name)
            if value:
                env[name] = value
    return env


def step_settings(environ: Mapping[str, str]) -> Settings:
    """The settings as the functions read them (``<VAR>_FILE``, the YAML file, the table's defaults)."""
    from codex_pipeline.shell.config import load_settings

    return load_settings(environ)


def branch_prefix(environ: Mapping[str, str]) -> str:
    """``CODEX_BRANCH_PREFIX`` read through the settings table, as the router and request-review read it."""
    return step_settings(environ).branch_prefix


# Credentials whose values are redacted from every transcript line (each also read from its _FILE).
SECRET_NAMES = (
    "CODEX_GITHUB_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "CODEX_GITHUB_APP_PRIVATE_KEY",
    "DISCORD_BOT_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "CODEX_DATABASE_URL",
    "CODEX_WEBHOOK_SECRET",
)


@dataclass
class Transcript:
    """The step's log file (an Argo artifact) plus optional live tees (Discord).

    Every line passes through here, and every known secret is replaced by ``***`` first, so a
    command that prints a credential cannot carry it into an artifact or a Discord channel.
    """

    path: Path
    tees: list[Callable[[str], None]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    _stream: IO[str] | None = None

    def __enter__(self) -> Transcript:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream:
            self._stream.close()

    def line(self, text: str) -> None:
        for value in self.secrets:
            if value:
                text = text.replace(value, "***")
        if self._stream:
            self._stream.write(text + "\n")
            self._stream.flush()
        for tee in self.tees:
            tee(text)

    def run_codex(
        self,
        prompt: str,
        workdir: Path,
        options: CodexOptions,
        on_todo: TodoSink | None = None,
        environ: Mapping[str, str] | None = None,
        on_progress: ProgressSink | None = None,
    ) -> CodexResult:
        """Run Codex holding no credential: a clean environment, the model key kept in a loopback
        proxy, and (with ``CODEX_AGENT_USER``) another uid that owns the tree only while it works."""
        from codex_pipeline.steps.agent import (
            agent_environ,
            agent_home,
            agent_user,
            hand_over,
            stop_agent_processes,
            take_back,
        )
        from codex_pipeline.steps.model_proxy import ModelProxy

        environ = os.environ if environ is None else environ
        user = agent_user(environ)
        env = agent_environ(environ, agent_home(user), workdir) if user else agent_environ(environ, None)
        key = model_api_key(environ)
        with ExitStack() as stack:
            if key:
                proxy = stack.enter_context(ModelProxy(key, step_settings(environ).model_api_url))
                options = replace(options, extra_args=(*proxy.codex_config(), *options.extra_args))
            if user is not None:
                self.line(f"[step] Codex runs as uid {user.uid}, gid {user.gid}, without credentials")
                stack.callback(take_back, workdir, user)
                hand_over(workdir, user)
            return run_codex(
                prompt,
                workdir,
                options,
                tee=[self.line],
                env=env,
                on_todo=on_todo,
                user=user,
                stop_leftovers=partial(stop_agent_processes, user) if user else None,
                on_progress=on_progress,
            )


def secrets_of(environ: Mapping[str, str], *extra: str | None) -> list[str]:
    """Values to redact from transcripts: credentials from the environment or their files, every
    secret setting of the table (the YAML file may hold them too), and extra ones."""
    from codex_pipeline.shell.config import SETTINGS, configured_names, load_settings

    values: list[str | None] = [secret(environ, name) for name in SECRET_NAMES] + list(extra)
    given = configured_names(environ)  # a default (the local SQLite path) is no secret
    rows = [row for row in SETTINGS if row.secret and row.env in given]
    settings = load_settings(environ, only={row.env for row in rows})
    for row in rows:
        value = getattr(settings, row.field)
        values += list(value) if isinstance(value, tuple) else [value]
    return sorted({value.strip() for value in values if value and len(value.strip()) >= 8})


@contextmanager
def discord_tee(
    stage: str, repository: str, issue: int, run_id: str, environ: Mapping[str, str]
) -> Iterator[Callable[[str], None] | None]:
    """A line sink into a per-run Discord channel when the bot token and guild id are set.

    A Discord failure never fails the run: the streamer logs it and drops further lines.
    """
    if not (secret(environ, "DISCORD_BOT_TOKEN") and secret(environ, "DISCORD_GUILD_ID")):
        yield None
        return
    from codex_pipeline.steps.discord import DiscordConfig, start_stream

    stream = start_stream(
        DiscordConfig.from_env(environ), stage=stage, repository=repository, issue=issue, run_id=run_id
    )
    try:
        yield stream.write if stream else None
    finally:
        if stream:
            stream.close()


def codex_options(args: Any, environ: Mapping[str, str]) -> CodexOptions:
    overrides: dict[str, Any] = {
        "model": args.model,
        "reasoning": args.reasoning,
        "search": args.search,
        "yolo": args.yolo,
        "timeout": args.timeout,
    }
    if args.codex_arg:
        overrides["extra_args"] = tuple(args.codex_arg)
    return CodexOptions.from_env(environ, **overrides)


def workflow_name(args: Any, environ: Mapping[str, str]) -> str:
    name = args.workflow_name or environ.get("ARGO_WORKFLOW_NAME") or environ.get("CODEX_WORKFLOW_NAME")
    if not name:
        raise ConfigurationError("no workflow name: pass --workflow-name {{workflow.name}} or set ARGO_WORKFLOW_NAME")
    return str(name)


def print_dry_run(stage: str, facts: Mapping[str, object], options: CodexOptions, prompt: str, extra: str = "") -> int:
    """What the step would do, without cloning, running Codex or calling GitHub."""
    import shlex

    print(f"step {stage} (dry run): nothing is cloned, run or posted")
    for key, value in facts.items():
        print(f"{key}: {value}")
    print(f"codex: {shlex.join(options.argv())} < prompt ({len(prompt)} characters)")
    print(f"--- prompt ---\n{prompt}", end="")
    if extra:
        print(extra, end="" if extra.endswith("\n") else "\n")
    return 0


def environ_of(args: Any) -> dict[str, str]:
    """The step's environment, with the optional GitHub App files read (:func:`app_credentials`)."""
    return app_credentials(getattr(args, "environ", None) or os.environ)
