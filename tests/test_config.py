from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from codex_pipeline.errors import ConfigurationError
from codex_pipeline.shell.config import SETTINGS, load_settings, setting_names

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///.codex-pipeline/state.db"
    assert settings.argo_submitter == "dry-run"
    assert settings.workflow_namespace == "argo-workflows"
    assert settings.bot_mention == "@tuslagch"
    assert settings.planning_enabled is True
    assert settings.trigger_logins == frozenset()


def test_env_beats_file_and_file_beats_default(tmp_path: Path) -> None:
    config = tmp_path / "codex.yaml"
    config.write_text("trigger_logins: [Alice, bob]\nCODEX_PLANNING_ENABLED: false\nbot_mention: '@x'\n")
    settings = load_settings({"CODEX_CONFIG_FILE": str(config), "CODEX_BOT_MENTION": "@env"})
    assert settings.trigger_logins == frozenset({"alice", "bob"})
    assert settings.planning_enabled is False
    assert settings.bot_mention == "@env"


def test_secret_from_mounted_file_and_hidden_from_repr(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-one,s3cret-two\n")
    settings = load_settings({"CODEX_WEBHOOK_SECRET_FILE": str(secret), "CODEX_GITHUB_TOKEN": "ghp_token"})
    assert settings.webhook_secrets == ("s3cret-one", "s3cret-two")
    assert "s3cret" not in repr(settings) and "ghp_token" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CODEX_PLANNING_ENABLED": "maybe"},
            "CODEX_PLANNING_ENABLED='maybe': not true or false; set it to true or false",
        ),
        ({"CODEX_ARGO_SUBMITTER": "helm"}, "CODEX_ARGO_SUBMITTER must be"),
        ({"CODEX_SINK_TIMEOUT_SECONDS": "-1"}, "CODEX_SINK_TIMEOUT_SECONDS"),
        ({"CODEX_TRIGGER_LOGINS": "alice,codex-bot", "CODEX_PLANNER_LOGIN": "Codex-Bot"}, "must never be a trigger"),
        ({"CODEX_WEBHOOK_SECRET_FILE": "/nonexistent/secret"}, "cannot be read"),
        ({"CODEX_GITHUB_APP_INSTALLATION_ID": "acme-org"}, "CODEX_GITHUB_APP_INSTALLATION_ID='acme-org'.*settings URL"),
        ({"CODEX_GITHUB_APP_PRIVATE_KEY": "/etc/keys/app.pem"}, "CODEX_GITHUB_APP_PRIVATE_KEY.*not a PEM private key"),
    ],
)
def test_wrong_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(env)


@pytest.mark.parametrize("raw", ["abc", "nan", "inf", "-inf", "0", "-1"])
@pytest.mark.parametrize(
    "variable",
    [
        "CODEX_SINK_TIMEOUT_SECONDS",
        "CODEX_DATABASE_TIMEOUT_SECONDS",
        "CODEX_GITHUB_TIMEOUT_SECONDS",
        "CODEX_WEBHOOK_MAX_BYTES",
    ],
)
def test_timeouts_and_sizes_are_finite_and_positive(variable: str, raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: raw})
    message = str(caught.value)
    # One line: the setting, the value as given, and what to set instead.
    assert "\n" not in message
    assert message.startswith(f"{variable}={raw!r}: ") and "; set it to " in message


def test_a_secret_value_is_never_printed_in_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"CODEX_DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_a_yaml_error_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "codex.yaml"
    config.write_text("trigger_logins: [alice\nbot_mention: '@x'\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"CODEX_CONFIG_FILE": str(config)})
    assert "\n" not in str(caught.value) and "is not valid YAML" in str(caught.value)


def test_unknown_file_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "codex.yaml"
    config.write_text("triger_logins: [alice]\n")
    with pytest.raises(ConfigurationError, match="unknown settings: triger_logins"):
        load_settings({"CODEX_CONFIG_FILE": str(config)})


def _readme_section(readme: str, title: str) -> str:
    start = readme.index(f"\n## {title}")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


def test_the_readme_tables_are_the_settings_table() -> None:
    """Each setting's README row is the row the table declares, in the table of its section;
    every other variable a README settings table names is declared as not a setting, and why."""
    from codex_pipeline.shell.config import OTHER_VARIABLES, readme_row

    readme = (ROOT / "README.md").read_text()
    wrong = [readme_row(s) for s in SETTINGS if readme_row(s) not in _readme_section(readme, s.section)]
    assert not wrong, "README rows differ from the settings table; expected:\n" + "\n".join(wrong)
    named: set[str] = set()
    for section in {s.section for s in SETTINGS}:
        for cell in re.findall(r"^\| ([^|]*`[A-Z_][A-Z0-9_]+`[^|]*) \|", _readme_section(readme, section), re.M):
            named |= set(re.findall(r"`([A-Z_][A-Z0-9_]+)`", cell))
    assert named - set(setting_names()) - set(OTHER_VARIABLES) == set()
    assert set(OTHER_VARIABLES) <= named and not set(OTHER_VARIABLES) & set(setting_names())


def test_every_setting_is_read_by_someone() -> None:
    assert [s.env for s in SETTINGS if not s.readers] == []
    assert len(SETTINGS) == len(set(setting_names()))


def test_spec_aliases_are_read_when_ours_are_unset() -> None:
    from codex_pipeline.shell.config import alias_notes

    settings = load_settings({"CODEX_TRIGGER_LOGIN": "Alice", "CODEX_WORKFLOW_LOGIN": "planner-bot"})
    assert settings.trigger_logins == frozenset({"alice"}) and settings.planner_login == "planner-bot"
    assert settings.aliases_used == ("CODEX_TRIGGER_LOGIN", "CODEX_WORKFLOW_LOGIN")
    notes = alias_notes(settings)
    assert len(notes) == 2 and "rename it to CODEX_TRIGGER_LOGINS" in notes[0]


def test_ours_win_over_spec_aliases() -> None:
    settings = load_settings(
        {
            "CODEX_TRIGGER_LOGINS": "bob",
            "CODEX_TRIGGER_LOGIN": "alice",
            "CODEX_PLANNER_LOGIN": "ours",
            "CODEX_WORKFLOW_LOGIN": "theirs",
        }
    )
    assert settings.trigger_logins == frozenset({"bob"}) and settings.planner_login == "ours"
    assert settings.aliases_used == ()


def test_aliases_in_the_yaml_file(tmp_path: Path) -> None:
    config = tmp_path / "codex.yaml"
    config.write_text("CODEX_WORKFLOW_LOGIN: planner-bot\n")
    settings = load_settings({"CODEX_CONFIG_FILE": str(config)})
    assert settings.planner_login == "planner-bot" and settings.aliases_used == ("CODEX_WORKFLOW_LOGIN",)


def test_spec_settings_of_our_own() -> None:
    settings = load_settings({"CODEX_IMPLEMENTATION_TRIGGER": "  Ship   IT ", "CODEX_BRANCH_PREFIX": "bots/"})
    assert (settings.implementation_trigger, settings.branch_prefix) == ("ship it", "bots/")
    defaults = load_settings({})
    assert (defaults.implementation_trigger, defaults.branch_prefix) == ("execute plan", "codex/")
    with pytest.raises(ConfigurationError, match="CODEX_BRANCH_PREFIX='codex': expected a branch prefix"):
        load_settings({"CODEX_BRANCH_PREFIX": "codex"})
    with pytest.raises(ConfigurationError, match="CODEX_IMPLEMENTATION_TRIGGER"):
        load_settings({"CODEX_IMPLEMENTATION_TRIGGER": "  "})


# ------------------------------------------------------------------ one table for every reader


def test_no_module_reads_a_setting_from_the_environment_itself() -> None:
    """Every reader goes through load_settings, so _FILE and the YAML file work everywhere."""
    lib = ROOT / "lib" / "codex_pipeline"
    names = "|".join(re.escape(name) for name in setting_names())
    direct = re.compile(r"""(?:environ|env)(?:\.get\(|\[)\s*["'](""" + names + r""")["'](?!\]\s*=[^=])""")
    found = [
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for path in sorted(lib.rglob("*.py"))
        if path.name != "config.py"
        for match in direct.finditer(path.read_text())
    ]
    assert found == []


def test_the_steps_settings_come_from_a_file_and_the_yaml_file(tmp_path: Path) -> None:
    from codex_pipeline.steps.codex import CodexOptions

    config = tmp_path / "codex.yaml"
    config.write_text("codex_model: gpt-5-codex\nCODEX_EXTRA_ARGS: --profile ci\n")
    reasoning = tmp_path / "reasoning"
    reasoning.write_text("low\n")
    options = CodexOptions.from_env({"CODEX_CONFIG_FILE": str(config), "CODEX_REASONING_FILE": str(reasoning)})
    assert (options.model, options.reasoning, options.extra_args) == ("gpt-5-codex", "low", ("--profile", "ci"))
    assert CodexOptions.from_env({}) == CodexOptions()  # the table's defaults are the options' defaults


def test_a_blank_path_setting_means_its_default() -> None:
    settings = load_settings({"CODEX_BIN": "", "CODEX_PROGRESS_COMMENT_MARKER": " ", "CODEX_TIMEOUT_SECONDS": "0"})
    assert settings.codex_bin == "codex" and settings.progress_marker == "<!-- codex:progress -->"
    assert settings.codex_timeout is None  # 0: no limit


def test_replay_and_dev_sign_with_the_secret_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from codex_pipeline.cli.replay import resolve_secret
    from codex_pipeline.dev.run import webhook_secret

    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("from-the-file,older\n")
    environ = {"CODEX_WEBHOOK_SECRET_FILE": str(secret_file)}
    assert webhook_secret(tmp_path / "state", environ) == ("from-the-file", "CODEX_WEBHOOK_SECRET")
    for name in [n for n in os.environ if n.startswith("CODEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CODEX_WEBHOOK_SECRET_FILE", str(secret_file))
    args = argparse.Namespace(unsigned=False, secret=None, state=tmp_path / "state")
    assert resolve_secret(args) == "from-the-file"
