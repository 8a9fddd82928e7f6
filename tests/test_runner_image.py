"""The runner image runs exactly the commands the WorkflowTemplates call, and every one is a real verb.

`codex-pipeline lint` checks the first word after ``codex-pipeline``; here the whole argument list
a template (or the Dockerfile's documentation) passes must parse, sub-verb and flags included,
with ``{{…}}`` placeholders standing in for their values.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from codex_pipeline.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "workflows" / "runner" / "Dockerfile"
PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")


def _documented_commands() -> list[list[str]]:
    commands = []
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"#\s+(codex-pipeline .*?)\s*(?:\(.*)?$", line)
        if match and "/" not in match.group(1):
            commands.append(shlex.split(match.group(1))[1:])
    return commands


def _template_commands() -> Iterator[tuple[str, list[str]]]:
    for path in sorted((ROOT / "workflows").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            yield from ((path.name, args) for args in _walk(doc))


def _walk(node: Any) -> Iterator[list[str]]:
    if isinstance(node, dict):
        command = [str(word) for word in node.get("command") or []] if isinstance(node.get("command"), list) else []
        starts = [i for i, word in enumerate(command) if word.rsplit("/", 1)[-1] == "codex-pipeline"]
        if starts:
            yield command[starts[0] + 1 :] + [str(a) for a in node.get("args") or []]
        source = node.get("source")
        if isinstance(source, str):
            for line in source.splitlines():
                words = shlex.split(line, comments=True) if "codex-pipeline" in line else []
                if "codex-pipeline" in words:
                    rest = words[words.index("codex-pipeline") + 1 :]
                    yield rest[: next((i for i, w in enumerate(rest) if w in ("|", "&&", ";", "||")), len(rest))]
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _parses(args: list[str]) -> None:
    concrete = [PLACEHOLDER.sub("x", arg) for arg in args]
    try:
        build_parser().parse_args(concrete)
    except SystemExit as exc:  # argparse exits 2 on unknown verbs or flags
        raise AssertionError(f"`codex-pipeline {shlex.join(args)}` does not parse") from exc


def test_image_entrypoint_is_codex_pipeline_with_git_and_the_codex_cli() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["codex-pipeline"]' in text
    assert re.search(r"apt-get install [^\n]*\bgit\b", text)
    assert re.search(r"npm install -g \"@openai/codex@\$\{CODEX_CLI_VERSION\}\"", text)


@pytest.mark.parametrize("args", _documented_commands(), ids=lambda a: " ".join(a[:2]))
def test_every_documented_image_command_is_a_real_verb(args: list[str]) -> None:
    _parses(args)


def test_the_image_documents_the_three_steps() -> None:
    assert [a[:2] for a in _documented_commands()] == [["step", "plan"], ["step", "implement"], ["step", "review"]]


def test_every_command_a_template_runs_parses() -> None:
    found = list(_template_commands())
    assert {tuple(args[:2]) for _, args in found} >= {("step", "plan"), ("step", "implement"), ("step", "review")}
    for name, args in found:
        try:
            _parses(args)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@pytest.mark.parametrize("args", [["step", "plann"], ["step", "plan", "--payload", "x"], ["steps", "plan"]])
def test_a_wrong_command_is_caught(args: list[str]) -> None:
    with pytest.raises(AssertionError, match="does not parse"):
        _parses(args)


def test_issue_template_has_the_spec_sections() -> None:
    text = (ROOT / ".github" / "ISSUE_TEMPLATE" / "codex-task.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["name"] == "Codex Task" and front["about"]
    for heading in ("## Summary", "## Scope guardrails", "## Validation commands", "## Codex prompt"):
        assert f"\n{heading}\n" in text


@pytest.mark.parametrize(
    ("template", "files"),
    [
        ("facteur-dispatch.yaml", ("plan.OUTPUT_FILE", "plan.LOG_FILE")),
        ("github-codex-implementation.yaml", ("implement.LOG_FILE",)),
        ("github-codex-review.yaml", ("review.LOG_FILE",)),
    ],
)
def test_every_file_a_step_writes_is_kept_as_an_artifact(template: str, files: tuple[str, ...]) -> None:
    import importlib

    documents = yaml.safe_load_all((ROOT / "workflows" / template).read_text())
    paths = {
        artifact["path"].rsplit("/", 1)[-1]
        for document in documents
        if document
        for step in document.get("spec", {}).get("templates", [])
        for artifact in (step.get("outputs") or {}).get("artifacts", [])
    }
    for name in files:
        module, constant = name.split(".")
        written = getattr(importlib.import_module(f"codex_pipeline.steps.{module}"), constant)
        assert written in paths, f"{template} does not keep {written}"


# ------------------------------------------------------------------ two users: the step and Codex

AGENT_UID = 1000


def _step_containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name in ("facteur-dispatch.yaml", "github-codex-implementation.yaml", "github-codex-review.yaml"):
        for document in yaml.safe_load_all((ROOT / "workflows" / name).read_text()):
            for template in (document or {}).get("spec", {}).get("templates", []):
                # The exit handler (`step finish`) starts no Codex: it only talks to GitHub.
                if "container" in template and "finish" not in template["container"]["command"]:
                    yield name, document["spec"], template["container"]


def test_the_image_creates_the_codex_user_with_a_fixed_uid_and_the_step_runs_as_root() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(rf"useradd --uid {AGENT_UID} --gid {AGENT_UID} [^\n]*\bcodex\b", text)
    assert re.search(rf"groupadd --gid {AGENT_UID} codex", text) and "passwd --lock codex" in text
    assert "CODEX_AGENT_USER=codex" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users[-1] in ("0", "root"), "the step must be root in its container to start Codex as another user"
    assert not re.search(r"install [^\n]*\b(sudo|gosu|su-exec)\b", text)


@pytest.mark.parametrize(
    ("name", "spec", "container"), list(_step_containers()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_step_container_runs_codex_as_the_agent_user_with_secrets_as_private_files(
    name: str, spec: dict[str, Any], container: dict[str, Any]
) -> None:
    env = {e["name"]: e for e in container["env"]}
    assert env["CODEX_AGENT_USER"]["value"] == "codex"
    assert not [e for e in env.values() if "valueFrom" in e], f"{name}: a secret in the environment"
    context = container["securityContext"]
    assert context["runAsUser"] == 0 and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL"}
    assert "fsGroup" not in (spec.get("securityContext") or {})  # it would make the secret files group-readable
    assert spec["automountServiceAccountToken"] is False and spec["executor"]["serviceAccountName"]
    secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    assert set(secrets) <= {"github-token", "codex-openai", "discord-codex-bot", "codex-github-app"}
    assert set(secrets) >= {"github-token", "codex-openai", "discord-codex-bot"}
    assert all(secret["defaultMode"] == 0o400 for secret in secrets.values())
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    files = [
        ("CODEX_GITHUB_TOKEN_FILE", "github-token"),
        ("OPENAI_API_KEY_FILE", "codex-openai"),
        ("DISCORD_BOT_TOKEN_FILE", "discord-codex-bot"),
    ]
    if "codex-github-app" in secrets:  # the optional App of the check runs (implementation and review)
        assert secrets["codex-github-app"]["optional"] is True
        files += [
            ("CODEX_GITHUB_APP_ID_FILE", "codex-github-app"),
            ("CODEX_GITHUB_APP_PRIVATE_KEY_FILE", "codex-github-app"),
        ]
    for variable, volume in files:
        path = env[variable]["value"]
        assert path.startswith(mounts[volume] + "/"), f"{name}: {variable} is not in the {volume} volume"
        items = secrets[volume].get("items")
        assert items is None or path.rsplit("/", 1)[1] in {item["path"] for item in items}


def test_exit_handlers_hold_no_secret_in_their_environment() -> None:
    for name in ("facteur-dispatch.yaml", "github-codex-implementation.yaml", "github-codex-review.yaml"):
        (document,) = [d for d in yaml.safe_load_all((ROOT / "workflows" / name).read_text()) if d]
        (finish,) = [t for t in document["spec"]["templates"] if t["name"] == document["spec"]["onExit"]]
        env = {e["name"]: e for e in finish["container"]["env"]}
        assert not [e for e in env.values() if "valueFrom" in e], name
        assert env["CODEX_GITHUB_TOKEN_FILE"]["value"] == "/run/secrets/codex/github/token"
