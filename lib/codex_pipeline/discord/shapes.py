"""Discord's interaction JSON as ``/plan`` uses it: ids, field names and two readers.

Shared by the endpoint (:mod:`codex_pipeline.discord.interactions`), which builds the modal
and answers Discord, and by the plan request (:mod:`codex_pipeline.discord.plan_requests`),
which route-task reads from the event long after the endpoint answered. Keeping them here
lets route-task decide on a request without loading the endpoint (its signature checks and
HTTP answers). No I/O; the readers never raise.
"""

from __future__ import annotations

from typing import Any

from codex_pipeline.wire.jsonfields import obj, text

PLAN_EVENT_TYPE = "com.discord.interaction.plan"
MODAL_ID = "codex-plan"
REQUEST_FIELD = "request"
TITLE_FIELD = "title"
REQUEST_MAX = 4000
TITLE_MAX = 100
# Interaction types (Discord API v10).
PING, APPLICATION_COMMAND, MODAL_SUBMIT = 1, 2, 5


# ---------------------------------------------------------------- reading an interaction (never raises)


def interaction_user(interaction: Any) -> tuple[str, str, list[str]]:
    """(user id, username, member role ids): ``member.user`` in a guild, ``user`` in a DM."""
    member = obj(interaction, "member")
    user = obj(member, "user") or obj(interaction, "user")
    found = member.get("roles")
    roles: list[Any] = found if isinstance(found, list) else []
    return (
        text(user, "id"),
        text(user, "global_name") or text(user, "username"),
        [r for r in roles if isinstance(r, str)],
    )


def modal_values(interaction: Any) -> dict[str, str]:
    """The text inputs of a modal submission by custom id (action rows flattened)."""
    values: dict[str, str] = {}
    rows = obj(interaction, "data").get("components")
    for row in rows if isinstance(rows, list) else []:
        inner = row.get("components") if isinstance(row, dict) else None
        items: list[Any] = inner if isinstance(inner, list) else [obj(row, "component")]
        for item in items:
            custom_id, value = text(item, "custom_id"), text(item, "value")
            if custom_id:
                values[custom_id] = value
    return values
