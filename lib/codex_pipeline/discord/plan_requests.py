"""A planning request that has no issue yet: Discord's ``/plan`` on its way to dispatch-planning.

Wire shape: a CloudEvent of its own type, :data:`PLAN_REQUEST_TYPE` (``codex.plan.request``),
with JSON data (:class:`PlanRequest`), rather than new optional fields on ``CodexTask``. A
``CodexTask`` is a task *for an issue*: every consumer (and ``tasks.require``) takes repository,
issue number and delivery id as given, and the Argo parameter ``payload`` is its JSON. A Discord
request has no issue number until dispatch-planning opens the issue, and it carries what no
workflow may ever see (the interaction token that lets its holder post as the application for
15 minutes). A separate type keeps both facts out of the task contract, needs no protobuf change,
and gets its own Trigger to dispatch-planning, which turns the request into an ordinary planning
task once the issue exists. The request travels on route-task's task sink (``CODEX_TASKS_SINK``)
only; the JSON mirror topic stays a mirror of ``CodexTask``s.

:func:`route_plan_request` is the rule route-task applies to a ``com.discord.interaction.plan``
event: pure, never raises, ignores with a reason. It asks the trust policy again (the raw
event may be a replay long after ingest decided) and cleans the request text
(:func:`codex_pipeline.core.untrusted.clean`); the text reaches a prompt only fenced (see
:func:`codex_pipeline.core.prompts.issue_planning_prompt`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from codex_pipeline.core import untrusted
from codex_pipeline.core.policy import Policy
from codex_pipeline.discord.shapes import (
    MODAL_ID,
    MODAL_SUBMIT,
    REQUEST_FIELD,
    REQUEST_MAX,
    TITLE_FIELD,
    interaction_user,
    modal_values,
)
from codex_pipeline.errors import BadRequest
from codex_pipeline.wire.http import json_object
from codex_pipeline.wire.jsonfields import obj, text

PLAN_REQUEST_TYPE = "codex.plan.request"
TITLE_LIMIT = 80
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class PlanRequest:
    """What dispatch-planning needs to open the issue, plan it, and answer on Discord."""

    repository: str
    title: str
    body: str
    requester_id: str
    requester_name: str
    interaction_id: str
    application_id: str
    interaction_token: str
    guild_id: str = ""
    channel_id: str = ""

    @property
    def once_key(self) -> str:
        """The issue is opened once per interaction id (the store's claim and record key)."""
        return f"discord-plan:{self.interaction_id}"

    @property
    def marker(self) -> str:
        """Hidden in the issue body (GitHub does not render HTML comments) so the issue can be found
        on GitHub by the interaction that asked for it; :func:`untrusted.clean` strips it from prompts."""
        return f"<!-- codex:discord-interaction {self.interaction_id} -->"

    @property
    def delivery_id(self) -> str:
        """The delivery id of the planning task that follows (one Workflow per interaction)."""
        return f"discord-{self.interaction_id}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PlanRequest:
        """400 for anything that is not a complete request (it can never succeed)."""
        data = json_object(raw, "plan request")
        names = [name for name in cls.__dataclass_fields__]
        values = {name: data.get(name, "") for name in names}
        wrong = [name for name, value in values.items() if not isinstance(value, str)]
        if wrong:
            raise BadRequest(f"plan request field(s) must be text: {', '.join(wrong)}")
        missing = [
            name
            for name in ("repository", "body", "interaction_id", "application_id", "interaction_token")
            if not values[name]
        ]
        if missing:
            raise BadRequest(f"plan request is missing: {', '.join(missing)}")
        if not _REPOSITORY.match(values["repository"]):
            raise BadRequest(f"plan request repository {values['repository']!r} is not owner/name")
        if not _SNOWFLAKE.match(values["interaction_id"]) or not _SNOWFLAKE.match(values["application_id"]):
            raise BadRequest("plan request interaction_id and application_id must be Discord ids")
        return cls(**values)


@dataclass(frozen=True)
class PlanRouteResult:
    request: PlanRequest | None
    reason: str


def _title(title: str, body: str) -> str:
    chosen = " ".join(title.split()) or " ".join((body.strip().split("\n", 1)[0]).split())
    if len(chosen) > TITLE_LIMIT:
        chosen = chosen[: TITLE_LIMIT - 1].rstrip() + "…"
    return chosen or "Plan request from Discord"


def route_plan_request(interaction: Any, policy: Policy, repository: str | None) -> PlanRouteResult:
    """A ``/plan`` modal submission -> the request for ``repository``; None with a reason otherwise."""
    if not isinstance(interaction, dict):
        return PlanRouteResult(None, "discord plan: interaction is not a JSON object")
    if not repository or not _REPOSITORY.match(repository):
        return PlanRouteResult(None, "discord plan: CODEX_DISCORD_REPOSITORY is unset or not owner/name")
    if interaction.get("type") != MODAL_SUBMIT or text(obj(interaction, "data"), "custom_id") != MODAL_ID:
        return PlanRouteResult(None, "discord plan: not a /plan modal submission")
    user, name, roles = interaction_user(interaction)
    allowed = policy.may_request_discord_plan(user, roles)
    if not allowed:
        return PlanRouteResult(None, allowed.reason)
    fields = {key: text(interaction, key) for key in ("id", "application_id", "token", "guild_id", "channel_id")}
    if not (_SNOWFLAKE.match(fields["id"]) and _SNOWFLAKE.match(fields["application_id"]) and fields["token"]):
        return PlanRouteResult(None, "discord plan: interaction lacks id, application_id or token")
    values = modal_values(interaction)
    body = untrusted.clean(values.get(REQUEST_FIELD, ""))[:REQUEST_MAX].strip()
    if not body:
        return PlanRouteResult(None, "discord plan: the request is empty")
    title = _title(untrusted.clean(values.get(TITLE_FIELD, "")).replace("\n", " "), body)
    request = PlanRequest(
        repository=repository,
        title=title,
        body=body,
        requester_id=user,
        requester_name=untrusted.clean(name)[:64],
        interaction_id=fields["id"],
        application_id=fields["application_id"],
        interaction_token=fields["token"],
        guild_id=fields["guild_id"],
        channel_id=fields["channel_id"],
    )
    return PlanRouteResult(request, allowed.reason)


def issue_body(request: PlanRequest) -> str:
    """The GitHub issue's body: the request as written (cleaned), then who asked and where."""
    who = request.requester_name or request.requester_id
    return (
        f"{request.body}\n\n---\n_Requested on Discord by {who} (user id {request.requester_id}) "
        f"with `/plan` (interaction {request.interaction_id})._\n{request.marker}"
    )
