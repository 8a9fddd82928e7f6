"""Posting CloudEvents from the event loop: :class:`AsyncEmitter`, the ASGI twin of :class:`Emitter`.

Under func-python the functions that only decode, decide and emit (ingest-webhook, route-task)
run on the event loop instead of a worker thread, so their emits must not block it. The rules
are the sync emitter's, on purpose: bounded attempts, each attempt bounded in wall-clock time
(a trickling sink is cut off too), one total deadline per delivery shared by all its emits,
retryable statuses retried, every failure :class:`Unavailable` (503).

The exchange itself is :mod:`codex_pipeline.effects.sink_connections` (asyncio streams, kept-alive
HTTP/1.1): measured against httpx, aiohttp and h11 it costs a quarter of aiohttp's CPU per
POST, the largest share of what the ingest -> route-task chain added to func-python's own cost.
It is imported on the first emit, so it adds nothing to a function's cold start.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from codex_pipeline.effects.emit import DEFAULT_DEADLINE, Attempts, Emitter, deadline_after
from codex_pipeline.wire.events import Event, encode_binary

if TYPE_CHECKING:
    from codex_pipeline.effects.sink_connections import SinkConnections


class AsyncEmitter:
    """Sends events in binary mode to one sink URL over kept-alive connections.

    The connections belong to the event loop of the first emit (hypercorn runs one loop per worker).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff: float = 0.1,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        Emitter(url)  # the same URL rules as the sync emitter (ValueError otherwise)
        self.url = url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.deadline = deadline
        self._connections: SinkConnections | None = None

    @classmethod
    def like(cls, emitter: Emitter) -> AsyncEmitter:
        """An async emitter with ``emitter``'s sink and bounds."""
        return cls(
            emitter.url,
            timeout=emitter.timeout,
            attempts=emitter.attempts,
            backoff=emitter.backoff,
            deadline=emitter.deadline,
        )

    def _client(self) -> SinkConnections:
        if self._connections is None:
            from codex_pipeline.effects.sink_connections import SinkConnections

            self._connections = SinkConnections(self.url)
        return self._connections

    async def _post(self, headers: dict[str, str], body: bytes, until: float) -> int:
        async with asyncio.timeout_at(_loop_time(until)):
            return await self._client().post(headers, body)

    async def emit(self, event: Event, deadline: float | None = None) -> None:
        """Deliver ``event`` or raise :class:`Unavailable` by ``deadline`` (absolute, ``time.monotonic()``
        clock; default: ``self.deadline`` seconds from now), exactly as :meth:`Emitter.emit` does."""
        from codex_pipeline.effects.sink_connections import StaleConnection

        until = deadline if deadline is not None else deadline_after(self.deadline)
        headers, body = encode_binary(event)
        plan = Attempts(self.attempts, self.backoff, self.timeout, until)
        for pause in plan.pauses():
            if pause:
                await asyncio.sleep(pause)
            attempt_until = plan.window()
            if attempt_until is None:
                break
            try:
                try:
                    status = await self._post(headers, body, attempt_until)
                except StaleConnection:
                    # a kept-alive connection the sink had closed meanwhile: one immediate retry on a
                    # fresh connection, not counted as an attempt (as the sync emitter does)
                    status = await self._post(headers, body, attempt_until)
            except TimeoutError:
                plan.problem = "Timeout"
                continue
            except (OSError, ValueError):
                plan.problem = "ConnectionError"
                continue
            settled = plan.settle(status)
            if settled:
                return
            if settled is None:
                break
        raise plan.error(event.id)

    async def aclose(self) -> None:
        if self._connections is not None:
            await self._connections.aclose()
            self._connections = None


def _loop_time(monotonic_deadline: float) -> float:
    """A ``time.monotonic()`` deadline on the running loop's clock (they may differ)."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


async def emit_all(emits: list[tuple[AsyncEmitter, Event]], deadline: float) -> None:
    """The emits of one delivery under one deadline: each sink's in their order, the sinks at once.

    Events for one sink stay in order (a task before the command that follows it on the same topic);
    different sinks do not wait for each other. The first failure (an :class:`Unavailable`) is raised
    after all have finished, so no emit is left running past the answer.
    """
    per_sink: dict[int, tuple[AsyncEmitter, list[Event]]] = {}
    for emitter, event in emits:
        per_sink.setdefault(id(emitter), (emitter, []))[1].append(event)

    async def in_order(emitter: AsyncEmitter, events: list[Event]) -> None:
        for event in events:
            await emitter.emit(event, deadline)

    if len(per_sink) == 1:  # one sink (ingest-webhook): no task to schedule, no gather to collect
        await in_order(*next(iter(per_sink.values())))
        return
    results: list[Any] = await asyncio.gather(
        *(in_order(emitter, events) for emitter, events in per_sink.values()), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
