"""Posting CloudEvents from the event loop: :class:`AsyncEmitter`, the ASGI twin of :class:`Emitter`.

Under func-python the functions that only decode, decide and emit (ingest-webhook, route-task)
run on the event loop instead of a worker thread, so their emits must not block it. The rules
are the sync emitter's, on purpose: bounded attempts, each attempt bounded in wall-clock time
(a trickling sink is cut off too), one total deadline per delivery shared by all its emits,
retryable statuses retried, every failure :class:`Unavailable` (503).

The exchange itself is :mod:`codex_pipeline.effects.sink_connections` (an asyncio protocol over
kept-alive HTTP/1.1): measured against httpx, aiohttp and h11 it costs about a third of aiohttp's
CPU per POST, the largest share of what the ingest -> route-task chain added to func-python's own
cost. This module is imported on the first emit (shell/outcome.py), so neither adds to a
function's cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from codex_pipeline.effects.emit import DEFAULT_DEADLINE, Attempts, Emitter, deadline_after
from codex_pipeline.effects.sink_connections import Exchange, SinkConnections, StaleConnection
from codex_pipeline.wire.events import Event, encode_binary


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
            self._connections = SinkConnections(self.url)
        return self._connections

    async def emit(self, event: Event, deadline: float | None = None) -> None:
        """Deliver ``event`` or raise :class:`Unavailable` by ``deadline`` (absolute, ``time.monotonic()``
        clock; default: ``self.deadline`` seconds from now), exactly as :meth:`Emitter.emit` does."""
        sending = self.sending(event, deadline)
        if not await sending.first():
            await sending.rest()

    def sending(self, event: Event, deadline: float | None = None) -> Sending:
        """Start delivering ``event``: its first attempt is written at once when a kept connection
        is idle, before anything is awaited (see :class:`Sending`)."""
        return Sending(self, event, deadline if deadline is not None else deadline_after(self.deadline))

    async def aclose(self) -> None:
        if self._connections is not None:
            await self._connections.aclose()
            self._connections = None


class Sending:
    """One event on its way to the sink, under the rules of :class:`Attempts`.

    :meth:`first` settles the first attempt (written at once by the constructor when a kept
    connection is idle, so several sinks' requests are all on the wire before any answer is
    awaited); :meth:`rest` makes the attempts left and raises :class:`Unavailable` when none
    delivers. A caller with several sinks awaits every ``first`` in turn and lets only the sinks
    that need another attempt go on side by side.
    """

    def __init__(self, emitter: AsyncEmitter, event: Event, until: float) -> None:
        self._emitter = emitter
        self._event_id = event.id
        self._headers, self._body = encode_binary(event)
        self._plan = Attempts(emitter.attempts, emitter.backoff, emitter.timeout, until)
        self._window = self._plan.window()  # the first attempt has no pause before it
        self._final = self._window is None
        self._started: Exchange | None = None
        if self._window is not None:
            loop = asyncio.get_running_loop()  # asked once: a system call on Python 3.11
            until = _loop_time(self._window, loop)
            with contextlib.suppress(ValueError):  # a header that cannot be written fails in first()
                self._started = emitter._client().send(self._headers, self._body, until, loop)

    @property
    def started(self) -> bool:
        """Whether the first attempt is on the wire already (a kept connection was idle)."""
        return self._started is not None

    async def first(self) -> bool:
        """Whether the first attempt delivered the event (False: :meth:`rest` has more to do)."""
        if self._window is None:
            return False
        started, self._started = self._started, None
        return await self._attempt(self._window, started)

    async def rest(self) -> None:
        """The attempts after the first, until one delivers; :class:`Unavailable` when none does."""
        plan = self._plan
        if not self._final:
            pauses = plan.pauses()
            next(pauses)  # the first attempt's (none): first() made it
            for pause in pauses:
                if pause:
                    await asyncio.sleep(pause)
                window = plan.window()
                if window is None:
                    break
                if await self._attempt(window, None):
                    return
                if self._final:
                    break
        raise plan.error(self._event_id)

    async def _attempt(self, window: float, started: Exchange | None) -> bool:
        """One attempt by ``window``; True when the sink accepted the event."""
        plan = self._plan
        try:
            try:
                status = await self._exchange(window, started)
            except StaleConnection:
                # a kept-alive connection the sink had closed meanwhile: one immediate retry on a
                # fresh connection, not counted as an attempt (as the sync emitter does)
                status = await self._exchange(window, None)
        except TimeoutError:
            plan.problem = "Timeout"
            return False
        except (OSError, ValueError):
            plan.problem = "ConnectionError"
            return False
        settled = plan.settle(status)
        if settled is None:
            self._final = True  # an answer no other attempt would change
        return bool(settled)

    async def _exchange(self, window: float, started: Exchange | None) -> int:
        if started is None:
            connections = self._emitter._client()
            loop = asyncio.get_running_loop()
            until = _loop_time(window, loop)
            started = connections.send(self._headers, self._body, until, loop) or await connections.open_and_send(
                self._headers, self._body, until
            )
        return await started.answer()


def _loop_time(monotonic_deadline: float, loop: asyncio.AbstractEventLoop) -> float:
    """A ``time.monotonic()`` deadline on ``loop``'s clock (they may differ)."""
    return loop.time() + (monotonic_deadline - time.monotonic())


async def emit_all(emits: list[tuple[AsyncEmitter, Event]], deadline: float) -> None:
    """The emits of one delivery under one deadline: each sink's in their order, the sinks at once.

    Events for one sink stay in order (a task before the command that follows it on the same topic);
    different sinks do not wait for each other: the first event of every sink is written before
    any answer is awaited, and a sink that needs another attempt retries beside the others. The
    first failure (an :class:`Unavailable`) is raised after all have finished, so no emit is left
    running past the answer.
    """
    per_sink: dict[int, tuple[AsyncEmitter, list[Event]]] = {}
    for emitter, event in emits:
        per_sink.setdefault(id(emitter), (emitter, []))[1].append(event)
    if len(per_sink) == 1:  # one sink (ingest-webhook): nothing to overlap
        emitter, events = next(iter(per_sink.values()))
        for event in events:
            await emitter.emit(event, deadline)
        return
    sendings = [(emitter, events, emitter.sending(events[0], deadline)) for emitter, events in per_sink.values()]
    if all(sending.started for _, _, sending in sendings):  # every request is on the wire already
        firsts: list[bool | None] = [await sending.first() for _, _, sending in sendings]
    else:  # a connection to open first: each sink on its own, side by side
        firsts = [None] * len(sendings)

    async def in_order(emitter: AsyncEmitter, events: list[Event], sending: Sending, delivered: bool | None) -> None:
        if delivered is None:
            delivered = await sending.first()
        if not delivered:
            await sending.rest()
        for event in events[1:]:
            await emitter.emit(event, deadline)

    pending = [
        in_order(emitter, events, sending, delivered)
        for (emitter, events, sending), delivered in zip(sendings, firsts, strict=True)
        if not delivered or len(events) > 1
    ]
    if not pending:
        return
    if len(pending) == 1:
        await pending[0]
        return
    results: list[Any] = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
