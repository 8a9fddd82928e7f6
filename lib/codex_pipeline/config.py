"""One frozen settings object per process, read from env and an optional YAML file.

Precedence: environment variable > ``<VAR>_FILE`` (a mounted secret file) > the YAML file
named by ``CODEX_CONFIG_FILE`` (keys are the variable names, or the field names) > default.
Every setting is declared once in :data:`SETTINGS`; the README's configuration table is
checked against it by a test, so documentation cannot drift from code.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from codex_pipeline.discord_rest import DEFAULT_API_URL as DISCORD_API_URL
from codex_pipeline.errors import ConfigurationError
from codex_pipeline.names import DEFAULT_BRANCH_PREFIX, DEFAULT_IMPLEMENTATION_TRIGGER, check_prefix


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _logins(raw: str) -> frozenset[str]:
    return frozenset(_github_login(login) for login in _csv(raw))


def _github_login(raw: str) -> str:
    from codex_pipeline.policy import login_problem

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


# What a valid value of each kind looks like, for the "fix" part of a configuration error.
_EXPECTED: dict[Callable[[str], Any], str] = {
    _positive_float: "a number of seconds greater than 0, e.g. 2.5",
    _non_negative_float: "a number of seconds, 0 or more, e.g. 5",
    _non_negative_int: "a whole number, 0 or more, e.g. 3",
    _positive_int: "a whole number greater than 0, e.g. 26214400",
    _database_url: "postgresql://user@host:5432/db or sqlite:///path/state.db",
    _phrase: "a phrase, e.g. execute plan",
    check_prefix: "a branch prefix ending with '/', e.g. codex/",
    _private_key: "the App's .pem file contents (-----BEGIN RSA PRIVATE KEY----- ...), or set the _FILE variant",
}


def shown(value: str, *, secret: bool) -> str:
    """A value as an error message may print it: a secret's shape only, never its text."""
    if not secret:
        return repr(value)
    scheme = value.split("://", 1)[0] + "://…" if "://" in value else "…"
    return f"<secret {scheme}>" if value else "''"


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    cast: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False


# The single declaration of every setting. Add a row here, a field to Settings, and a row
# to the README table (a test compares the three).
SETTINGS: tuple[Setting, ...] = (
    Setting("webhook_secrets", "CODEX_WEBHOOK_SECRET", _csv, (),
            "GitHub webhook secret(s), comma-separated for rotation", secret=True),
    Setting("webhook_allow_unsigned", "CODEX_WEBHOOK_ALLOW_UNSIGNED", _bool, False,
            "accept unsigned deliveries (local use only; logged loudly)"),
    Setting("webhook_max_bytes", "CODEX_WEBHOOK_MAX_BYTES", _positive_int, 25 * 1024 * 1024,
            "largest webhook body accepted (GitHub caps payloads at 25 MiB)"),
    Setting("sink", "K_SINK", _optional, None, "where ingest-webhook emits (Knative SinkBinding)"),
    Setting("sink_timeout", "CODEX_SINK_TIMEOUT_SECONDS", _positive_float, 2.0,
            "timeout of one emit attempt to a sink"),
    Setting("sink_attempts", "CODEX_SINK_ATTEMPTS", _non_negative_int, 3,
            "emit attempts per event before answering 503"),
    Setting("sink_deadline", "CODEX_SINK_DEADLINE_SECONDS", _positive_float, 8.0,
            "total time for all emit attempts of one delivery before answering 503 (GitHub waits 10 s)"),
    Setting("tasks_sink", "CODEX_TASKS_SINK", _optional, None, "where route-task emits protobuf tasks"),
    Setting("tasks_json_sink", "CODEX_TASKS_JSON_SINK", _optional, None,
            "where route-task emits JSON tasks"),
    Setting("trigger_logins", "CODEX_TRIGGER_LOGINS", _logins, frozenset(),
            "GitHub logins allowed to trigger runs (empty = nobody)"),
    Setting("trigger_label", "CODEX_TRIGGER_LABEL", _optional, None,
            "label that starts planning on issues.labeled (off when unset)"),
    Setting("planner_login", "CODEX_PLANNER_LOGIN", _optional_login, None,
            "the planner bot's login; only its plan comments promote an issue"),
    Setting("bot_mention", "CODEX_BOT_MENTION", str, "@tuslagch",
            "the bot's mention; commands are written after it, anywhere in a line"),
    Setting("implementation_trigger", "CODEX_IMPLEMENTATION_TRIGGER", _phrase, DEFAULT_IMPLEMENTATION_TRIGGER,
            "phrase on a line of its own with which an allowed login promotes the latest plan"),
    Setting("branch_prefix", "CODEX_BRANCH_PREFIX", check_prefix, DEFAULT_BRANCH_PREFIX,
            "prefix of the branches the pipeline creates and works on"),
    Setting("require_approval", "CODEX_REQUIRE_APPROVAL", _bool, False,
            "the planner's plan comment does not promote by itself: an allowed login's execute plan is needed"),
    Setting("database_url", "CODEX_DATABASE_URL", _database_url, "sqlite:///.codex-pipeline/state.db",
            "postgresql://... or sqlite:///path", secret=True),
    Setting("database_timeout", "CODEX_DATABASE_TIMEOUT_SECONDS", _positive_float, 5.0,
            "longest wait for a database connection before answering 503"),
    Setting("migrate_on_start", "CODEX_MIGRATE_ON_START", _bool, True,
            "apply pending store migrations when a function starts"),
    Setting("argo_submitter", "CODEX_ARGO_SUBMITTER", str, "dry-run", "kubernetes or dry-run"),
    Setting("dry_run_dir", "CODEX_DRY_RUN_DIR", str, ".codex-pipeline/workflows",
            "where the dry-run submitter writes Workflow objects"),
    Setting("workflow_namespace", "CODEX_WORKFLOW_NAMESPACE", str, "argo-workflows",
            "namespace of submitted Workflows"),
    Setting("argo_ui_url", "CODEX_ARGO_UI_URL", _optional, None,
            "Argo UI workflow page for check-run details links, with {namespace} and {workflow}"),
    Setting("kubeconfig", "CODEX_KUBECONFIG", _optional, None,
            "kubeconfig path for the kubernetes submitter (default: in-cluster, then ~/.kube/config)"),
    Setting("planning_enabled", "CODEX_PLANNING_ENABLED", _bool, True,
            "submit planning runs; false logs planning tasks and answers 202 deferred"),
    Setting("github_token", "CODEX_GITHUB_TOKEN", _optional, None, "GitHub token", secret=True),
    Setting("github_app_id", "CODEX_GITHUB_APP_ID", _optional, None, "GitHub App id"),
    Setting("github_app_private_key", "CODEX_GITHUB_APP_PRIVATE_KEY", _private_key, None,
            "GitHub App private key (PEM)", secret=True),
    Setting("github_api_url", "CODEX_GITHUB_API_URL", str, "https://api.github.com",
            "GitHub REST base (GraphQL at /graphql)"),
    Setting("github_app_installation_id", "CODEX_GITHUB_APP_INSTALLATION_ID", _optional, None,
            "GitHub App installation id (default: looked up per repository owner)"),
    Setting("github_timeout", "CODEX_GITHUB_TIMEOUT_SECONDS", _positive_float, 10.0,
            "timeout of one GitHub API call"),
    Setting("github_max_wait", "CODEX_GITHUB_MAX_WAIT_SECONDS", _non_negative_float, 5.0,
            "longest GitHub rate-limit wait slept through; longer waits answer 503 with Retry-After"),
    Setting("reconcile_hook", "CODEX_RECONCILE_HOOK", _optional, None,
            "the webhook `reconcile` checks: owner/name:HOOK_ID, or app for the GitHub App's webhook"),
    Setting("reconcile_max_redeliveries", "CODEX_RECONCILE_MAX_REDELIVERIES", _non_negative_int, 20,
            "most redeliveries one `reconcile` run asks GitHub for"),
    Setting("reconcile_max_per_event", "CODEX_RECONCILE_MAX_PER_EVENT", _non_negative_int, 3,
            "most redeliveries of one event (GUID) ever, so a payload ingest always refuses is let go"),
    Setting("log_level", "CODEX_LOG_LEVEL", str, "INFO", "log level"),
    Setting("oidc_audience", "CODEX_OIDC_AUDIENCE", _optional, None,
            "require a Knative Eventing OIDC sender token with this audience (internal functions; off when unset)"),
    Setting("oidc_issuer", "CODEX_OIDC_ISSUER", str, "https://kubernetes.default.svc.cluster.local",
            "issuer (iss) the sender tokens must carry: the cluster's service-account issuer"),
    Setting("oidc_jwks_url", "CODEX_OIDC_JWKS_URL", _optional, None,
            "where the issuer's signing keys are (default: the API server's /openid/v1/jwks)"),
    Setting("oidc_subjects", "CODEX_OIDC_SUBJECTS", _ids, frozenset(),
            "senders (sub) allowed, comma-separated; empty = any valid token for the audience"),
    Setting("discord_public_key", "CODEX_DISCORD_PUBLIC_KEY", _optional, None,
            "Discord application public key (hex); enables /discord/interactions on ingest-webhook"),
    Setting("discord_allowed_users", "CODEX_DISCORD_ALLOWED_USERS", _ids, frozenset(),
            "Discord user ids allowed to request a plan with /plan (empty = nobody)"),
    Setting("discord_allowed_roles", "CODEX_DISCORD_ALLOWED_ROLES", _ids, frozenset(),
            "Discord role ids whose members may request a plan with /plan"),
    Setting("discord_repository", "CODEX_DISCORD_REPOSITORY", _optional, None,
            "owner/name of the repository /plan requests open issues in"),
    Setting("discord_api_url", "CODEX_DISCORD_API_URL", str, DISCORD_API_URL,
            "Discord REST base for interaction follow-up messages"),
)


@dataclass(frozen=True)
class Settings:
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_allow_unsigned: bool = False
    webhook_max_bytes: int = 25 * 1024 * 1024
    sink: str | None = None
    sink_timeout: float = 2.0
    sink_attempts: int = 3
    sink_deadline: float = 8.0
    tasks_sink: str | None = None
    tasks_json_sink: str | None = None
    trigger_logins: frozenset[str] = frozenset()
    trigger_label: str | None = None
    planner_login: str | None = None
    bot_mention: str = "@tuslagch"
    implementation_trigger: str = DEFAULT_IMPLEMENTATION_TRIGGER
    branch_prefix: str = DEFAULT_BRANCH_PREFIX
    require_approval: bool = False
    database_url: str = field(default="sqlite:///.codex-pipeline/state.db", repr=False)
    database_timeout: float = 5.0
    migrate_on_start: bool = True
    argo_submitter: str = "dry-run"
    dry_run_dir: str = ".codex-pipeline/workflows"
    workflow_namespace: str = "argo-workflows"
    argo_ui_url: str | None = None
    kubeconfig: str | None = None
    planning_enabled: bool = True
    github_token: str | None = field(default=None, repr=False)
    github_app_id: str | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    github_app_installation_id: str | None = None
    github_timeout: float = 10.0
    github_max_wait: float = 5.0
    reconcile_hook: str | None = None
    reconcile_max_redeliveries: int = 20
    reconcile_max_per_event: int = 3
    log_level: str = "INFO"
    oidc_audience: str | None = None
    oidc_issuer: str = "https://kubernetes.default.svc.cluster.local"
    oidc_jwks_url: str | None = None
    oidc_subjects: frozenset[str] = frozenset()
    discord_public_key: str | None = None
    discord_allowed_users: frozenset[str] = frozenset()
    discord_allowed_roles: frozenset[str] = frozenset()
    discord_repository: str | None = None
    discord_api_url: str = DISCORD_API_URL
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
        notes.append(f"{alias} is the spec's name for {ours}; it was read because {ours} is unset "
                     f"(rename it to {ours}; when both are set {ours} wins)")
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


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read every setting once; a wrong value raises ConfigurationError naming the variable."""
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
    for setting in SETTINGS:
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
        if raw is None:
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


def setting_names() -> list[str]:
    """Every environment variable a Settings field is read from."""
    declared = {f.name for f in fields(Settings)} - {"aliases_used"}
    return [s.env for s in SETTINGS if s.field in declared]
