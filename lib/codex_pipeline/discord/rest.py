"""One Discord REST call with Discord's rate limits honoured: used by the run's channel stream
(``discord-channel``) and by dispatch-planning's ``/plan`` follow-up message.

A 429 is waited out (``retry_after`` from the JSON body, else the ``Retry-After`` header) while
the total wait stays under the caller's bound; any other failure raises :class:`DiscordError`
naming only ``what`` was called, never the URL (a webhook URL holds the interaction token).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from codex_pipeline.core.names import DEFAULT_DISCORD_API_URL
from codex_pipeline.errors import DiscordError

if TYPE_CHECKING:
    import requests

DEFAULT_API_URL = DEFAULT_DISCORD_API_URL


def call(
    session: requests.Session,
    method: str,
    url: str,
    payload: dict[str, Any],
    *,
    what: str,
    timeout: float,
    max_retry_wait: float,
) -> dict[str, Any]:
    """The JSON answer of ``method url``; :class:`DiscordError` when it cannot be had."""
    import requests

    waited = 0.0
    while True:
        try:
            response = session.request(
                method, url, data=json.dumps(payload), timeout=timeout, headers={"Content-Type": "application/json"}
            )
        except requests.RequestException as exc:
            raise DiscordError(f"Discord unreachable: {type(exc).__name__}") from None
        if response.status_code == 429:
            wait = _retry_after(response)
            if waited + wait > max_retry_wait:
                raise DiscordError(f"Discord rate limit lasts longer than {max_retry_wait}s")
            time.sleep(wait)
            waited += wait
            continue
        if response.status_code >= 400:
            raise DiscordError(f"Discord answered {response.status_code} to {method} {what}: {_message(response)}")
        result: dict[str, Any] = response.json() if response.content else {}
        return result


def _retry_after(response: Any) -> float:
    try:
        value = float(response.json().get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        value = float(response.headers.get("Retry-After") or 1.0)
    return max(0.0, min(value, 60.0))


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return ""
