"""Webhook deliveries as GitHub sends them: signed JSON POSTs, one at a time, in order.

The GitHub stand-in of ``codex-pipeline dev`` uses this to close the loop: what the functions
and steps do on the stand-in comes back to ingest-webhook as deliveries, with GitHub's headers
(``X-GitHub-Event``, ``X-GitHub-Delivery``, ``X-GitHub-Hook-ID``,
``X-GitHub-Hook-Installation-Target-*``, ``X-Hub-Signature-256`` and the legacy SHA-1
``X-Hub-Signature``) and a ``GitHub-Hookshot`` user agent. A delivery that fails (connection
refused, 5xx) is tried again a few times, as a GitHub user would press "Redeliver"; every
attempt is kept in :attr:`Sender.deliveries` (what GitHub's "Recent Deliveries" shows).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

HOOK_ID = 470_000_001
ATTEMPTS = 4


@dataclass
class Delivery:
    guid: str
    event: str
    action: str | None
    repository: str
    body: bytes
    status_code: int | None = None
    delivered_at: str = ""
    attempts: int = 0
    error: str | None = None
    duration: float = 0.0


def signature_headers(secret: str, body: bytes) -> dict[str, str]:
    sha256 = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sha256}", "X-Hub-Signature": f"sha1={sha1}"}


@dataclass
class Sender:
    """Posts each queued delivery to ``url`` signed with ``secret``; ``on_sent`` hears each outcome."""

    url: str
    secret: str
    on_sent: Callable[[Delivery], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _idle: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sender:
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
        self._thread.start()
        return self

    def send(self, event: str, payload: dict[str, Any]) -> Delivery:
        repository = str((payload.get("repository") or {}).get("full_name") or "")
        delivery = Delivery(
            str(uuid.uuid4()),
            event,
            payload.get("action"),
            repository,
            json.dumps(payload, separators=(",", ":")).encode(),
        )
        self.deliveries.append(delivery)
        self._idle.clear()
        self._queue.put(delivery)
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued delivery has been sent (or given up on)."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import requests

        session = requests.Session()
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            self._post(session, delivery)
            if self._queue.empty():
                self._idle.set()

    def _post(self, session: Any, delivery: Delivery) -> None:
        import requests

        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/codex-pipeline-standin",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": str(HOOK_ID),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "0",
            **signature_headers(self.secret, delivery.body),
        }
        for attempt in range(1, ATTEMPTS + 1):
            delivery.attempts = attempt
            started = time.monotonic()
            try:
                answer = session.post(self.url, data=delivery.body, headers=headers, timeout=10)
                delivery.status_code, delivery.error = answer.status_code, None
            except requests.RequestException as exc:
                delivery.status_code, delivery.error = None, type(exc).__name__
            delivery.duration = time.monotonic() - started
            delivery.delivered_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if delivery.status_code is not None and delivery.status_code < 500:
                break
            time.sleep(0.5 * attempt)
        if self.on_sent is not None:
            self.on_sent(delivery)
