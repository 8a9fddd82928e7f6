"""Stream a run's output into its own Discord channel through the Discord REST API.

One channel per run (name from stage, repository, issue and run id), a metadata banner, then
the lines batched into messages under Discord's 2,000-character limit. 429 answers are
honoured (``retry_after`` seconds, from the JSON body or the ``Retry-After`` header). Mentions
are disabled on every message, so a transcript line with ``@everyone`` pings nobody.
Discord is a mirror, never a dependency: any other failure is logged once and the stream
stops sending, while the run carries on.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codex_pipeline.discord.rest import DEFAULT_API_URL, call
from codex_pipeline.errors import DiscordError
from codex_pipeline.shell.logs import decision, get_logger

MESSAGE_LIMIT = 2000
CHANNEL_NAME_LIMIT = 100
_UNSAFE = re.compile(r"[^a-z0-9-]+")

log = get_logger("codex_pipeline.steps.discord")


@dataclass(frozen=True)
class DiscordConfig:
    token: str
    guild_id: str
    category_id: str | None = None
    api_url: str = DEFAULT_API_URL
    timeout: float = 10.0
    max_retry_wait: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DiscordConfig:
        """``DISCORD_BOT_TOKEN``, ``DISCORD_GUILD_ID``, optional ``DISCORD_CATEGORY_ID`` (each also as a
        ``_FILE``: the templates mount them from the ``discord-codex-bot`` Secret) and ``DISCORD_API_URL``."""
        from codex_pipeline.shell.config import load_settings
        from codex_pipeline.steps.secretfiles import secret

        return cls(
            token=secret(environ, "DISCORD_BOT_TOKEN") or "",
            guild_id=secret(environ, "DISCORD_GUILD_ID") or "",
            category_id=secret(environ, "DISCORD_CATEGORY_ID"),
            api_url=load_settings(environ).discord_bot_api_url.rstrip("/"),
        )

    def __repr__(self) -> str:
        return f"DiscordConfig(guild_id={self.guild_id!r}, category_id={self.category_id!r}, api_url={self.api_url!r})"


def channel_name(stage: str, repository: str, issue: int | str, run_id: str) -> str:
    """``codex-planning-proompteng-lab-999-local-test``: lowercase, dashes, at most 100 characters."""
    raw = "-".join(str(part) for part in ("codex", stage, repository, issue, run_id) if str(part))
    name = _UNSAFE.sub("-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name[:CHANNEL_NAME_LIMIT].rstrip("-") or "codex-run"


def banner(stage: str, repository: str, issue: int | str, run_id: str) -> str:
    issue_url = f"https://github.com/{repository}/issues/{issue}" if repository and issue else ""
    lines = [
        f"**Codex {stage}** run `{run_id}`",
        f"Repository: `{repository}`",
        f"Issue: #{issue} {issue_url}".rstrip(),
        f"Started: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
    ]
    return "\n".join(lines)


def batch(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join lines into messages of at most ``limit`` characters; longer lines are split."""
    messages: list[str] = []
    current = ""
    for line in lines:
        pieces = [line[i : i + limit] for i in range(0, len(line), limit)] or [""]
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) > limit:
                messages.append(current)
                current = piece
            else:
                current = candidate
    if current.strip():
        messages.append(current)
    return [message for message in messages if message.strip()]


class DiscordClient:
    """The two REST calls we make, with 429 handling."""

    def __init__(self, config: DiscordConfig) -> None:
        import requests

        self.config = config
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bot {config.token}",
                "User-Agent": "DiscordBot (https://github.com/proompteng, codex-pipeline)",
            }
        )

    def _call(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return call(
            self._session,
            method,
            f"{self.config.api_url}{path}",
            payload,
            what=path.split("/")[1],
            timeout=self.config.timeout,
            max_retry_wait=self.config.max_retry_wait,
        )

    def create_channel(self, name: str, topic: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name, "type": 0, "topic": topic[:1024]}
        if self.config.category_id:
            payload["parent_id"] = self.config.category_id
        return self._call("POST", f"/guilds/{self.config.guild_id}/channels", payload)

    def send(self, channel_id: str, content: str) -> dict[str, Any]:
        return self._call(
            "POST", f"/channels/{channel_id}/messages", {"content": content, "allowed_mentions": {"parse": []}}
        )


class DiscordStream:
    """Lines in, batched messages out on a background thread (flushed at least every ``interval`` s)."""

    def __init__(self, client: DiscordClient, channel_id: str, interval: float = 1.0) -> None:
        self.client = client
        self.channel_id = channel_id
        self.interval = interval
        self._lines: list[str] = []
        self._size = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._broken = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="discord-stream")
        self._thread.start()

    def write(self, line: str) -> None:
        if self._broken:
            return
        with self._lock:
            self._lines.append(line)
            self._size += len(line) + 1
            if self._size >= MESSAGE_LIMIT:
                self._wake.set()

    def _take(self) -> list[str]:
        with self._lock:
            lines, self._lines, self._size = self._lines, [], 0
        return lines

    def _flush(self) -> None:
        lines = self._take()
        for message in batch(lines):
            if self._broken:
                return
            try:
                self.client.send(self.channel_id, message)
            except DiscordError as exc:
                self._broken = True
                decision(log, "discord stream stopped", level=30, channel=self.channel_id, reason=str(exc))

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=self.client.config.max_retry_wait + 5)
        self._flush()


def start_stream(
    config: DiscordConfig, *, stage: str, repository: str, issue: int | str, run_id: str, interval: float = 1.0
) -> DiscordStream | None:
    """Create the run's channel and post the banner; None (logged) when Discord is not available."""
    client = DiscordClient(config)
    name = channel_name(stage, repository, issue, run_id)
    try:
        channel = client.create_channel(name, f"Codex {stage} for {repository}#{issue} (run {run_id})")
        channel_id = str(channel["id"])
        client.send(channel_id, banner(stage, repository, issue, run_id))
    except (DiscordError, KeyError) as exc:
        decision(log, "discord channel unavailable", level=30, channel=name, reason=str(exc))
        return None
    decision(log, "discord channel created", channel=name, channel_id=channel_id)
    return DiscordStream(client, channel_id, interval=interval)
