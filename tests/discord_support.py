"""Discord interactions as Discord sends them: a real Ed25519 key pair, signed requests, and
realistic PING, ``/plan`` command and modal-submit payloads (API v10 shapes, trimmed of fields
nothing reads)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

APPLICATION_ID = "1311000000000000001"
GUILD_ID = "1100000000000000001"
CHANNEL_ID = "1100000000000000777"
ALLOWED_USER = "4000000000000000001"
ROLE_USER = "4000000000000000002"
STRANGER = "4000000000000000666"
PLANNERS_ROLE = "5000000000000000010"


@dataclass
class DiscordApp:
    """The application's key pair: Discord signs with the private key, we verify with the public."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_key_hex(self) -> str:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def signed(
        self, payload: dict[str, Any] | bytes, *, at: float | None = None, key: Ed25519PrivateKey | None = None
    ) -> tuple[dict[str, str], bytes]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        timestamp = str(int(time.time() if at is None else at))
        signature = (key or self.key).sign(timestamp.encode() + body).hex()
        return {
            "Content-Type": "application/json",
            "User-Agent": "Discord-Interactions/1.0 (+https://discord.com)",
            "X-Signature-Ed25519": signature,
            "X-Signature-Timestamp": timestamp,
        }, body


def _member(user_id: str, roles: list[str]) -> dict[str, Any]:
    return {
        "user": {
            "id": user_id,
            "username": f"user{user_id[-3:]}",
            "global_name": f"User {user_id[-3:]}",
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
        },
        "roles": roles,
        "nick": None,
        "joined_at": "2025-01-01T00:00:00.000000+00:00",
        "deaf": False,
        "mute": False,
        "pending": False,
        "permissions": "2248473465835073",
        "flags": 0,
    }


def _base(kind: int, interaction_id: str, user_id: str, roles: list[str]) -> dict[str, Any]:
    return {
        "id": interaction_id,
        "application_id": APPLICATION_ID,
        "type": kind,
        "token": f"aW50ZXJhY3Rpb246{interaction_id}:tok",
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": CHANNEL_ID,
        "channel": {"id": CHANNEL_ID, "type": 0, "name": "codex", "guild_id": GUILD_ID},
        "member": _member(user_id, roles),
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
    }


def ping(interaction_id: str = "1312000000000000001") -> dict[str, Any]:
    return {
        "id": interaction_id,
        "application_id": APPLICATION_ID,
        "type": 1,
        "token": "cGluZw",
        "version": 1,
        "user": {"id": "643945264868098049", "username": "discord", "discriminator": "0000"},
    }


def plan_command(
    interaction_id: str = "1312000000000000002",
    user_id: str = ALLOWED_USER,
    roles: list[str] | None = None,
    name: str = "plan",
) -> dict[str, Any]:
    interaction = _base(2, interaction_id, user_id, roles or [])
    interaction["data"] = {"id": "1311000000000000100", "name": name, "type": 1, "guild_id": GUILD_ID}
    return interaction


def plan_submission(
    interaction_id: str = "1312000000000000003",
    user_id: str = ALLOWED_USER,
    roles: list[str] | None = None,
    request: str = "Add retries with backoff to the exporter.",
    title: str = "",
) -> dict[str, Any]:
    interaction = _base(5, interaction_id, user_id, roles or [])
    interaction["message"] = None
    interaction["data"] = {
        "custom_id": "codex-plan",
        "components": [
            {"type": 1, "id": 1, "components": [{"type": 4, "id": 2, "custom_id": "title", "value": title}]},
            {"type": 1, "id": 3, "components": [{"type": 4, "id": 4, "custom_id": "request", "value": request}]},
        ],
    }
    return interaction
