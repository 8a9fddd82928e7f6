"""Side effects that must happen once (a GitHub comment), on top of the store's claims.

A comment cannot be created under a deterministic name the way a Workflow can, so "exactly
once" needs a record. Recording before the effect loses it when the process dies in between;
recording after posts twice when two deliveries race. A claim with a lease does neither: the
first delivery claims, posts and completes; a concurrent one finds the claim busy and answers
503 (the broker retries it and then finds it done); a claim left by a dead process expires and
the next delivery does the effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from codex_pipeline.effects.store import OnceState, Store
from codex_pipeline.errors import Unavailable

DEFAULT_LEASE_SECONDS = 60.0


def do_once(
    store: Store,
    key: str,
    effect: Callable[[], object],
    *,
    already_done: Callable[[], bool] | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> bool:
    """Run ``effect`` unless it was done for ``key``; True when this call did it.

    ``already_done`` looks at the outside world (e.g. a marker comment already on the issue,
    posted by a run whose completion was never recorded) and, when true, records the key done.
    Raises :class:`Unavailable` while another caller holds the claim, and re-raises the
    effect's own failure after releasing the claim, so a retry can do it."""
    if already_done is not None and already_done():
        store.complete_once(key)
        return False
    state = store.claim_once(key, owner=uuid.uuid4().hex, lease_seconds=lease_seconds)
    if state is OnceState.DONE:
        return False
    if state is OnceState.BUSY:
        raise Unavailable(f"{key} is being done by another delivery; retry shortly", headers={"Retry-After": "5"})
    try:
        effect()
    except BaseException:
        store.clear_once(key)
        raise
    store.complete_once(key)
    return True
