"""ingest-webhook: GitHub's webhook POST in, one raw CloudEvent per delivery out.

It also serves Discord interactions (``/plan``) on ``/discord/interactions`` when
``CODEX_DISCORD_PUBLIC_KEY`` is set; see :mod:`codex_pipeline.discord.interactions`. Every other
path is the GitHub webhook.

It does authenticity and durability and nothing else, so that a routing bug can never lose
a delivery: the raw event is in Kafka and can be replayed through a fixed route-task.
Answers: 202 once the sink accepted the event (empty, the event's type in ``X-Codex-Event-Type``);
401 bad signature; 400 bad headers or body; 405 wrong method; 413 too large; 503 when the sink
is unreachable (nothing was emitted, so GitHub's "redeliver" is the recovery).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from codex_pipeline.core.policy import Policy
from codex_pipeline.discord.interactions import INTERACTIONS_PATH, DiscordInteractions
from codex_pipeline.effects.emit import Emitter
from codex_pipeline.errors import BadRequest, ConfigurationError, PayloadTooLarge, Unauthorized, Unavailable
from codex_pipeline.shell import logs, telemetry
from codex_pipeline.shell.app import FunctionApp, sink_readiness
from codex_pipeline.shell.config import Settings, load_settings, read_by
from codex_pipeline.shell.outcome import EmittingHandler, Outcome
from codex_pipeline.wire import signatures
from codex_pipeline.wire.events import EVENT_TYPE_HEADER, Event
from codex_pipeline.wire.http import Request, Response, json_object, json_response

NAME = "ingest-webhook"
# Every environment variable this function reads (codex-pipeline lint checks func.yaml and the
# README against it). K_SINK comes from the SinkBinding in eventing/.
# GitHub POSTs reach it directly: it handles no CloudEvent type, so no Trigger may target it.
HANDLES: frozenset[str] = frozenset()
SETTINGS_READ = read_by(NAME)  # the settings table's readers column
SOURCE_FALLBACK = "https://github.com"
# Discord drops an interaction not answered within 3 s; leave room for verifying and answering.
DISCORD_DEADLINE = 2.5
_log = logging.getLogger("codex_pipeline.ingest_webhook")


def event_type(event: str, action: str | None) -> str:
    return f"com.github.{event}.{action}" if action else f"com.github.{event}"


def _subject(payload: dict[str, Any]) -> str | None:
    for key in ("issue", "pull_request"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            return str(item["number"])
    for key in ("check_suite", "check_run"):
        item = payload.get(key)
        prs = item.get("pull_requests") if isinstance(item, dict) else None
        if isinstance(prs, list) and prs and isinstance(prs[0], dict) and isinstance(prs[0].get("number"), int):
            return str(prs[0]["number"])
    return None


def _source(payload: dict[str, Any]) -> str:
    for key in ("repository", "organization", "sender"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("html_url"), str) and item["html_url"]:
            return str(item["html_url"])
    return SOURCE_FALLBACK


def _repository_name(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else None


def parse_body(request: Request) -> tuple[bytes, dict[str, Any]]:
    """The JSON bytes of the delivery and their parsed object; GitHub sends JSON or a form."""
    media = request.content_type
    if media == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("form body is not UTF-8") from None
        if not fields.get("payload"):
            raise BadRequest("form-encoded delivery has no 'payload' field")
        raw = fields["payload"][0].encode("utf-8")
    elif media in ("application/json", ""):
        raw = request.body
    else:
        raise BadRequest(
            f"unsupported Content-Type {media!r}; GitHub sends application/json or application/x-www-form-urlencoded"
        )
    return raw, json_object(raw, "delivery body")


class IngestWebhook(EmittingHandler):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.emitter = (
            Emitter(
                settings.sink,
                timeout=settings.sink_timeout,
                attempts=settings.sink_attempts,
                deadline=settings.sink_deadline,
            )
            if settings.sink
            else None
        )
        # Discord wants its answer within 3 s: a tighter bound than GitHub's 10 s.
        discord_sink = (
            Emitter(
                settings.sink,
                timeout=min(settings.sink_timeout, 1.0),
                attempts=min(settings.sink_attempts, 2),
                deadline=min(settings.sink_deadline, DISCORD_DEADLINE),
            )
            if settings.sink
            else None
        )
        self.discord = DiscordInteractions(settings.discord_public_key, Policy.from_settings(settings), discord_sink)
        self.emitters = (self.emitter,) if self.emitter is not None else ()
        self.deadline = settings.sink_deadline

    def blocking(self, request: Request) -> bool:
        return request.path.rstrip("/") == INTERACTIONS_PATH

    def decide(self, request: Request) -> Outcome:
        if self.blocking(request):
            return Outcome(self.discord(request))
        # decode: size, authenticity, headers, body
        declared = request.headers.get("content-length", "")
        limit = self.settings.webhook_max_bytes
        if (declared.isdigit() and int(declared) > limit) or len(request.body) > limit:
            raise PayloadTooLarge(f"delivery is larger than {limit} bytes")
        unsigned = self._authenticate(request)
        name = request.headers.get("x-github-event", "").strip()
        delivery = request.headers.get("x-github-delivery", "").strip()
        missing = [h for h, v in (("X-GitHub-Event", name), ("X-GitHub-Delivery", delivery)) if not v]
        if missing:
            raise BadRequest(f"missing header(s): {', '.join(missing)}")
        raw, payload = parse_body(request)
        action = payload.get("action") if isinstance(payload.get("action"), str) else None

        # decide
        if name == "ping":
            logs.decision(_log, "ping answered", delivery=delivery, hook=request.headers.get("x-github-hook-id"))
            return Outcome(
                json_response(200, {"deliveryId": delivery, "event": name, "action": action}).noted("ignored", "ping")
            )

        # act: one raw event to emit, in one trace from here to the workflow
        with telemetry.span(
            "ingest.webhook", kind="server", attributes={"github.event": name, "github.delivery": delivery}
        ):
            event = self._event(request, name, action, delivery, raw, payload)
            if self.emitter is None:
                raise Unavailable("no sink configured: set K_SINK (Knative SinkBinding) to the raw topic's sink")

        def accepted() -> None:
            logs.decision(
                _log,
                "delivery accepted",
                delivery=delivery,
                type=event.type,
                repository=_repository_name(payload),
                subject=event.subject,
            )
            if unsigned:
                _log.warning(
                    "UNSIGNED delivery accepted (CODEX_WEBHOOK_ALLOW_UNSIGNED, no secret): anyone "
                    "who reaches this URL can inject events",
                    extra={"delivery": delivery},
                )

        # answer, once the sink accepted the event: an empty 202 naming the event type in a header
        # (a body would echo what GitHub's delivery log already shows, and hypercorn writes a body
        # with a second send, a tenth of this function's CPU per delivery: bench/RESULTS.md)
        return Outcome(Response(202, b"", {EVENT_TYPE_HEADER: event.type}), [(0, event)], accepted)

    def _authenticate(self, request: Request) -> bool:
        """401 unless the delivery is signed with a configured secret; True for an unsigned one let in.

        A configured secret is always required (CODEX_WEBHOOK_ALLOW_UNSIGNED never loosens it).
        Unsigned mode exists only without a secret, and a signature it cannot verify is refused:
        accepting it would tell the sender its forged or misconfigured signature works.
        """
        header = request.headers.get("x-hub-signature-256")
        if self.settings.webhook_secrets:
            if signatures.verify(self.settings.webhook_secrets, request.body, header):
                return False
            raise Unauthorized("missing or invalid X-Hub-Signature-256")
        if header is not None:
            raise Unauthorized("X-Hub-Signature-256 cannot be verified: no webhook secret is configured")
        if not self.settings.webhook_allow_unsigned:  # unreachable after create_app; kept as the rule
            raise Unauthorized("missing X-Hub-Signature-256")
        return True

    def _event(
        self, request: Request, name: str, action: str | None, delivery: str, raw: bytes, payload: dict[str, Any]
    ) -> Event:
        subject = _subject(payload)
        repository = _repository_name(payload)
        extensions = {
            "githubevent": name,
            "githubhookid": request.headers.get("x-github-hook-id", "").strip() or None,
            "partitionkey": (f"{repository}#{subject}" if repository and subject else repository),
            "traceparent": telemetry.current_traceparent(),
        }
        return Event(
            id=delivery,
            source=_source(payload),
            type=event_type(name, action),
            subject=subject,
            datacontenttype="application/json",
            data=raw,
            extensions={key: value for key, value in extensions.items() if value},
        )


def create_app(settings: Settings | None = None) -> FunctionApp:
    settings = settings or load_settings()
    logs.configure(settings.log_level)
    telemetry.setup(NAME)
    if not settings.webhook_secrets:
        if not settings.webhook_allow_unsigned:
            raise ConfigurationError(
                "CODEX_WEBHOOK_SECRET='': ingest-webhook refuses to start without a webhook secret; set it "
                "(or CODEX_WEBHOOK_SECRET_FILE) to the secret of the GitHub webhook, or "
                "CODEX_WEBHOOK_ALLOW_UNSIGNED=true for local use only"
            )
        _log.warning(
            "CODEX_WEBHOOK_ALLOW_UNSIGNED is on and no secret is set: ANY caller can inject "
            "deliveries. Never run this way outside a laptop."
        )
    handler = IngestWebhook(settings)
    return FunctionApp(
        NAME,
        handler,
        methods=("POST",),
        ready=lambda: sink_readiness(handler.emitter is not None, "K_SINK"),
        max_body=settings.webhook_max_bytes,
    )
