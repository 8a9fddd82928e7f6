"""discord-channel against a fake Discord API over real HTTP: channel, banner, batching, 429s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_pipeline.steps.discord import DiscordConfig, batch, channel_name, start_stream
from tests.fakes.discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[1]


def _config(discord: FakeDiscord, **kwargs: object) -> DiscordConfig:
    return DiscordConfig(token=discord.token, guild_id=discord.guild_id, api_url=discord.api_url, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        (("planning", "proompteng/lab", 999, "local-test"), "codex-planning-proompteng-lab-999-local-test"),
        (
            ("review", "Acme/Web.Site", 7, "github-codex-review-AB12"),
            "codex-review-acme-web-site-7-github-codex-review-ab12",
        ),
        (("implementation", "a/" + "b" * 150, 1, "x"), "codex-implementation-a-" + "b" * 77),
    ],
)
def test_channel_names_follow_discord_rules(parts: tuple[str, str, int, str], name: str) -> None:
    assert channel_name(*parts) == name
    assert len(name) <= 100


def test_batches_stay_under_the_limit_and_keep_every_character() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(60)] + ["y" * 4500]
    messages = batch(lines)
    assert all(len(m) <= 2000 for m in messages)
    assert "".join(messages).replace("\n", "") == "".join(lines)


def test_stream_creates_channel_posts_banner_and_lines(tmp_path: Path) -> None:
    with FakeDiscord() as discord:
        stream = start_stream(
            _config(discord, category_id="1500000000000000009"),
            stage="planning",
            repository="proompteng/lab",
            issue=999,
            run_id="codex-planning-abc",
            interval=0.05,
        )
        assert stream is not None
        for i in range(300):
            stream.write(f"output line {i} @everyone")
        stream.close()
        (channel,) = discord.channels.values()
        contents = discord.contents(channel["id"])
    assert channel["name"] == "codex-planning-proompteng-lab-999-codex-planning-abc"
    assert channel["parent_id"] == "1500000000000000009"
    assert contents[0].startswith("**Codex planning** run `codex-planning-abc`")
    streamed = "\n".join(contents[1:]).splitlines()
    assert streamed == [f"output line {i} @everyone" for i in range(300)]
    assert len(contents) < 20
    posts = [r for r in discord.requests if r.path.endswith("/messages")]
    assert all(b'"allowed_mentions": {"parse": []}' in r.body for r in posts)


def test_429_retry_after_is_honoured(tmp_path: Path) -> None:
    with FakeDiscord() as discord:
        discord.rate_limit_next(0.2, 0.1)
        stream = start_stream(_config(discord), stage="review", repository="a/b", issue=3, run_id="r", interval=0.05)
        assert stream is not None
        stream.write("after the rate limit")
        stream.close()
        (channel,) = discord.channels.values()
        contents = discord.contents(channel["id"])
        statuses = [r.path for r in discord.requests]
    assert contents[-1] == "after the rate limit" and contents[0].startswith("**Codex review**")
    assert len(statuses) == 5  # channel, 2 x 429 on the banner, banner, line


def test_discord_failures_never_raise(tmp_path: Path) -> None:
    with FakeDiscord() as discord:
        discord.fail_channels_with = 403
        assert start_stream(_config(discord), stage="planning", repository="a/b", issue=1, run_id="r") is None
        wrong = DiscordConfig(token="wrong", guild_id=discord.guild_id, api_url=discord.api_url)
        assert start_stream(wrong, stage="planning", repository="a/b", issue=1, run_id="r") is None
    unreachable = DiscordConfig(token="t", guild_id="1", api_url="http://127.0.0.1:9/api/v10", timeout=1)
    assert start_stream(unreachable, stage="planning", repository="a/b", issue=1, run_id="r") is None


def _cli(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "codex-pipeline"), *args],
        input=stdin,
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_cli_tees_stdin_to_stdout_and_discord() -> None:
    with FakeDiscord() as discord:
        done = _cli(
            [
                "discord-channel",
                "--stage",
                "implementation",
                "--repo",
                "acme/widgets",
                "--issue",
                "12",
                "--workflow-name",
                "github-codex-implementation-x1",
                "--interval",
                "0.05",
            ],
            "one\ntwo\n",
            {
                "DISCORD_BOT_TOKEN": discord.token,
                "DISCORD_GUILD_ID": discord.guild_id,
                "DISCORD_API_URL": discord.api_url,
            },
        )
        (channel,) = discord.channels.values()
        contents = discord.contents(channel["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "one\ntwo\n"
    assert contents[1:] == ["one\ntwo"]
    assert discord.token not in done.stderr


def test_cli_dry_run_prints_channel_banner_and_lines_to_stderr() -> None:
    done = _cli(
        [
            "discord-channel",
            "--stage",
            "planning",
            "--repo",
            "proompteng/lab",
            "--issue",
            "999",
            "--workflow-name",
            "local-test",
            "--dry-run",
        ],
        "hello discord\nthis is a dry run\n",
        {"DISCORD_BOT_TOKEN": "", "DISCORD_API_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 0
    assert "[discord dry-run] channel: #codex-planning-proompteng-lab-999-local-test" in done.stderr
    assert "[discord dry-run] banner: Repository: `proompteng/lab`" in done.stderr
    assert done.stderr.rstrip().endswith("[discord dry-run] this is a dry run")
