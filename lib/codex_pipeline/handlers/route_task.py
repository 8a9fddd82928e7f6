"""route-task: raw GitHub CloudEvents in, CodexTask CloudEvents out (or a logged reason to ignore).

decode: a binary or structured CloudEvent whose data is the GitHub payload (400 when it can
never be read); decide: :func:`codex_pipeline.core.routing.route`, pure; act: emit every task twice,
protobuf to ``CODEX_TASKS_SINK`` (``github.issues.codex.tasks``) and the spec's JSON to
``CODEX_TASKS_JSON_SINK`` (``github.codex.tasks``), as binary-mode CloudEvents; answer: an empty
2xx once both sinks accepted (200 ignored, 202 emitted), 503 when either did not. Event ids
derive from the delivery id and stage, so the re-emission a broker retry causes deduplicates.

A Discord ``/plan`` submission (``com.discord.interaction.plan``, from ingest-webhook) becomes a
``codex.plan.request`` for ``CODEX_DISCORD_REPOSITORY`` (:mod:`codex_pipeline.discord.plan_requests`
explains that wire shape), emitted to ``CODEX_TASKS_SINK`` only, with id ``<interaction id>:plan-request``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from codex_pipeline.core.commands import COMMAND_TYPE, CommandRequest
from codex_pipeline.core.policy import Policy
from codex_pipeline.core.routing import ROUTED_TYPES, TYPE_PREFIX, RoutedTask, route
from codex_pipeline.discord.plan_requests import PLAN_REQUEST_TYPE, route_plan_request
from codex_pipeline.discord.shapes import PLAN_EVENT_TYPE
from codex_pipeline.effects import oidc
from codex_pipeline.effects.emit import Emitter
from codex_pipeline.errors import BadRequest, Unavailable
from codex_pipeline.shell import logs, telemetry
from codex_pipeline.shell.app import FunctionApp, sink_readiness
from codex_pipeline.shell.config import Settings, alias_notes, load_settings, read_by
from codex_pipeline.shell.outcome import EmittingHandler, Outcome
from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import KAFKA_RECORD_TYPE, TASK_TYPES, Event, decode_request
from codex_pipeline.wire.http import Request, empty_response

NAME = "route-task"
# The raw types its Trigger sends (routing's rule table); everything else is acked as ignored.
HANDLES: frozenset[str] = ROUTED_TYPES | {PLAN_EVENT_TYPE}
EMITS: frozenset[str] = frozenset(TASK_TYPES.values()) | {PLAN_REQUEST_TYPE, COMMAND_TYPE}
SETTINGS_READ = read_by(NAME)  # the settings table's readers column
SOURCE = "urn:codex-pipeline:route-task"
PROTOBUF_MEDIA = "application/protobuf"
JSON_MEDIA = "application/json"
_log = logging.getLogger("codex_pipeline.route_task")


def _received_at(event: Event) -> datetime:
    if event.time:
        try:
            parsed = datetime.fromisoformat(event.time)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return datetime.now(UTC)


def task_events(routed: RoutedTask, traceparent: str | None) -> tuple[Event, Event]:
    """The protobuf and the JSON CloudEvent of one task (same id, type and partition key)."""
    task = routed.task
    # the events' time is the task's issuedAt, in the RFC 3339 form the JSON holds it in
    as_json, time = tasks.to_json_and_issued_at(task)
    extensions = {"partitionkey": routed.partition_key}
    if traceparent:
        extensions["traceparent"] = traceparent

    def event(media: str, data: bytes) -> Event:
        return Event(
            id=routed.event_id,
            source=SOURCE,
            type=routed.type,
            data=data,
            datacontenttype=media,
            subject=routed.partition_key,
            dataschema=tasks.DATASCHEMA,
            time=time,
            extensions=extensions,
        )

    return event(PROTOBUF_MEDIA, tasks.to_protobuf(task)), event(JSON_MEDIA, as_json)


def command_event(command: CommandRequest, traceparent: str | None) -> Event:
    """A ``codex.command`` CloudEvent (JSON data), on the task sink only: it is not a CodexTask."""
    extensions = {"partitionkey": command.partition_key}
    if traceparent:
        extensions["traceparent"] = traceparent
    return Event(
        id=command.event_id,
        source=SOURCE,
        type=COMMAND_TYPE,
        subject=command.partition_key,
        datacontenttype=JSON_MEDIA,
        data=command.to_json(),
        extensions=extensions,
    )


class RouteTask(EmittingHandler):
    def __init__(self, settings: Settings) -> None:
        self.policy = Policy.from_settings(settings)
        self.discord_repository = settings.discord_repository
        self.emitters: tuple[Emitter, ...] = ()
        self.deadline = settings.sink_deadline
        if settings.tasks_sink and settings.tasks_json_sink:
            self.emitters = (
                Emitter(
                    settings.tasks_sink,
                    timeout=settings.sink_timeout,
                    attempts=settings.sink_attempts,
                    deadline=settings.sink_deadline,
                ),
                Emitter(
                    settings.tasks_json_sink,
                    timeout=settings.sink_timeout,
                    attempts=settings.sink_attempts,
                    deadline=settings.sink_deadline,
                ),
            )

    def decide(self, request: Request) -> Outcome:
        # decode
        event = decode_request(request)
        if event.type == PLAN_EVENT_TYPE:
            return self._plan_request(event)
        github_event = self._github_event(event)
        if github_event is None:
            logs.decision(
                _log,
                "event ignored",
                delivery=event.id,
                type=event.type,
                reason="not a raw GitHub event (com.github.*)",
            )
            return Outcome(empty_response(200).noted("ignored", "not-github"))
        payload = event.json()
        if not isinstance(payload, dict):
            raise BadRequest(f"event {event.id} data must be a GitHub payload (a JSON object)")

        # decide
        with telemetry.span(
            "route.task",
            traceparent=event.traceparent,
            kind="consumer",
            attributes={"github.event": event.type, "github.delivery": event.id},
        ) as span:
            result = route(github_event, payload, event.id, self.policy, received_at=_received_at(event))
            if result.ignored:
                logs.decision(_log, "delivery ignored", delivery=event.id, type=event.type, reason=result.reason)
                return Outcome(empty_response(200).noted("ignored", result.code or "other"))

            # act: both topics must hold every task before the delivery is acked
            if not self.emitters:
                raise Unavailable("no task sinks configured: set CODEX_TASKS_SINK and CODEX_TASKS_JSON_SINK")
            traceparent = telemetry.current_traceparent() or event.traceparent
            emits: list[tuple[int, Event]] = []
            for routed in result.tasks:
                span.set_attributes(
                    {
                        telemetry.ATTR_STAGE: routed.kind,
                        telemetry.ATTR_REPOSITORY: routed.task.repository,
                        telemetry.ATTR_ISSUE: routed.task.issue_number,
                    }
                )
                structured, as_json = task_events(routed, traceparent)
                emits += [(0, structured), (1, as_json)]
            emits += [(0, command_event(command, traceparent)) for command in result.commands]

        def accepted() -> None:
            for routed in result.tasks:
                logs.decision(
                    _log,
                    "task routed",
                    stage=routed.kind,
                    type=routed.type,
                    id=routed.event_id,
                    repository=routed.task.repository,
                    issue=routed.task.issue_number,
                    delivery=event.id,
                    reason=result.reason,
                )
            for command in result.commands:
                logs.decision(
                    _log,
                    "command routed",
                    kind=command.kind,
                    type=COMMAND_TYPE,
                    id=command.event_id,
                    repository=command.repository,
                    issue=command.number,
                    delivery=event.id,
                    reason=result.reason,
                )

        # answer, once both sinks accepted every event (one deadline bounds them all)
        return Outcome(empty_response(202), emits, accepted)

    def _plan_request(self, event: Event) -> Outcome:
        interaction = event.json()
        with telemetry.span(
            "route.discord",
            traceparent=event.traceparent,
            kind="consumer",
            attributes={"discord.interaction": event.id},
        ):
            result = route_plan_request(interaction, self.policy, self.discord_repository)
            if result.request is None:
                logs.decision(_log, "discord request ignored", interaction=event.id, reason=result.reason)
                return Outcome(empty_response(200).noted("ignored", "discord-refused"))
            if not self.emitters:
                raise Unavailable("no task sinks configured: set CODEX_TASKS_SINK and CODEX_TASKS_JSON_SINK")
            plan = result.request
            traceparent = telemetry.current_traceparent() or event.traceparent
            extensions = {"partitionkey": plan.repository, "traceparent": traceparent}
            request_event = Event(
                id=f"{plan.interaction_id}:plan-request",
                source=SOURCE,
                type=PLAN_REQUEST_TYPE,
                subject=plan.repository,
                datacontenttype=JSON_MEDIA,
                data=plan.to_json(),
                extensions={key: value for key, value in extensions.items() if value},
            )

        def accepted() -> None:
            logs.decision(
                _log,
                "plan request routed",
                type=PLAN_REQUEST_TYPE,
                interaction=plan.interaction_id,
                repository=plan.repository,
                requester=plan.requester_id,
                reason=result.reason,
            )

        return Outcome(empty_response(202), [(0, request_event)], accepted)

    @staticmethod
    def _github_event(event: Event) -> str | None:
        """The routing key: the raw type, or for a plain Kafka record its ``githubevent`` extension."""
        if event.type.startswith(TYPE_PREFIX):
            return event.type
        if event.type == KAFKA_RECORD_TYPE and event.extensions.get("githubevent"):
            return event.extensions["githubevent"]
        return None


def create_app(settings: Settings | None = None) -> FunctionApp:
    settings = settings or load_settings()
    logs.configure(settings.log_level)
    telemetry.setup(NAME)
    for note in alias_notes(settings):
        _log.warning(note)
    if not settings.trigger_logins:
        _log.warning("CODEX_TRIGGER_LOGINS is empty: nobody can start planning or execute plans")
    if not settings.planner_login:
        _log.warning("CODEX_PLANNER_LOGIN is unset: no plan comment will promote an issue")
    handler = RouteTask(settings)
    if not handler.emitters:
        _log.warning("CODEX_TASKS_SINK or CODEX_TASKS_JSON_SINK is unset: tasks will be answered 503")
    return FunctionApp(
        NAME,
        handler,
        methods=("POST",),
        ready=lambda: sink_readiness(bool(handler.emitters), "CODEX_TASKS_SINK / CODEX_TASKS_JSON_SINK"),
        authenticate=oidc.from_settings(settings),
    )
