"""A webhook's delivery log as GitHub keeps it: what was sent, and what the receiver answered.

The GitHub stand-in serves it at GitHub's deliveries endpoints (REST API 2022-11-28, from
``github/rest-api-description``): items are ``hook-delivery-item`` objects, newest first,
paginated by an opaque ``cursor`` whose next value is in the ``Link`` header. Each delivery is
one signed POST with GitHub's headers and no retry (GitHub does not retry); a redelivery sends
the same body under the same GUID and is logged as a new item with ``redelivery: true``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode


@dataclass
class FakeHook:
    id: int
    url: str
    secret: str
    repository: str | None  # None: the GitHub App's webhook
    repository_id: int | None = None
    installation_id: int | None = None


@dataclass
class Sent:
    """One attempt (a delivery item) and the request it made, kept for redelivery."""

    item: dict[str, Any]
    hook_id: int
    body: bytes
    response_body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def status_text(status_code: int, error: str | None) -> str:
    """GitHub's ``status`` wording for an attempt."""
    if error is not None:
        return "failed to connect" if "Connect" in error else "timed out" if "Timeout" in error else error
    return "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}"


class DeliveryLog:
    """Every attempt of every hook, thread-safe; ``send`` posts one attempt and logs it."""

    def __init__(self, first_id: int = 90_000_000_000) -> None:
        self._lock = threading.Lock()
        self._next = first_id
        self.sent: list[Sent] = []

    def send(
        self,
        hook: FakeHook,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        guid: str | None = None,
        redelivery: bool = False,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Post one delivery to ``hook.url`` now and log what came back (nothing raises)."""
        import requests

        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        guid = guid or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/codex-standin",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "repository" if hook.repository else "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(hook.repository_id or 0),
            "X-Hub-Signature-256": "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        started = time.monotonic()
        status_code, error, answer = 0, None, b""
        try:
            response = requests.post(hook.url, data=body, headers=headers, timeout=timeout)
            status_code, answer = response.status_code, response.content
        except requests.RequestException as exc:
            error = type(exc).__name__
        return self.record(
            hook,
            event,
            body,
            guid=guid,
            status_code=status_code,
            error=error,
            duration=time.monotonic() - started,
            redelivery=redelivery,
            headers=headers,
            response=answer,
        )

    def record(
        self,
        hook: FakeHook,
        event: str,
        body: bytes,
        *,
        guid: str,
        status_code: int,
        error: str | None,
        duration: float,
        redelivery: bool = False,
        headers: dict[str, str] | None = None,
        response: bytes = b"",
    ) -> dict[str, Any]:
        """Log an attempt made by someone else (dev's webhook sender) as GitHub logs it."""
        loaded: Any = json.loads(body) if body else {}
        action = loaded.get("action") if isinstance(loaded, dict) and isinstance(loaded.get("action"), str) else None
        with self._lock:
            self._next += 1
            item = {
                "id": self._next,
                "guid": guid,
                "delivered_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "redelivery": redelivery,
                "duration": round(duration, 2),
                "status": status_text(status_code, error),
                "status_code": status_code,
                "event": event,
                "action": action,
                "installation_id": hook.installation_id,
                "repository_id": hook.repository_id,
                "throttled_at": None,
            }
            self.sent.append(Sent(item, hook.id, body, response, dict(headers or {})))
        return item

    def find(self, hook_id: int, delivery_id: int) -> Sent | None:
        with self._lock:
            return next((s for s in self.sent if s.hook_id == hook_id and s.item["id"] == delivery_id), None)

    def items(self, hook_id: int) -> list[dict[str, Any]]:
        """The hook's attempts, newest first (as GitHub lists them)."""
        with self._lock:
            return [dict(s.item) for s in reversed(self.sent) if s.hook_id == hook_id]

    def redeliver(self, hook: FakeHook, delivery_id: int) -> bool:
        """Send ``delivery_id`` again in the background (GitHub answers 202 first); False when unknown."""
        original = self.find(hook.id, delivery_id)
        if original is None:
            return False
        thread = threading.Thread(
            target=self.send,
            args=(hook, original.item["event"], original.body),
            kwargs={"guid": original.item["guid"], "redelivery": True},
            daemon=True,
        )
        thread.start()
        return True

    def page(self, hook_id: int, base_url: str, query: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """One page from ``cursor`` (an opaque ``v1_<id>`` naming the page's first item), and its Link."""
        items = self.items(hook_id)
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        start = 0
        cursor = query.get("cursor")
        if cursor:
            wanted = int(cursor.removeprefix("v1_")) if cursor.removeprefix("v1_").isdigit() else -1
            start = next((i for i, item in enumerate(items) if item["id"] == wanted), len(items))
        chunk = items[start : start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(items):
            following = {**query, "per_page": str(per_page), "cursor": f"v1_{items[start + per_page]['id']}"}
            headers["link"] = f'<{base_url}?{urlencode(following)}>; rel="next"'
        return chunk, headers
