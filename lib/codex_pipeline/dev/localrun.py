"""What a workflow run on a laptop gets instead of its pod's: commands, settings, secrets, Codex.

In the cluster the runner image has ``codex-pipeline`` and the Codex CLI, and the secrets the
templates name (``github-token``, ``codex-openai``, ``discord-codex-bot``) come from Kubernetes.
Here they come from dev: this installation's ``codex-pipeline``, the GitHub dev talks to (the
stand-in's token, or the configured one), the local git remotes, and a Codex:

- a ``codex`` executable (``CODEX_BIN``, else ``codex`` on PATH) with ``OPENAI_API_KEY`` (or
  ``CODEX_API_KEY``) set runs the real Codex;
- otherwise the demo Codex (:mod:`codex_pipeline.dev.demo_codex`) runs, and the live view says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from codex_pipeline.dev import demo_codex
from codex_pipeline.dev.executor import Settings

PASSED_THROUGH = (
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "CODEX_LOG_LEVEL",
    "CODEX_GITHUB_API_URL",
    "CODEX_GIT_URL",
    "CODEX_TIMEOUT_SECONDS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
)


def choose_codex(environ: Mapping[str, str], state: Path) -> tuple[str, str | None, str, str]:
    """(binary, API key or None, how the live view names it, why this one)."""
    from codex_pipeline.shell.config import load_settings

    # CODEX_BIN through the settings table (its _FILE and the YAML file too), found on PATH as a shell would.
    binary = shutil.which(load_settings(environ, only={"CODEX_BIN"}).codex_bin, path=environ.get("PATH"))
    key = environ.get("OPENAI_API_KEY") or environ.get("CODEX_API_KEY")
    if binary and key:
        return binary, key, "Codex", f"the Codex CLI {binary} with the API key from the environment"
    why = f"{binary} is there but OPENAI_API_KEY is not set" if binary else "no codex executable (CODEX_BIN or PATH)"
    return str(demo_codex.install(state / "bin")), None, "demo Codex", f"the {demo_codex.NAME}: {why}"


def settings(
    environ: Mapping[str, str],
    state: Path,
    *,
    github_token: str | None,
    extra: Mapping[str, str],
    github_app: tuple[str, str] | None = None,
) -> Settings:
    """The run settings: ``extra`` (the stand-in's API URL, the git remotes) wins over ``environ``."""
    binary, key, label, why = choose_codex(environ, state)
    bin_dir = str(Path(sys.executable).parent)
    env = {name: environ[name] for name in PASSED_THROUGH if environ.get(name)}
    env.update(
        {
            "PATH": os.pathsep.join([bin_dir, environ.get("PATH") or os.defpath]),
            "PYTHONUNBUFFERED": "1",
            "CODEX_BIN": binary,
            **extra,
        }
    )
    secrets: dict[str, dict[str, str]] = {}
    if github_token:
        secrets["github-token"] = {"token": github_token}
    if github_app:  # the optional App of the templates (check runs): id and private key
        secrets["codex-github-app"] = {"app-id": github_app[0], "private-key": github_app[1]}
    if key:
        secrets["codex-openai"] = {"api-key": key}
    discord = {
        "bot-token": environ.get("DISCORD_BOT_TOKEN"),
        "guild-id": environ.get("DISCORD_GUILD_ID"),
        "category-id": environ.get("DISCORD_CATEGORY_ID"),
    }
    if discord["bot-token"] and discord["guild-id"]:
        secrets["discord-codex-bot"] = {k: v for k, v in discord.items() if v}
    local_cli = Path(bin_dir) / "codex-pipeline"
    commands = {"codex-pipeline": str(local_cli)} if local_cli.is_file() else {}
    return Settings(env=env, secrets=secrets, commands=commands, codex=label, codex_why=why)
