"""Redeliver webhook deliveries that never reached the pipeline.

GitHub does not retry a failed delivery: when ingest-webhook answered 503 (its sink was down) or
could not be reached, the event is lost until someone redelivers it. :func:`reconcile` reads
the hook's recent deliveries, groups them by event (``guid``: a redelivery keeps it), and for
each event whose newest attempt was not a 2xx asks GitHub to redeliver that attempt.

Promises:

- a delivery is redelivered at most once, ever: the store records the claim before GitHub is
  asked (a concurrent run finds it claimed); a claim GitHub never accepted (transient fault) is
  released so a later run tries again;
- one event is redelivered at most ``max_per_event`` times (a payload ingest refuses every time
  is not retried for ever); one run asks for at most ``max_redeliveries``;
- the cursor moves only past events that are settled, so what a run could not do (cap reached,
  GitHub rate-limited or down) is found again by the next run.

Ingest and everything after it are idempotent on the delivery id, so a redelivery of an event
that did get through after all costs nothing but a duplicate that is recognised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from codex_pipeline.effects.github.client import GitHubPermanentError, GitHubUnavailableError
from codex_pipeline.effects.github.deliveries import Hook, HookDelivery
from codex_pipeline.effects.store import Redelivery, Store

# GitHub keeps a hook's deliveries, and redelivers them, for 3 days.
LOOKBACK = timedelta(days=3)
# Deliveries made just before the cursor was saved are looked at again (clock skew, late results).
OVERLAP = timedelta(minutes=10)


class DeliveriesClient(Protocol):
    """The two GitHub calls reconcile makes (see :class:`codex_pipeline.effects.github.GitHubClient`)."""

    def hook_deliveries(self, hook: Hook) -> Iterable[HookDelivery]: ...

    def redeliver(self, hook: Hook, delivery_id: int) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one failed event: its newest attempt, and a reason when it was skipped."""

    delivery: HookDelivery
    redelivered: bool
    reason: str = ""

    def line(self) -> str:
        d = self.delivery
        name = f"{d.event}.{d.action}" if d.action else d.event
        answer = f"last answer {d.status_code}" if d.status_code else f"last attempt: {d.status or 'no answer'}"
        text = f"{d.id} {name} guid={d.guid} ({answer}, {d.delivered_at:%Y-%m-%dT%H:%M:%SZ})"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class Summary:
    hook: str
    since: datetime
    since_from: str  # "--since", "cursor" or "lookback"
    dry_run: bool = False
    checked: int = 0
    events: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str = ""  # why the listing stopped early (GitHub unavailable), if it did

    @property
    def failed(self) -> int:
        return len(self.outcomes)

    @property
    def redelivered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.redelivered]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.redelivered]

    def text(self) -> str:
        verb = "would redeliver" if self.dry_run else "redelivered"
        lines = [
            f"reconcile {self.hook}{' (dry run)' if self.dry_run else ''}: deliveries since "
            f"{self.since:%Y-%m-%dT%H:%M:%SZ} ({self.since_from})",
            f"  checked      {self.checked} deliveries of {self.events} events",
            f"  failed       {self.failed} events whose last attempt was not 2xx",
            f"  {verb:<12} {len(self.redelivered)}",
        ]
        lines += [f"    {o.line()}" for o in self.redelivered]
        lines.append(f"  skipped      {len(self.skipped)}")
        lines += [f"    {o.line()}" for o in self.skipped]
        if self.stopped:
            lines.append(f"  stopped      {self.stopped}")
        return "\n".join(lines)


def _newest(attempts: list[HookDelivery]) -> HookDelivery:
    return max(attempts, key=lambda d: (d.delivered_at, d.id))


def reconcile(
    client: DeliveriesClient,
    store: Store,
    hook: Hook,
    *,
    since: datetime | None = None,
    max_redeliveries: int = 20,
    max_per_event: int = 3,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Summary:
    """One pass over ``hook``'s deliveries since ``since`` (else the stored cursor, else 3 days)."""
    now = clock()
    key = str(hook)
    cursor = store.reconcile_cursor(key)
    if since is not None:
        start, start_from = since, "--since"
    elif cursor is not None:
        start, start_from = max(cursor - OVERLAP, now - LOOKBACK), "cursor"
    else:
        start, start_from = now - LOOKBACK, "lookback"
    summary = Summary(key, start, start_from, dry_run)

    by_event: dict[str, list[HookDelivery]] = {}
    try:
        for delivery in client.hook_deliveries(hook):
            if delivery.delivered_at < start:
                break  # newest first: everything after this is older
            summary.checked += 1
            by_event.setdefault(delivery.guid, []).append(delivery)
    except GitHubUnavailableError as error:
        summary.stopped = f"listing deliveries: {error}; nothing redelivered, the cursor stays"
        return summary
    summary.events = len(by_event)

    failed = [_newest(attempts) for attempts in by_event.values() if not any(attempt.succeeded for attempt in attempts)]
    failed.sort(key=lambda d: (d.delivered_at, d.id))  # oldest first: the longest lost goes first
    asked: dict[str, list[Redelivery]] = {}
    for redelivery in store.redeliveries(key, [d.guid for d in failed]):
        asked.setdefault(redelivery.guid, []).append(redelivery)

    unsettled: list[HookDelivery] = []
    budget = max_redeliveries
    github_down = ""
    for newest in failed:
        earlier = asked.get(newest.guid, [])
        if any(r.delivery_id == newest.id for r in earlier):
            at = max((r.requested_at for r in earlier if r.requested_at), default=None)
            when = f" at {at:%Y-%m-%dT%H:%M:%SZ}" if at else ""
            summary.outcomes.append(Outcome(newest, False, f"redelivery requested{when}; waiting for its result"))
            unsettled.append(newest)
        elif len(earlier) >= max_per_event:
            summary.outcomes.append(
                Outcome(newest, False, f"gave up after {len(earlier)} redeliveries (CODEX_RECONCILE_MAX_PER_EVENT)")
            )
        elif github_down:
            summary.outcomes.append(Outcome(newest, False, f"not asked: {github_down}"))
            unsettled.append(newest)
        elif budget <= 0:
            summary.outcomes.append(
                Outcome(
                    newest,
                    False,
                    f"over this run's cap of {max_redeliveries} (CODEX_RECONCILE_MAX_REDELIVERIES); next run",
                )
            )
            unsettled.append(newest)
        elif dry_run:
            budget -= 1
            summary.outcomes.append(Outcome(newest, True))
        else:
            claim = Redelivery(key, newest.id, newest.guid, newest.event, newest.status_code)
            if not store.claim_redelivery(claim):
                summary.outcomes.append(Outcome(newest, False, "already redelivered by another run"))
                unsettled.append(newest)
                continue
            try:
                client.redeliver(hook, newest.id)
            except GitHubUnavailableError as error:
                store.release_redelivery(key, newest.id)
                github_down = f"GitHub unavailable ({error})"
                summary.outcomes.append(Outcome(newest, False, github_down))
                unsettled.append(newest)
                continue
            except GitHubPermanentError as error:
                # Kept as claimed: GitHub will refuse this one again (too old, hook gone).
                summary.outcomes.append(Outcome(newest, False, f"GitHub refused the redelivery: {error}"))
                continue
            budget -= 1
            summary.outcomes.append(Outcome(newest, True))
            unsettled.append(newest)  # settled once its result is seen
    if not dry_run:
        newest_seen = max((d.delivered_at for attempts in by_event.values() for d in attempts), default=None)
        oldest_open = min((d.delivered_at for d in unsettled), default=None)
        moved_to = oldest_open or newest_seen
        if moved_to is not None:
            store.save_reconcile_cursor(key, moved_to)
    return summary
