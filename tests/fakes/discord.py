"""A fake Discord REST API (v10) as a real HTTP server: channels, messages, 429 rate limits, and
interaction follow-up messages.

Follow-ups (``POST /webhooks/{application_id}/{interaction_token}``) authenticate by the token in
the path, not the bot token, as on Discord: an interaction registered with ``open_interaction``
accepts them (200 message object, kept in ``followups``); any other token answers 404
``{"message": "Unknown Webhook", "code": 10015}``. ``fail_followups_with`` makes them fail.

Answers with Discord's shapes: ``POST /guilds/{id}/channels`` -> 201 channel object,
``POST /channels/{id}/messages`` -> 200 message object, 401 ``{"message": "401: Unauthorized",
"code": 0}`` for a wrong bot token, 400 ``{"code": 50035, ...}`` for content over 2,000
characters, and 429 ``{"message": "You are being rate limited.", "retry_after": s, "global":
false}`` with ``Retry-After`` and ``X-RateLimit-*`` headers when asked to.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from tests.fakes.httpserver import Answer, FakeServer, Recorded


class FakeDiscord(FakeServer):
    def __init__(
        self,
        *,
        token: str = "discord-bot-token",  # noqa: S107 - a fake's credential
        guild_id: str = "1100000000000000001",
    ) -> None:
        super().__init__()
        self.token = token
        self.guild_id = guild_id
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.rate_limits: list[float] = []  # retry_after values for the next message or follow-up posts
        self.fail_channels_with: int | None = None
        self.interaction_tokens: dict[str, str] = {}  # token -> application id
        self.followups: list[dict[str, Any]] = []
        self.fail_followups_with: int | None = None
        self._ids = 1200000000000000000
        self._lock2 = threading.Lock()

    def __enter__(self) -> FakeDiscord:
        super().__enter__()
        return self

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    def _id(self) -> str:
        with self._lock2:
            self._ids += 1
            return str(self._ids)

    def open_interaction(self, application_id: str, token: str) -> None:
        """Accept follow-ups for an interaction (Discord does for 15 minutes after it)."""
        self.interaction_tokens[token] = application_id

    def rate_limit_next(self, *retry_after: float) -> None:
        self.rate_limits.extend(retry_after)

    def contents(self, channel_id: str) -> list[str]:
        return [m["content"] for m in self.messages.get(channel_id, [])]

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        return status, {"content-type": "application/json", **(headers or {})}, json.dumps(payload).encode()

    def _rate_limited(self, wait: float) -> Answer:
        return self._json(
            429,
            {"message": "You are being rate limited.", "retry_after": wait, "global": False},
            {
                "Retry-After": str(max(1, round(wait))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(wait),
                "X-RateLimit-Bucket": "80c17d2f203122d936070c88c8d10f33",
                "X-RateLimit-Scope": "user",
            },
        )

    def _followup(self, recorded: Recorded, application_id: str, token: str) -> Answer:
        if self.interaction_tokens.get(token) != application_id:
            return self._json(404, {"message": "Unknown Webhook", "code": 10015})
        if self.fail_followups_with:
            return self._json(self.fail_followups_with, {"message": "Service Unavailable", "code": 0})
        if self.rate_limits:
            return self._rate_limited(self.rate_limits.pop(0))
        body = json.loads(recorded.body or b"{}")
        content = str(body.get("content", ""))
        if not content or len(content) > 2000:
            return self._json(400, {"message": "Invalid Form Body", "code": 50035})
        message = {
            "id": self._id(),
            "type": 0,
            "channel_id": "1100000000000000777",
            "content": content,
            "flags": body.get("flags", 0),
            "webhook_id": application_id,
            "author": {"id": application_id, "username": "codex", "bot": True},
            "timestamp": "2026-11-25T12:00:00.000000+00:00",
            "allowed_mentions": body.get("allowed_mentions"),
        }
        self.followups.append(message)
        return self._json(200, message)

    def answer(self, recorded: Recorded) -> Answer:
        if m := re.fullmatch(r"/api/v10/webhooks/(\d+)/([^/?]+)(\?.*)?", recorded.path):
            return self._followup(recorded, m.group(1), m.group(2))
        if recorded.headers.get("authorization") != f"Bot {self.token}":
            return self._json(401, {"message": "401: Unauthorized", "code": 0})
        body = json.loads(recorded.body or b"{}")
        path = recorded.path
        if m := re.fullmatch(r"/api/v10/guilds/(\d+)/channels", path):
            if m.group(1) != self.guild_id:
                return self._json(404, {"message": "Unknown Guild", "code": 10004})
            if self.fail_channels_with:
                return self._json(self.fail_channels_with, {"message": "Missing Permissions", "code": 50013})
            name = str(body.get("name", ""))
            if not name or len(name) > 100 or name != name.lower():
                return self._json(
                    400,
                    {
                        "message": "Invalid Form Body",
                        "code": 50035,
                        "errors": {
                            "name": {
                                "_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100"}]
                            }
                        },
                    },
                )
            channel = {
                "id": self._id(),
                "type": body.get("type", 0),
                "guild_id": self.guild_id,
                "name": name,
                "position": len(self.channels),
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": body.get("parent_id"),
                "topic": body.get("topic"),
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "flags": 0,
            }
            self.channels[channel["id"]] = channel
            return self._json(201, channel)
        if m := re.fullmatch(r"/api/v10/channels/(\d+)/messages", path):
            channel_id = m.group(1)
            if channel_id not in self.channels:
                return self._json(404, {"message": "Unknown Channel", "code": 10003})
            if self.rate_limits:
                return self._rate_limited(self.rate_limits.pop(0))
            content = str(body.get("content", ""))
            if len(content) > 2000:
                return self._json(
                    400,
                    {
                        "message": "Invalid Form Body",
                        "code": 50035,
                        "errors": {
                            "content": {
                                "_errors": [
                                    {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                                ]
                            }
                        },
                    },
                )
            message = {
                "id": self._id(),
                "type": 0,
                "channel_id": channel_id,
                "content": content,
                "author": {"id": "1300000000000000001", "username": "codex", "bot": True},
                "mentions": [],
                "mention_everyone": False,
                "attachments": [],
                "embeds": [],
                "timestamp": "2026-11-25T12:00:00.000000+00:00",
                "edited_timestamp": None,
                "allowed_mentions": body.get("allowed_mentions"),
            }
            self.messages.setdefault(channel_id, []).append(message)
            return self._json(200, message)
        return self._json(404, {"message": "404: Not Found", "code": 0})
