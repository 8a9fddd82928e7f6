"""A webhook and its recent deliveries, as GitHub's REST API (version 2022-11-28) describes them.

Followed from ``github/rest-api-description`` (``descriptions/api.github.com/
api.github.com.2022-11-28.yaml``): ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries`` and
``GET /app/hook/deliveries`` (App JWT only) answer a JSON array of ``hook-delivery-item``
objects, newest first, ``per_page`` up to 100 and cursor pagination (the ``cursor`` query
parameter, whose next value GitHub puts in the ``Link`` header's ``rel="next"`` URL);
``POST …/deliveries/{delivery_id}/attempts`` asks for a redelivery and answers 202 (400/422 when
it cannot). A redelivery appears as a new item with a new ``id``, the same ``guid`` and
``redelivery: true``. GitHub does not retry a failed delivery by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codex_pipeline.wire.github import split_repo


@dataclass(frozen=True)
class Hook:
    """A repository webhook (``repo`` + ``hook_id``) or the GitHub App's webhook (``repo`` None)."""

    repo: str | None = None
    hook_id: int | None = None

    @classmethod
    def parse(cls, text: str) -> Hook:
        """``owner/name:HOOK_ID`` for a repository hook, ``app`` for the App's hook."""
        value = text.strip()
        if value.lower() == "app":
            return cls()
        repo, sep, hook = value.rpartition(":")
        if not sep or not hook.isdigit():
            raise ValueError(f"a webhook is 'owner/name:HOOK_ID' or 'app', got {text!r}")
        split_repo(repo)
        return cls(repo, int(hook))

    @property
    def is_app(self) -> bool:
        return self.repo is None

    @property
    def path(self) -> str:
        """The REST path of the hook's deliveries."""
        if self.repo is None:
            return "/app/hook/deliveries"
        owner, name = split_repo(self.repo)
        return f"/repos/{owner}/{name}/hooks/{self.hook_id}/deliveries"

    def __str__(self) -> str:
        return "app" if self.repo is None else f"{self.repo}:{self.hook_id}"


@dataclass(frozen=True)
class HookDelivery:
    """One ``hook-delivery-item``: one attempt to deliver one event (``guid``) to the hook."""

    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    status: str
    status_code: int
    event: str
    action: str | None
    throttled: bool = False

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> HookDelivery:
        return cls(
            id=int(data["id"]),
            guid=str(data["guid"]),
            delivered_at=parse_time(str(data["delivered_at"])),
            redelivery=bool(data.get("redelivery")),
            status=str(data.get("status") or ""),
            # GitHub records 0 when nothing answered (connection refused, timeout).
            status_code=int(data.get("status_code") or 0),
            event=str(data.get("event") or ""),
            action=data.get("action") if isinstance(data.get("action"), str) else None,
            throttled=data.get("throttled_at") is not None,
        )


def parse_time(text: str) -> datetime:
    """GitHub's ``2026-11-29T18:00:00Z`` as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
