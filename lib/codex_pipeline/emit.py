"""Posting CloudEvents to a sink (a KafkaSink, a broker, or the local router).

Bounded on purpose: ingest-webhook must answer GitHub well inside its 10 s, so attempts and
per-attempt timeout are settings, and every failure surfaces as :class:`Unavailable` (503)
so the caller's caller retries. Emission is idempotent by event id downstream.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from codex_pipeline.errors import Unavailable
from codex_pipeline.events import Event, encode_binary

if TYPE_CHECKING:
    import requests

_RETRYABLE_STATUS = frozenset({404, 408, 409, 429}) | frozenset(range(500, 600))


class Emitter:
    """Sends events in binary mode to one sink URL over a pooled HTTP session."""

    def __init__(self, url: str, *, timeout: float = 2.0, attempts: int = 3, backoff: float = 0.1) -> None:
        import requests  # deferred: ~140 ms of import, paid on first use instead of at cold start

        self.url = url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._session: requests.Session = requests.Session()

    def emit(self, event: Event) -> None:
        import requests

        headers, body = encode_binary(event)
        last_problem = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                answer = self._session.post(self.url, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                last_problem = f"{type(exc).__name__}"
                continue
            if 200 <= answer.status_code < 300:
                return
            last_problem = f"HTTP {answer.status_code}"
            if answer.status_code not in _RETRYABLE_STATUS:
                break
        raise Unavailable(f"sink did not accept event {event.id} ({last_problem})")

    def close(self) -> None:
        self._session.close()
