"""One handler, two ways to act: the decision as data, delivered by a thread or by the event loop.

ingest-webhook and route-task only decode, decide and emit. Their ``decide`` is written once and
returns an :class:`Outcome` (the answer plus the events that must be accepted before it is
given); :class:`EmittingHandler` delivers it either with the blocking :class:`Emitter` (the
functions-framework path, and any worker thread) or with :class:`AsyncEmitter` on the event
loop (func-python), where the emits of one delivery go out concurrently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codex_pipeline.effects.emit import Emitter, deadline_after
from codex_pipeline.shell import metrics
from codex_pipeline.wire.events import Event
from codex_pipeline.wire.http import Request, Response

if TYPE_CHECKING:
    from codex_pipeline.effects.async_emit import AsyncEmitter


@dataclass(slots=True)
class Outcome:
    """The answer, the events (sink index, event) to deliver before it, and what to log once they are."""

    response: Response
    emits: list[tuple[int, Event]] = field(default_factory=list)
    accepted: Callable[[], None] | None = None


class EmittingHandler:
    """Base of a handler whose only effect is emitting: subclasses set ``emitters``/``deadline``
    and write :meth:`decide`; both runtimes call it through ``__call__`` or :meth:`call_async`."""

    emitters: tuple[Emitter, ...] = ()
    deadline: float = 8.0
    _async_emitters: tuple[AsyncEmitter, ...] | None = None

    def decide(self, request: Request) -> Outcome:
        raise NotImplementedError

    def blocking(self, request: Request) -> bool:
        """True for a request whose handling blocks (it then runs in a worker thread on the ASGI path)."""
        return False

    def __call__(self, request: Request) -> Response:
        outcome = self.decide(request)
        if outcome.emits:
            started, ok = time.monotonic(), False
            try:
                until = deadline_after(self.deadline)  # one bound for every emit of this delivery
                for index, event in outcome.emits:
                    self.emitters[index].emit(event, until)
                ok = True
            finally:
                metrics.emitted(time.monotonic() - started, ok=ok)
        return _answer(outcome)

    async def call_async(self, request: Request) -> Response:
        if self.blocking(request):
            import asyncio

            return await asyncio.to_thread(self, request)
        outcome = self.decide(request)
        if outcome.emits:
            from codex_pipeline.effects.async_emit import AsyncEmitter, emit_all

            if self._async_emitters is None:
                self._async_emitters = tuple(AsyncEmitter.like(emitter) for emitter in self.emitters)
            senders = self._async_emitters
            started, ok = time.monotonic(), False
            try:
                await emit_all(
                    [(senders[index], event) for index, event in outcome.emits], deadline_after(self.deadline)
                )
                ok = True
            finally:
                metrics.emitted(time.monotonic() - started, ok=ok)
        return _answer(outcome)

    async def aclose(self) -> None:
        for emitter in self._async_emitters or ():
            await emitter.aclose()


def _answer(outcome: Outcome) -> Response:
    if outcome.accepted is not None:
        outcome.accepted()
    return outcome.response
