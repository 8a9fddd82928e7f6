"""One frozen settings object per process, read from env and an optional YAML file.

Precedence: environment variable > ``<VAR>_FILE`` (a mounted secret file) > the YAML file
named by ``CODEX_CONFIG_FILE`` (keys are the variable names, or the field names) > default.
Every setting is declared once, as a field of :class:`Settings` carrying its row (variable,
parser, default, README text, secrecy, and who reads it); :data:`SETTINGS` is that table. It
drives parsing and defaults here, each function's ``SETTINGS_READ`` (:func:`read_by`, which the
func.yaml lint checks), and the README's two settings tables (a test compares them row by row).
The functions, the workflow steps and every CLI verb read settings through :func:`load_settings`,
so ``<VAR>_FILE`` and the YAML file work everywhere.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from codex_pipeline.core.names import (
    DEFAULT_BOT_MENTION,
    DEFAULT_BRANCH_PREFIX,
    DEFAULT_IMPLEMENTATION_TRIGGER,
    PROGRESS_MARKER,
    check_prefix,
)
from codex_pipeline.core.names import DEFAULT_DISCORD_API_URL as DISCORD_API_URL
from codex_pipeline.errors import ConfigurationError


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not true or false")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _logins(raw: str) -> frozenset[str]:
    return frozenset(_github_login(login) for login in _csv(raw))


def _github_login(raw: str) -> str:
    from codex_pipeline.core.policy import login_problem

    value = raw.strip()
    problem = login_problem(value)
    if problem:
        raise ValueError(problem)
    return value.lower()


def _optional_login(raw: str) -> str | None:
    return _github_login(raw) if raw.strip() else None


def _ids(raw: str) -> frozenset[str]:
    return frozenset(_csv(raw))


def _optional(raw: str) -> str | None:
    return raw.strip() or None


def _phrase(raw: str) -> str:
    value = " ".join(raw.split()).lower()
    if not value:
        raise ValueError("expected a phrase such as 'execute plan', got nothing")
    return value


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):  # float() takes nan and inf; a timeout of either never fires or never waits
        raise ValueError("not a finite number")
    return value


def _positive_float(raw: str) -> float:
    value = _number(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = _number(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("not a whole number") from None


def _non_negative_int(raw: str) -> int:
    value = _whole(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _positive_int(raw: str) -> int:
    value = _whole(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _shell_words(raw: str) -> tuple[str, ...]:
    import shlex

    return tuple(shlex.split(raw))  # an unclosed quote raises ValueError: a configuration error


def _timeout(raw: str) -> float | None:
    """Seconds, 0 meaning no limit."""
    return _non_negative_float(raw) or None


# Codex's defaults, named here because the steps' CodexOptions starts from them too.
DEFAULT_MODEL = "gpt-5.1-codex-max"
DEFAULT_REASONING = "high"


def _database_url(raw: str) -> str:
    """The two backends open_store knows; checked here so a wrong URL stops start-up by name."""
    if raw.startswith(("sqlite://", "postgresql://", "postgres://")) or ("://" not in raw and "=" in raw):
        return raw
    raise ValueError("not a database this pipeline can use")


def _private_key(raw: str) -> str | None:
    """A PEM private key, checked by its armour only: parsing it would load cryptography (tens of
    ms of every effect function's cold start), and a key that is not PEM at all is the mistake
    that happens (a file path, a key id, a truncated paste)."""
    if not raw.strip():
        return None
    if "-----BEGIN " not in raw or "PRIVATE KEY-----" not in raw:
        raise ValueError("not a PEM private key")
    return raw


def _installation_id(raw: str) -> str | None:
    """A GitHub App installation id: a whole number (kept as text, as the auth takes it)."""
    if not raw.strip():
        return None
    _positive_int(raw)
    return raw.strip()


# What a valid value of each kind looks like, for the "fix" part of a configuration error.
_EXPECTED: dict[Callable[[str], Any], str] = {
    _positive_float: "a number of seconds greater than 0, e.g. 2.5",
    _non_negative_float: "a number of seconds, 0 or more, e.g. 5",
    _non_negative_int: "a whole number, 0 or more, e.g. 3",
    _positive_int: "a whole number greater than 0, e.g. 26214400",
    _database_url: "postgresql://user@host:5432/db or sqlite:///path/state.db",
    _phrase: "a phrase, e.g. execute plan",
    check_prefix: "a branch prefix ending with '/', e.g. codex/",
    _installation_id: "the number in the App installation's settings URL, e.g. 12345678",
    _private_key: "the App's .pem file contents (-----BEGIN RSA PRIVATE KEY----- ...), or set the _FILE variant",
    _bool: "true or false",
    _timeout: "a number of seconds, 0 or more (0: no limit), e.g. 10800",
    _shell_words: "arguments as a shell splits them, every quote closed, e.g. --profile ci",
}


def shown(value: str, *, secret: bool) -> str:
    """A value as an error message may print it: a secret's shape only, never its text."""
    if not secret:
        return repr(value)
    scheme = value.split("://", 1)[0] + "://…" if "://" in value else "…"
    return f"<secret {scheme}>" if value else "''"


# The two README tables a setting is documented in: the functions' "Configuration" and the
# "Workflow programs" (the steps and the verbs run inside the Codex container).
FUNCTIONS = "Configuration"
STEPS = "Workflow programs"


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: where a value comes from, how it is read, who reads it, and
    the README row that documents it (:func:`readme_rows`; a test holds the README to it)."""

    field: str
    env: str
    cast: Callable[[str], Any]
    default: Any
    help: str
    shown: str  # the README's "default" cell
    readers: frozenset[str]  # functions (func.yaml and SETTINGS_READ follow), steps and CLI verbs
    secret: bool = False
    section: str = FUNCTIONS
    blank_is_default: bool = False  # an empty value means "unset" (paths and names that cannot be empty)


def _setting(
    env: str,
    cast: Callable[[str], Any],
    default: Any,
    *,
    readers: str,
    shown: str,
    help: str,
    secret: bool = False,
    section: str = FUNCTIONS,
    blank_is_default: bool = False,
) -> Any:
    """A Settings field that carries its table row; the field name is filled in by :data:`SETTINGS`."""
    row = Setting("", env, cast, default, help, shown, frozenset(readers.split()), secret, section, blank_is_default)
    return field(default=default, repr=not secret, metadata={"setting": row})


@dataclass(frozen=True)
class Settings:
    """Every setting, each declared once: its type here, its row (variable, parser, default, README
    text, secrecy, readers) in the ``_setting`` call. Functions, steps and CLI verbs all read this."""

    webhook_secrets: tuple[str, ...] = _setting(
        "CODEX_WEBHOOK_SECRET",
        _csv,
        (),
        readers="ingest-webhook dev replay",
        shown="none: ingest refuses to start",
        help="GitHub webhook secret(s), comma-separated for rotation",
        secret=True,
    )
    webhook_allow_unsigned: bool = _setting(
        "CODEX_WEBHOOK_ALLOW_UNSIGNED",
        _bool,
        False,
        readers="ingest-webhook",
        shown="`false`",
        help="accept unsigned deliveries, only when no secret is set (local use only; a warning is logged for every "
        "delivery accepted so; a signature header that cannot be verified is still 401). A configured secret is "
        "always required",
    )
    webhook_max_bytes: int = _setting(
        "CODEX_WEBHOOK_MAX_BYTES",
        _positive_int,
        25 * 1024 * 1024,
        readers="ingest-webhook",
        shown="`26214400` (25 MiB)",
        help="largest webhook body accepted: 413 at once when `Content-Length` says more, or as soon as a chunked "
        "body passes it (read as it arrives, never buffered past it). The functions a broker calls cap bodies at "
        "26 MiB (fixed)",
    )
    sink: str | None = _setting(
        "K_SINK",
        _optional,
        None,
        readers="ingest-webhook",
        shown="none",
        help="where ingest-webhook emits (injected by the Knative SinkBinding)",
    )
    sink_timeout: float = _setting(
        "CODEX_SINK_TIMEOUT_SECONDS",
        _positive_float,
        2.0,
        readers="ingest-webhook route-task",
        shown="`2.0`",
        help="timeout of one emit attempt to a sink",
    )
    sink_attempts: int = _setting(
        "CODEX_SINK_ATTEMPTS",
        _non_negative_int,
        3,
        readers="ingest-webhook route-task",
        shown="`3`",
        help="emit attempts per event before answering 503",
    )
    sink_deadline: float = _setting(
        "CODEX_SINK_DEADLINE_SECONDS",
        _positive_float,
        8.0,
        readers="ingest-webhook route-task",
        shown="`8.0`",
        help="total time for every emit attempt of one delivery together (each attempt also bounded by the timeout "
        "above, both as wall-clock bounds, so a trickling sink is cut off too); then 503. Discord interactions "
        "use at most 2.5 s (Discord waits 3 s)",
    )
    tasks_sink: str | None = _setting(
        "CODEX_TASKS_SINK",
        _optional,
        None,
        readers="route-task",
        shown="none",
        help="where route-task emits protobuf tasks (`github.issues.codex.tasks`)",
    )
    tasks_json_sink: str | None = _setting(
        "CODEX_TASKS_JSON_SINK",
        _optional,
        None,
        readers="route-task",
        shown="none",
        help="where route-task emits JSON tasks (`github.codex.tasks`)",
    )
    trigger_logins: frozenset[str] = _setting(
        "CODEX_TRIGGER_LOGINS",
        _logins,
        frozenset(),
        readers="route-task",
        shown="empty (nobody)",
        help="GitHub logins allowed to trigger runs, comma-separated",
    )
    trigger_label: str | None = _setting(
        "CODEX_TRIGGER_LABEL",
        _optional,
        None,
        readers="route-task",
        shown="unset (off)",
        help="label that starts planning on `issues.labeled`",
    )
    planner_login: str | None = _setting(
        "CODEX_PLANNER_LOGIN",
        _optional_login,
        None,
        readers="dispatch-planning promote-plan route-task dev step progress-comment",
        shown="unset",
        help="the planner bot's login; only its plan comments promote an issue",
    )
    bot_mention: str = _setting(
        "CODEX_BOT_MENTION",
        str,
        DEFAULT_BOT_MENTION,
        readers="request-review route-task",
        shown="`@tuslagch`",
        help="the bot's mention; commands are written after it, anywhere in a line",
    )
    implementation_trigger: str = _setting(
        "CODEX_IMPLEMENTATION_TRIGGER",
        _phrase,
        DEFAULT_IMPLEMENTATION_TRIGGER,
        readers="route-task",
        shown="`execute plan`",
        help="phrase on a line of its own with which an allowed login promotes the latest plan",
    )
    branch_prefix: str = _setting(
        "CODEX_BRANCH_PREFIX",
        check_prefix,
        DEFAULT_BRANCH_PREFIX,
        readers="dispatch-planning request-review route-task step promote-plan",
        shown="`codex/`",
        help="prefix of the branches the pipeline creates and works on (router, steps and request-review)",
    )
    require_approval: bool = _setting(
        "CODEX_REQUIRE_APPROVAL",
        _bool,
        False,
        readers="route-task",
        shown="`false`",
        help="the planner's plan comment does not promote by itself: an allowed login's `execute plan` is needed",
    )
    database_url: str = _setting(
        "CODEX_DATABASE_URL",
        _database_url,
        "sqlite:///.codex-pipeline/state.db",
        readers="dispatch-planning promote-plan request-review migrate reconcile",
        shown="`sqlite:///.codex-pipeline/state.db`",
        help="`postgresql://…` or `sqlite:///path`",
        secret=True,
    )
    database_timeout: float = _setting(
        "CODEX_DATABASE_TIMEOUT_SECONDS",
        _positive_float,
        5.0,
        readers="dispatch-planning promote-plan request-review reconcile",
        shown="`5.0`",
        help="longest wait for a database connection before answering 503",
    )
    migrate_on_start: bool = _setting(
        "CODEX_MIGRATE_ON_START",
        _bool,
        True,
        readers="dispatch-planning promote-plan request-review",
        shown="`true`",
        help="apply pending store migrations when a function starts",
    )
    argo_submitter: str = _setting(
        "CODEX_ARGO_SUBMITTER",
        str,
        "dry-run",
        readers="dispatch-planning promote-plan request-review",
        shown="`dry-run`",
        help="`kubernetes` or `dry-run`",
    )
    dry_run_dir: str = _setting(
        "CODEX_DRY_RUN_DIR",
        str,
        ".codex-pipeline/workflows",
        readers="dispatch-planning promote-plan request-review",
        shown="`.codex-pipeline/workflows`",
        help="where the dry-run submitter writes Workflow objects",
    )
    workflow_namespace: str = _setting(
        "CODEX_WORKFLOW_NAMESPACE",
        str,
        "argo-workflows",
        readers="dispatch-planning promote-plan request-review step",
        shown="`argo-workflows`",
        help="namespace of submitted Workflows",
    )
    argo_ui_url: str | None = _setting(
        "CODEX_ARGO_UI_URL",
        _optional,
        None,
        readers="step promote-plan request-review",
        shown="unset (no details link)",
        help="Argo UI workflow page, the details link of the runs' check runs (promote-plan and request-review queue "
        "them and pass it to the run as the Workflow parameter `argoUiUrl`); `{namespace}` and `{workflow}` are "
        "filled in",
    )
    kubeconfig: str | None = _setting(
        "CODEX_KUBECONFIG",
        _optional,
        None,
        readers="dispatch-planning promote-plan request-review",
        shown="unset",
        help="kubeconfig for the kubernetes submitter (else in-cluster, then `~/.kube/config`)",
    )
    planning_enabled: bool = _setting(
        "CODEX_PLANNING_ENABLED",
        _bool,
        True,
        readers="dispatch-planning",
        shown="`true`",
        help="submit planning runs; `false` logs planning tasks and answers 202 `deferred`",
    )
    github_token: str | None = _setting(
        "CODEX_GITHUB_TOKEN",
        _optional,
        None,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="none",
        help="GitHub token",
        secret=True,
    )
    github_app_id: str | None = _setting(
        "CODEX_GITHUB_APP_ID",
        _optional,
        None,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="none",
        help="GitHub App id (with the private key, instead of a token)",
    )
    github_app_private_key: str | None = _setting(
        "CODEX_GITHUB_APP_PRIVATE_KEY",
        _private_key,
        None,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="none",
        help="GitHub App private key (PEM)",
        secret=True,
    )
    github_api_url: str = _setting(
        "CODEX_GITHUB_API_URL",
        str,
        "https://api.github.com",
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="`https://api.github.com`",
        help="GitHub REST base (GraphQL at `/graphql`); GitHub Enterprise works (`https://HOST/api/v3`, GraphQL then "
        "at `/api/graphql`)",
    )
    github_app_installation_id: str | None = _setting(
        "CODEX_GITHUB_APP_INSTALLATION_ID",
        _installation_id,
        None,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="looked up per repository owner",
        help="GitHub App installation id",
    )
    github_timeout: float = _setting(
        "CODEX_GITHUB_TIMEOUT_SECONDS",
        _positive_float,
        10.0,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="`10`",
        help="timeout of one GitHub API call",
    )
    github_max_wait: float = _setting(
        "CODEX_GITHUB_MAX_WAIT_SECONDS",
        _non_negative_float,
        5.0,
        readers="dispatch-planning promote-plan request-review reconcile step progress-comment",
        shown="`5`",
        help="longest GitHub rate-limit wait slept through; longer waits answer 503 with `Retry-After`",
    )
    reconcile_hook: str | None = _setting(
        "CODEX_RECONCILE_HOOK",
        _optional,
        None,
        readers="reconcile",
        shown="unset (`reconcile` asks for `--hook`)",
        help="the webhook `codex-pipeline reconcile` checks: `owner/name:HOOK_ID` (repository hook) or `app` (the "
        "GitHub App's hook)",
    )
    reconcile_max_redeliveries: int = _setting(
        "CODEX_RECONCILE_MAX_REDELIVERIES",
        _non_negative_int,
        20,
        readers="reconcile",
        shown="`20`",
        help="most redeliveries one `reconcile` run asks GitHub for",
    )
    reconcile_max_per_event: int = _setting(
        "CODEX_RECONCILE_MAX_PER_EVENT",
        _non_negative_int,
        3,
        readers="reconcile",
        shown="`3`",
        help="most redeliveries of one event (GUID) ever, so a payload ingest always refuses is let go",
    )
    log_level: str = _setting(
        "CODEX_LOG_LEVEL",
        str,
        "INFO",
        readers="dispatch-planning ingest-webhook promote-plan request-review route-task step discord-channel",
        shown="`INFO`",
        help="log level of the JSON logs",
    )
    oidc_audience: str | None = _setting(
        "CODEX_OIDC_AUDIENCE",
        _optional,
        None,
        readers="dispatch-planning promote-plan request-review route-task",
        shown="unset (no sender check)",
        help="route-task, dispatch-planning, promote-plan and request-review require a Knative Eventing OIDC sender "
        "token (`Authorization: Bearer`) for this audience; 401 without, 403 for a sender not in "
        "`CODEX_OIDC_SUBJECTS`, 503 while the keys cannot be fetched (see SECURITY.md)",
    )
    oidc_issuer: str = _setting(
        "CODEX_OIDC_ISSUER",
        str,
        "https://kubernetes.default.svc.cluster.local",
        readers="dispatch-planning promote-plan request-review route-task",
        shown="`https://kubernetes.default.svc.cluster.local`",
        help="the `iss` the sender tokens carry (`kubectl get --raw /.well-known/openid-configuration`)",
    )
    oidc_jwks_url: str | None = _setting(
        "CODEX_OIDC_JWKS_URL",
        _optional,
        None,
        readers="dispatch-planning promote-plan request-review route-task",
        shown="`https://kubernetes.default.svc/openid/v1/jwks`",
        help="the issuer's signing keys (fetched with the pod's service-account token and CA for the API server; "
        "cached, re-fetched for an unknown key id)",
    )
    oidc_subjects: frozenset[str] = _setting(
        "CODEX_OIDC_SUBJECTS",
        _ids,
        frozenset(),
        readers="dispatch-planning promote-plan request-review route-task",
        shown="empty (any valid token for the audience)",
        help="allowed senders, comma-separated `system:serviceaccount:<namespace>:<name>` (the Triggers' OIDC service "
        "accounts)",
    )
    discord_public_key: str | None = _setting(
        "CODEX_DISCORD_PUBLIC_KEY",
        _optional,
        None,
        readers="ingest-webhook",
        shown="unset (`/discord/interactions` answers 404)",
        help="Discord application public key (hex) that signs interactions",
    )
    discord_allowed_users: frozenset[str] = _setting(
        "CODEX_DISCORD_ALLOWED_USERS",
        _ids,
        frozenset(),
        readers="ingest-webhook route-task",
        shown="empty",
        help="Discord user ids allowed to request a plan with `/plan`, comma-separated",
    )
    discord_allowed_roles: frozenset[str] = _setting(
        "CODEX_DISCORD_ALLOWED_ROLES",
        _ids,
        frozenset(),
        readers="ingest-webhook route-task",
        shown="empty",
        help="Discord role ids whose members may request a plan, comma-separated (both empty = nobody)",
    )
    discord_repository: str | None = _setting(
        "CODEX_DISCORD_REPOSITORY",
        _optional,
        None,
        readers="route-task",
        shown="unset (`/plan` requests are ignored)",
        help="`owner/name` of the repository `/plan` opens issues in",
    )
    discord_api_url: str = _setting(
        "CODEX_DISCORD_API_URL",
        str,
        DISCORD_API_URL,
        readers="dispatch-planning",
        shown="`https://discord.com/api/v10`",
        help="Discord REST base for the interaction follow-up message",
    )

    # -- read by the steps and the verbs run in the Codex container (README "Workflow programs")
    codex_bin: str = _setting(
        "CODEX_BIN",
        str,
        "codex",
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`codex`",
        help="the Codex CLI executable",
    )
    codex_model: str | None = _setting(
        "CODEX_MODEL",
        _optional,
        DEFAULT_MODEL,
        readers="step",
        section=STEPS,
        shown=f"`{DEFAULT_MODEL}`",
        help="`--model` of `codex exec` (flag `--model`)",
    )
    codex_reasoning: str | None = _setting(
        "CODEX_REASONING",
        _optional,
        DEFAULT_REASONING,
        readers="step",
        section=STEPS,
        shown=f"`{DEFAULT_REASONING}`",
        help="`-c model_reasoning_effort=…` (flag `--reasoning`)",
    )
    codex_search: bool = _setting(
        "CODEX_SEARCH",
        _bool,
        True,
        readers="step",
        section=STEPS,
        shown="`true`",
        help="`-c tools.web_search=true` (flag `--search/--no-search`)",
    )
    codex_yolo: bool = _setting(
        "CODEX_YOLO",
        _bool,
        True,
        readers="step",
        section=STEPS,
        shown="`true`",
        help="`--dangerously-bypass-approvals-and-sandbox` (flag `--yolo/--no-yolo`)",
    )
    codex_extra_args: tuple[str, ...] = _setting(
        "CODEX_EXTRA_ARGS",
        _shell_words,
        (),
        readers="step",
        section=STEPS,
        shown="empty",
        help="more `codex exec` arguments, shell-split (flag `--codex-arg`, repeatable)",
    )
    codex_timeout: float | None = _setting(
        "CODEX_TIMEOUT_SECONDS",
        _timeout,
        3 * 60 * 60.0,
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`10800`",
        help="Codex is killed after this long and the step fails with a recap",
    )
    model_api_url: str = _setting(
        "CODEX_MODEL_API_URL",
        str,
        "https://api.openai.com/v1",
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`https://api.openai.com/v1`",
        help="where the model proxy forwards (an OpenAI Responses API)",
    )
    agent_user: str | None = _setting(
        "CODEX_AGENT_USER",
        _optional,
        None,
        readers="step",
        section=STEPS,
        shown="unset (image: `codex`)",
        help="user (`name`, `uid` or `uid:gid`, never root) Codex runs as; the step must then be root; unset: "
        "Codex runs as the step's user",
    )
    agent_env: tuple[str, ...] = _setting(
        "CODEX_AGENT_ENV",
        _csv,
        (),
        readers="step",
        section=STEPS,
        shown="empty",
        help="comma-separated names of more variables passed to Codex, whose environment is otherwise only "
        "`PATH`, locale, time zone, proxy and CA settings and its own `HOME`",
    )
    workdir: str = _setting(
        "CODEX_WORKDIR",
        str,
        "/workspace/lab",
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`/workspace/lab` (the templates' checkout path)",
        help="where the repository is checked out and the `.codex-*` files are written",
    )
    git_url: str = _setting(
        "CODEX_GIT_URL",
        str,
        "https://github.com",
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`https://github.com`",
        help="git host; may hold `{repo}` (e.g. `file:///srv/git/{repo}.git`); `--remote-url` overrides",
    )
    progress_marker: str = _setting(
        "CODEX_PROGRESS_COMMENT_MARKER",
        str,
        PROGRESS_MARKER,
        readers="step progress-comment",
        section=STEPS,
        blank_is_default=True,
        shown=f"`{PROGRESS_MARKER}`",
        help="marker of the progress comment",
    )
    progress_interval: float = _setting(
        "CODEX_PROGRESS_INTERVAL_SECONDS",
        _non_negative_float,
        30.0,
        readers="step",
        section=STEPS,
        blank_is_default=True,
        shown="`30`",
        help="least time between edits of the progress comment while Codex works (milestones are posted at once)",
    )
    progress_log_path: str | None = _setting(
        "CODEX_PROGRESS_COMMENT_LOG_PATH",
        _optional,
        None,
        readers="progress-comment",
        section=STEPS,
        shown="unset",
        help="`progress-comment` appends one line per action here",
    )
    discord_bot_api_url: str = _setting(
        "DISCORD_API_URL",
        str,
        DISCORD_API_URL,
        readers="step discord-channel",
        section=STEPS,
        blank_is_default=True,
        shown=f"`{DISCORD_API_URL}`",
        help="Discord REST base",
    )
    artifact_bucket: str = _setting(
        "CODEX_ARTIFACT_BUCKET",
        str,
        "argo-artifacts",
        readers="transcripts",
        section=STEPS,
        blank_is_default=True,
        shown="`argo-artifacts`",
        help="`transcripts`: bucket of the Argo artifact repository",
    )
    artifact_endpoint: str | None = _setting(
        "CODEX_ARTIFACT_ENDPOINT",
        _optional,
        None,
        readers="transcripts",
        section=STEPS,
        shown="AWS",
        help="`transcripts`: S3 endpoint, e.g. `http://minio.argo-workflows:9000` (credentials: "
        "`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`)",
    )
    artifact_region: str = _setting(
        "CODEX_ARTIFACT_REGION",
        str,
        "us-east-1",
        readers="transcripts",
        section=STEPS,
        blank_is_default=True,
        shown="`us-east-1`",
        help="`transcripts`: S3 region of the artifact store",
    )
    artifact_key_prefix: str = _setting(
        "CODEX_ARTIFACT_KEY_PREFIX",
        str,
        "{workflow}/",
        readers="transcripts",
        section=STEPS,
        blank_is_default=True,
        shown="`{workflow}/`",
        help="`transcripts`: key prefix of a run's artifacts (Argo's default key format)",
    )

    # The spec's variable names this process was configured through (see ALIASES); not a setting.
    aliases_used: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        planner = (self.planner_login or "").lower()
        if planner and planner in self.trigger_logins:
            # A bot that may trigger itself loops: its own comments would start new runs.
            raise ConfigurationError(
                f"CODEX_PLANNER_LOGIN {self.planner_login!r} is also in CODEX_TRIGGER_LOGINS; "
                "the planner's own login must never be a trigger login"
            )
        if self.argo_submitter not in ("kubernetes", "dry-run"):
            raise ConfigurationError(
                f"CODEX_ARGO_SUBMITTER must be 'kubernetes' or 'dry-run', got {self.argo_submitter!r}"
            )


# The table: one row per Settings field, in declaration order.
SETTINGS: tuple[Setting, ...] = tuple(
    replace(f.metadata["setting"], field=f.name) for f in fields(Settings) if "setting" in f.metadata
)


# The spec's names for our settings: read when ours is not set (ours win when both are), and each
# one used is named in a start-up log line (:func:`alias_notes`) so the operator can rename it.
ALIASES: dict[str, str] = {
    "CODEX_TRIGGER_LOGIN": "CODEX_TRIGGER_LOGINS",
    "CODEX_WORKFLOW_LOGIN": "CODEX_PLANNER_LOGIN",
}


def alias_notes(settings: Settings) -> list[str]:
    """One start-up line per spec alias the settings were read through."""
    notes = []
    for alias in settings.aliases_used:
        ours = ALIASES[alias]
        notes.append(
            f"{alias} is the spec's name for {ours}; it was read because {ours} is unset "
            f"(rename it to {ours}; when both are set {ours} wins)"
        )
    return notes


def _read_file_setting(path: str, env: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigurationError(f"{env}_FILE={path!r} cannot be read: {exc.strerror}") from None


def _load_yaml(path: str) -> Mapping[str, Any]:
    import yaml  # only when a config file is used

    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigurationError(f"CODEX_CONFIG_FILE={path!r} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"CODEX_CONFIG_FILE={path!r} is not valid YAML: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise ConfigurationError(f"CODEX_CONFIG_FILE={path!r} must hold a mapping of settings")
    return loaded


def _yaml_value_to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def load_settings(
    environ: Mapping[str, str] | None = None, *, only: Collection[str] | None = None, **overrides: Any
) -> Settings:
    """Read every setting once; a wrong value raises ConfigurationError naming the variable.

    ``only`` (variable names) reads just those, the rest keeping their defaults: a helper that needs
    one value (a step's ``CODEX_AGENT_ENV``) neither reads nor judges the others' files."""
    env = os.environ if environ is None else environ
    file_values: Mapping[str, Any] = {}
    if env.get("CODEX_CONFIG_FILE"):
        file_values = _load_yaml(env["CODEX_CONFIG_FILE"])
    known = {s.env for s in SETTINGS} | {s.field for s in SETTINGS} | set(ALIASES)
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise ConfigurationError(f"CODEX_CONFIG_FILE has unknown settings: {', '.join(unknown)}")

    values: dict[str, Any] = {}
    aliases_used: list[str] = []
    alias_of = {ours: alias for alias, ours in ALIASES.items()}
    if only is not None and not set(only) <= set(setting_names()):
        raise ValueError(f"not settings: {sorted(set(only) - set(setting_names()))}")  # a caller's typo
    for setting in SETTINGS if only is None else [s for s in SETTINGS if s.env in only]:
        raw: str | None = None
        alias = alias_of.get(setting.env)
        if setting.env in env:
            raw = env[setting.env]
        elif env.get(f"{setting.env}_FILE"):
            raw = _read_file_setting(env[f"{setting.env}_FILE"], setting.env)
        elif setting.env in file_values:
            raw = _yaml_value_to_text(file_values[setting.env])
        elif setting.field in file_values:
            raw = _yaml_value_to_text(file_values[setting.field])
        elif alias and (alias in env or alias in file_values):
            raw = env[alias] if alias in env else _yaml_value_to_text(file_values[alias])
            aliases_used.append(alias)
        if raw is None or (setting.blank_is_default and not raw.strip()):
            continue
        try:
            values[setting.field] = setting.cast(raw)
        except ValueError as exc:
            expected = _EXPECTED.get(setting.cast)
            fix = f"; set it to {expected}" if expected else ""
            name = alias if aliases_used and aliases_used[-1] == alias else setting.env
            raise ConfigurationError(f"{name}={shown(raw, secret=setting.secret)}: {exc}{fix}") from None
    values.update(overrides)
    values.setdefault("aliases_used", tuple(aliases_used))
    return Settings(**values)


def configured_names(environ: Mapping[str, str]) -> frozenset[str]:
    """The settings given a value (not empty) by ``environ``, a ``_FILE`` or the YAML file, not by a default."""
    path = environ.get("CODEX_CONFIG_FILE")
    file_values: Mapping[str, Any] = _load_yaml(path) if path else {}
    return frozenset(
        s.env
        for s in SETTINGS
        if environ.get(s.env) or environ.get(f"{s.env}_FILE") or s.env in file_values or s.field in file_values
    )


def setting_names() -> list[str]:
    """Every environment variable a Settings field is read from."""
    return [s.env for s in SETTINGS]


def read_by(reader: str) -> frozenset[str]:
    """The variables ``reader`` (a function, ``step`` or a CLI verb) reads: a function's
    ``SETTINGS_READ``, which ``codex-pipeline lint`` holds its func.yaml ``run.envs`` to."""
    return frozenset(s.env for s in SETTINGS if reader in s.readers)


def readme_row(setting: Setting) -> str:
    """The README table row of a setting, as the table declares it."""
    return f"| `{setting.env}` | {setting.shown} | {setting.help} |"


# Variables the README tables name that are not settings of this table, and why.
OTHER_VARIABLES: dict[str, str] = {
    "CODEX_CONFIG_FILE": "names the YAML file the settings are read from",
    "THREADS": "functions-framework's own (local runs only)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "OpenTelemetry's own, read by its exporter (and metrics.setup)",
    "CODEX_METRICS_DIR": "set by codex-pipeline dev for its processes; read by metrics.setup before any settings",
    "ISSUE_REPO": "an input the templates pass, not a setting",
    "ISSUE_NUMBER": "an input the templates pass, not a setting",
    # Credentials the steps read with steps.secretfiles (each also as a _FILE, never from the YAML
    # file): the spec's and other tools' names are accepted beside ours.
    "GITHUB_TOKEN": "credential (steps): fallback for CODEX_GITHUB_TOKEN",
    "GH_TOKEN": "credential (steps): fallback for CODEX_GITHUB_TOKEN",
    "CODEX_API_KEY": "credential (steps): the model API key",
    "OPENAI_API_KEY": "credential (steps): fallback for CODEX_API_KEY",
    "DISCORD_BOT_TOKEN": "credential (steps, discord-channel)",
    "DISCORD_GUILD_ID": "credential (steps, discord-channel)",
    "DISCORD_CATEGORY_ID": "credential (steps, discord-channel)",
}
