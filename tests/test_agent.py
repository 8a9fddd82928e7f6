"""The pieces that keep credentials away from Codex: secret files, the agent's environment and user,
and the loopback model proxy (against a fake Responses API over real HTTP)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from codex_pipeline.errors import ConfigurationError
from codex_pipeline.steps.agent import AgentUser, agent_environ, agent_user
from codex_pipeline.steps.context import model_api_key, secrets_of
from codex_pipeline.steps.model_proxy import ModelProxy
from codex_pipeline.steps.secretfiles import secret
from tests.fakes.model_api import FakeModelAPI

KEY = "sk-proj-proxyTestKey0123456789"


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# ------------------------------------------------------------------------------------ secret files


def test_a_secret_comes_from_its_file_and_the_plain_variable_wins(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert secret({"GH_TOKEN_FILE": str(path)}, "GH_TOKEN") == "from-file"
    assert secret({"GH_TOKEN_FILE": str(path), "GH_TOKEN": "plain"}, "GH_TOKEN") == "plain"
    assert secret({"B_FILE": str(path)}, "A", "B") == "from-file"
    assert secret({}, "A") is None


def test_a_missing_optional_secret_file_is_unset_and_an_unreadable_one_names_the_variable(tmp_path: Path) -> None:
    assert secret({"DISCORD_BOT_TOKEN_FILE": str(tmp_path / "absent")}, "DISCORD_BOT_TOKEN") is None
    with pytest.raises(ConfigurationError, match="DISCORD_BOT_TOKEN_FILE"):
        secret({"DISCORD_BOT_TOKEN_FILE": str(tmp_path)}, "DISCORD_BOT_TOKEN")  # a folder: EISDIR


def test_file_secrets_are_redacted_and_the_model_key_is_read_from_its_file(tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text(KEY)
    environ = {"OPENAI_API_KEY_FILE": str(key)}
    assert model_api_key(environ) == KEY
    assert KEY in secrets_of(environ)


# ------------------------------------------------------------------------------ agent environment


def test_the_agent_environment_is_an_allowlist() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "GH_TOKEN": "t",
        "OPENAI_API_KEY": "k",
        "CODEX_GITHUB_TOKEN_FILE": "/run/secrets/x",
        "EVENT_BODY": "e",
        "HOME": "/root",
        "CODEX_AGENT_ENV": "RUST_LOG",
        "RUST_LOG": "info",
    }
    assert agent_environ(environ, None) == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "RUST_LOG": "info", "HOME": "/root"}
    env = agent_environ(environ, Path("/home/codex"), Path("/workspace/lab"))
    assert env["HOME"] == "/home/codex" and env["GIT_CONFIG_VALUE_0"] == "/workspace/lab"
    assert env["GIT_CONFIG_KEY_0"] == "safe.directory"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "must not be root"),
        ("root", "must not be root"),
        ("1001:0", "must not be root"),
        ("no-such-user-here", "no user"),
        ("1001:staff", "numeric"),
    ],
)
def test_a_wrong_agent_user_is_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AgentUser.parse(spec)


def test_an_agent_user_by_number_needs_no_account() -> None:
    assert AgentUser.parse("43210") == AgentUser(43210, 43210, None)
    assert AgentUser.parse("43210:43211").gid == 43211
    assert agent_user({}) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the step may switch users")
def test_a_step_that_cannot_switch_users_says_why() -> None:
    with pytest.raises(ConfigurationError, match="must run as root"):
        agent_user({"CODEX_AGENT_USER": "43210"})


# ------------------------------------------------------------------------------------ model proxy


def test_the_proxy_adds_the_key_and_streams_the_answer() -> None:
    with FakeModelAPI(KEY) as upstream, ModelProxy(KEY, f"{upstream.url}/v1") as proxy:
        status, body = _post(
            f"{proxy.base_url}/responses",
            b'{"model": "m", "stream": true}',
            {"Authorization": "Bearer sk-forged-by-the-agent"},
        )
        assert status == 200 and "response.completed" in body and "hello from the model" in body
        (seen,) = upstream.requests
        assert seen.headers["authorization"] == f"Bearer {KEY}" and seen.path == "/v1/responses"
        assert json.loads(seen.body) == {"model": "m", "stream": True}


def test_the_proxy_passes_upstream_errors_and_forwards_nothing_outside_the_api() -> None:
    with FakeModelAPI("another-key") as upstream, ModelProxy(KEY, f"{upstream.url}/v1") as proxy:
        status, body = _post(f"{proxy.base_url}/responses", b"{}")
        assert status == 401 and "invalid_api_key" in body
        status, _ = _post(f"{proxy.base_url.rsplit('/v1', 1)[0]}/admin", b"{}")
        assert status == 404 and len(upstream.requests) == 1


def test_an_unreachable_model_api_is_a_502() -> None:
    with FakeModelAPI(KEY) as upstream:
        gone = upstream.url
    with ModelProxy(KEY, f"{gone}/v1") as proxy:
        status, body = _post(f"{proxy.base_url}/responses", b"{}")
    assert status == 502 and KEY not in body


def test_codex_is_pointed_at_the_proxy_through_a_provider_without_a_key() -> None:
    with ModelProxy(KEY, "https://api.openai.com/v1") as proxy:
        config = proxy.codex_config()
    assert config[-1] == 'model_provider="codex-pipeline"'
    assert f'base_url = "{proxy.base_url}"' in config[1] and 'wire_api = "responses"' in config[1]
    assert KEY not in " ".join(config) and "env_key" not in config[1]
    with pytest.raises(ValueError, match="http"):
        ModelProxy(KEY, "api.openai.com")


def test_secret_settings_from_the_yaml_file_are_redacted_too(tmp_path: Path) -> None:
    config = tmp_path / "codex.yaml"
    config.write_text(
        "CODEX_DATABASE_URL: postgresql://codex:hunter2-not-shown@db/codex\n"
        "CODEX_WEBHOOK_SECRET: [first-webhook-secret, second-webhook-secret]\n"
    )
    redacted = secrets_of({"CODEX_CONFIG_FILE": str(config)})
    assert "postgresql://codex:hunter2-not-shown@db/codex" in redacted
    assert {"first-webhook-secret", "second-webhook-secret"} <= set(redacted)
    assert secrets_of({}) == []  # defaults are not secrets
