"""ASGI entry for ``func deploy`` (func-python): ``new()`` returns an :class:`AsgiFunction`.

func-python calls ``handle(scope, receive, send)`` and answers the health probes itself
through ``alive()``/``ready()``. Most handlers are synchronous (blocking I/O to databases and
APIs), so their requests run in a worker thread and the event loop stays free. A handler that
only decodes, decides and emits (ingest-webhook, route-task: :mod:`codex_pipeline.shell.outcome`)
runs on the event loop and emits through :class:`codex_pipeline.effects.async_emit.AsyncEmitter`.
Each ``function.new()`` returns :func:`for_func_python`, which also picks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codex_pipeline.errors import PayloadTooLarge
from codex_pipeline.shell.body import refuse_declared, too_large
from codex_pipeline.wire.http import Headers, Request, json_response

if TYPE_CHECKING:
    from codex_pipeline.shell.app import FunctionApp

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def for_func_python(create_app: Callable[[], FunctionApp]) -> AsgiFunction:
    """What each function's ``new()`` returns to func-python, with uvloop as its event loop.

    func-python calls ``new()`` and only then ``asyncio.run`` for hypercorn, so the policy set
    here decides the loop everything runs on. A delivery through hypercorn takes about ten loop
    turns, and uvloop's turns and socket transports cost less than asyncio's: the
    ingest -> route-task chain spends about a tenth less CPU per delivery (bench/RESULTS.md).
    Where uvloop is not installed the function runs on asyncio's loop, as before.
    """
    import warnings

    try:
        import uvloop
    except ImportError:
        pass
    else:
        with warnings.catch_warnings():  # the policy API is deprecated from Python 3.14 (removal planned in 3.16)
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return AsgiFunction(create_app)


class AsgiFunction:
    def __init__(self, create_app: Callable[[], FunctionApp], *, max_body: int | None = None) -> None:
        self._create_app = create_app
        self._app: FunctionApp | None = None
        self._max_body = max_body

    @property
    def max_body(self) -> int:
        """The body cap: the app's (``FunctionApp.max_body``) unless given here."""
        return self._max_body if self._max_body is not None else self.app.max_body

    @property
    def app(self) -> FunctionApp:
        if self._app is None:
            self._app = self._create_app()
        return self._app

    def start(self, cfg: dict[str, str] | None = None) -> None:
        """func-python calls this once at start-up: build the app so config errors stop it.

        A wrong setting prints one line and ends the process with status 2: hypercorn would
        otherwise log the SystemExit of a failed lifespan start-up and keep serving nothing.
        """
        from codex_pipeline.shell.runtime import build

        if self._app is None:
            try:
                self._app = build(self._create_app)
            except SystemExit as stop:
                os._exit(int(stop.code or 0))
        try:
            loop = type(asyncio.get_running_loop())
        except RuntimeError:  # called outside a server (tests)
            return
        # which loop func-python ended up with (for_func_python): the one line that tells
        logging.getLogger("codex_pipeline.asgi").info(
            f"{self._app.name} serving on {loop.__module__}.{loop.__qualname__}",
            extra={"function": self._app.name, "event_loop": loop.__module__.split(".")[0]},
        )

    def stop(self) -> None:
        return None

    def alive(self) -> tuple[bool, str]:
        return self.app.alive(), "alive"

    def ready(self) -> tuple[bool, str]:
        return self.app.readiness()

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope.get("type") == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope.get("type") != "http":
            return
        headers = Headers.from_raw(scope.get("headers", ()))
        try:
            refuse_declared(headers.get("content-length"), self.max_body)
            body = await self._read_body(receive)
        except PayloadTooLarge as error:
            from codex_pipeline.shell import metrics
            from codex_pipeline.shell.app import error_response

            response = error_response(error)
            metrics.delivery(self.app.name, response)
            # the rest of the body is never read: the server closes the connection after this answer
            response.headers["connection"] = "close"
        else:
            request = Request(
                method=scope.get("method", "GET"),
                path=scope.get("path", "/"),
                headers=headers,
                body=body,
                query=scope.get("query_string", b"").decode("latin-1"),
            )
            try:
                app = self.app
                if app.asynchronous:
                    response = await app.call_async(request)
                else:
                    response = await asyncio.to_thread(app, request)
            except Exception:  # the app maps errors itself; this is the last line
                response = json_response(
                    500, {"error": "internal_error", "status": 500, "message": "function failed unexpectedly"}
                )
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        if not any(k.lower() == b"content-length" for k, _ in raw):
            raw.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw})
        await send({"type": "http.response.body", "body": response.body})

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes:
        """The body as it arrives, refused once past the cap (the server holds back the rest)."""
        chunks: list[bytes] = []
        size = 0
        limit = self.max_body
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                aclose = getattr(self._app.handler, "aclose", None) if self._app is not None else None
                if callable(aclose):
                    await aclose()  # the kept async HTTP sessions (ingest-webhook, route-task)
                await send({"type": "lifespan.shutdown.complete"})
                return
