"""Discord ``/plan`` in: the interactions endpoint that ingest-webhook serves on its own path.

Discord POSTs every interaction to one URL and wants a plain JSON answer within 3 s, so this
is not a CloudEvent delivery. What it does, in order:

- authenticity first: an Ed25519 signature (``X-Signature-Ed25519``) over
  ``X-Signature-Timestamp`` + the raw body, checked with the application's public key
  (``CODEX_DISCORD_PUBLIC_KEY``); a missing or bad signature, or a timestamp more than
  :data:`MAX_SKEW_SECONDS` away from now (a replayed request), answers 401 JSON;
- PING (type 1) -> ``{"type": 1}`` (Discord checks this when the URL is saved);
- the ``/plan`` command (type 2) -> a modal (type 9) asking for the request and an optional title;
- the modal submission (type 5) by a user the trust policy allows (``policy.may_request_discord_plan``)
  -> one binary CloudEvent :data:`PLAN_EVENT_TYPE` (id = interaction id, data = the interaction's
  JSON bytes) to ``K_SINK``, then an ephemeral "received" message (type 4, flags 64). A user who
  may not gets an ephemeral refusal and nothing is emitted.

Like the GitHub path, it only authenticates and makes the request durable: route-task decides
what the event means and dispatch-planning opens the issue and posts the follow-up message.
The emitter used here is bounded tighter than the GitHub one (1 s per attempt, 2 attempts)
so a slow sink still answers Discord inside its 3 s, with a 503 that Discord shows as failed.
``cryptography`` is imported when the first key is loaded, never at module import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from codex_pipeline.core import untrusted
from codex_pipeline.core.policy import Policy
from codex_pipeline.discord.shapes import (
    APPLICATION_COMMAND,
    MODAL_ID,
    MODAL_SUBMIT,
    PING,
    PLAN_EVENT_TYPE,
    REQUEST_FIELD,
    REQUEST_MAX,
    TITLE_FIELD,
    TITLE_MAX,
    interaction_user,
    modal_values,
)
from codex_pipeline.errors import BadRequest, ConfigurationError, Unauthorized, Unavailable
from codex_pipeline.shell import logs, telemetry
from codex_pipeline.wire.events import Event
from codex_pipeline.wire.http import Request, Response, json_object, json_response
from codex_pipeline.wire.jsonfields import obj, text

INTERACTIONS_PATH = "/discord/interactions"
PLAN_COMMAND = "plan"
MAX_SKEW_SECONDS = 300
EPHEMERAL = 64
# Response types.
PONG, CHANNEL_MESSAGE, MODAL = 1, 4, 9
_log = logging.getLogger("codex_pipeline.discord_interactions")


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


class SignatureVerifier:
    """Ed25519 verification with one application public key (hex, as the developer portal shows it)."""

    def __init__(self, public_key_hex: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            self._key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex.strip()))
        except ValueError:
            raise ConfigurationError(
                "CODEX_DISCORD_PUBLIC_KEY must be the application's public key: "
                "64 hex digits (Developer Portal, General Information)"
            ) from None

    def verify(self, timestamp: str, body: bytes, signature_hex: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            return False
        try:
            self._key.verify(signature, timestamp.encode() + body)
        except InvalidSignature:
            return False
        return True


def plan_modal() -> dict[str, Any]:
    """The modal ``/plan`` opens: an optional short title and the request as a paragraph."""
    return {
        "type": MODAL,
        "data": {
            "custom_id": MODAL_ID,
            "title": "Request a Codex plan",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 4,
                            "custom_id": TITLE_FIELD,
                            "style": 1,
                            "label": "Title (optional)",
                            "required": False,
                            "max_length": TITLE_MAX,
                            "placeholder": "Add retries to the exporter",
                        }
                    ],
                },
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 4,
                            "custom_id": REQUEST_FIELD,
                            "style": 2,
                            "label": "What should be planned?",
                            "required": True,
                            "min_length": 1,
                            "max_length": REQUEST_MAX,
                        }
                    ],
                },
            ],
        },
    }


def ephemeral(content: str) -> dict[str, Any]:
    """A message only the requester sees; mentions in it never ping anyone."""
    return {
        "type": CHANNEL_MESSAGE,
        "data": {"content": content, "flags": EPHEMERAL, "allowed_mentions": {"parse": []}},
    }


class DiscordInteractions:
    """The ``/discord/interactions`` handler (see module doc)."""

    def __init__(
        self, public_key: str | None, policy: Policy, sink: Sink | None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.verifier = SignatureVerifier(public_key) if public_key else None
        self.policy = policy
        self.sink = sink
        self.clock = clock

    def __call__(self, request: Request) -> Response:
        if self.verifier is None:
            return json_response(
                404,
                {
                    "error": "not_found",
                    "status": 404,
                    "message": "Discord interactions are off: set CODEX_DISCORD_PUBLIC_KEY",
                },
            )
        # decode: authenticity, then the interaction
        self._authenticate(request)
        interaction = json_object(request.body, "interaction body")
        kind = interaction.get("type")
        interaction_id = text(interaction, "id")

        # decide and answer
        if kind == PING:
            logs.decision(_log, "discord ping answered", application=text(interaction, "application_id"))
            return json_response(200, {"type": PONG})
        if kind == APPLICATION_COMMAND:
            return self._command(interaction, interaction_id)
        if kind == MODAL_SUBMIT:
            return self._submission(interaction, interaction_id, request.body)
        raise BadRequest(f"interaction type {kind!r} is not handled (only PING, /plan and its modal)")

    def _authenticate(self, request: Request) -> None:
        assert self.verifier is not None
        signature = request.headers.get("x-signature-ed25519", "").strip()
        timestamp = request.headers.get("x-signature-timestamp", "").strip()
        if not signature or not timestamp:
            raise Unauthorized("missing X-Signature-Ed25519 or X-Signature-Timestamp")
        if not self.verifier.verify(timestamp, request.body, signature):
            raise Unauthorized("invalid interaction signature")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise Unauthorized(f"interaction timestamp is more than {MAX_SKEW_SECONDS} s from now (replayed?)")

    def _command(self, interaction: dict[str, Any], interaction_id: str) -> Response:
        name = text(obj(interaction, "data"), "name")
        if name != PLAN_COMMAND:
            logs.decision(_log, "discord command ignored", interaction=interaction_id, command=name, reason="not /plan")
            return json_response(
                200, ephemeral(f"Unknown command /{untrusted.clean(name)[:32]}; this bot only knows /plan.")
            )
        user, _, roles = interaction_user(interaction)
        allowed = self.policy.may_request_discord_plan(user, roles)
        if not allowed:
            logs.decision(_log, "discord plan refused", interaction=interaction_id, user=user, reason=allowed.reason)
            return json_response(200, ephemeral("You are not allowed to request plans here."))
        return json_response(200, plan_modal())

    def _submission(self, interaction: dict[str, Any], interaction_id: str, raw: bytes) -> Response:
        custom_id = text(obj(interaction, "data"), "custom_id")
        if custom_id != MODAL_ID:
            raise BadRequest(f"modal {custom_id!r} is not the /plan modal")
        user, _, roles = interaction_user(interaction)
        allowed = self.policy.may_request_discord_plan(user, roles)
        if not allowed:
            logs.decision(_log, "discord plan refused", interaction=interaction_id, user=user, reason=allowed.reason)
            return json_response(200, ephemeral("You are not allowed to request plans here; nothing was sent."))
        if not untrusted.clean(modal_values(interaction).get(REQUEST_FIELD, "")).strip():
            return json_response(200, ephemeral("The request was empty; nothing was sent."))
        if not interaction_id or not text(interaction, "token") or not text(interaction, "application_id"):
            raise BadRequest("interaction lacks id, token or application_id")
        if self.sink is None:
            raise Unavailable("no sink configured: set K_SINK (Knative SinkBinding) to the raw topic's sink")
        application = text(interaction, "application_id")
        with telemetry.span("ingest.discord", attributes={"discord.interaction": interaction_id}):
            extensions = {"partitionkey": f"discord:{user}", "traceparent": telemetry.current_traceparent()}
            self.sink.emit(
                Event(
                    id=interaction_id,
                    source=f"https://discord.com/applications/{application}",
                    type=PLAN_EVENT_TYPE,
                    subject=user,
                    datacontenttype="application/json",
                    data=raw,
                    extensions={k: v for k, v in extensions.items() if v},
                )
            )
        logs.decision(
            _log, "discord plan request accepted", interaction=interaction_id, user=user, reason=allowed.reason
        )
        return json_response(
            200, ephemeral("Plan request received. I will post the GitHub issue link here once it is open.")
        )
