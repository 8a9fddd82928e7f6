"""The framework-neutral shell around one function's handler.

It owns what every function shares: health endpoints, the method check, turning
:class:`PipelineError` into JSON error answers, and a last-resort 500 that logs the
traceback but never leaks it. The handler itself only decodes, decides, acts and answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from codex_pipeline.errors import MethodNotAllowed, PipelineError
from codex_pipeline.shell import metrics
from codex_pipeline.wire.http import Handler, Request, Response, json_response

LIVENESS_PATH = "/health/liveness"
# Largest request body the functions a broker calls accept (a raw event carries a GitHub
# payload of up to 25 MiB). ingest-webhook uses CODEX_WEBHOOK_MAX_BYTES instead.
DEFAULT_MAX_BODY = 26 * 1024 * 1024
READINESS_PATH = "/health/readiness"
_log = logging.getLogger("codex_pipeline.app")


def sink_readiness(configured: bool, setting: str) -> tuple[bool, str]:
    """Readiness of a function whose only dependency is where it emits."""
    return (True, "sink configured") if configured else (False, f"no sink: set {setting}")


def error_response(error: PipelineError) -> Response:
    return json_response(error.status, error.body(), error.headers)


class FunctionApp:
    """One function: a handler plus readiness, reachable as ``app(request) -> response``."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        methods: Iterable[str] = ("POST",),
        ready: Callable[[], bool | tuple[bool, str]] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        authenticate: Callable[[Request], object] | None = None,
    ) -> None:
        self.name = name
        self.max_body = max_body  # the runtimes read at most this much of a body (runtime/body.py)
        # who may call at all (the OIDC sender check, codex_pipeline.effects.oidc); raises the refusal
        self.authenticate = authenticate
        self.handler = handler
        self.methods = frozenset(method.upper() for method in methods)
        self._ready = ready

    def alive(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.readiness()[0]

    def readiness(self) -> tuple[bool, str]:
        """(ready, why): the reason goes into the probe's answer, so `kubectl describe` shows it."""
        if self._ready is None:
            return True, "ready"
        answer = self._ready()
        if isinstance(answer, tuple):
            return answer
        return answer, "ready" if answer else "not ready"

    @property
    def asynchronous(self) -> bool:
        """Whether the handler can run on the event loop (:meth:`call_async`) rather than a thread."""
        return callable(getattr(self.handler, "call_async", None))

    def __call__(self, request: Request) -> Response:
        early = self._shell(request)
        if early is not None:
            return early
        try:
            if self.authenticate is not None:
                self.authenticate(request)
            response = self.handler(request)
        except Exception as error:
            response = self._failed(error)
        metrics.delivery(self.name, response)
        return response

    async def call_async(self, request: Request) -> Response:
        """As ``app(request)``, for a handler with ``call_async`` (see :mod:`codex_pipeline.shell.outcome`)."""
        early = self._shell(request)
        if early is not None:
            return early
        try:
            if self.authenticate is not None:
                import asyncio

                # the sender check may fetch signing keys: never on the event loop
                await asyncio.to_thread(self.authenticate, request)
            response: Response = await self.handler.call_async(request)  # type: ignore[attr-defined]
        except Exception as error:
            response = self._failed(error)
        metrics.delivery(self.name, response)
        return response

    def _shell(self, request: Request) -> Response | None:
        """The health answers and the method check: what every function answers alike."""
        path = request.path.rstrip("/") or "/"
        if path == LIVENESS_PATH:
            return json_response(200, {"status": "alive", "function": self.name})
        if path == READINESS_PATH:
            ok, reason = self.readiness()
            return json_response(
                200 if ok else 503, {"status": "ready" if ok else "not ready", "function": self.name, "reason": reason}
            )
        if request.method.upper() not in self.methods:
            return self._counted(
                MethodNotAllowed(
                    f"{request.method} is not allowed; use {', '.join(sorted(self.methods))}",
                    headers={"allow": ", ".join(sorted(self.methods))},
                )
            )
        return None

    def _counted(self, error: Exception) -> Response:
        response = self._failed(error)
        metrics.delivery(self.name, response)
        return response

    def _failed(self, error: Exception) -> Response:
        if isinstance(error, PipelineError):
            level = logging.WARNING if error.status < 500 else logging.ERROR
            _log.log(
                level,
                f"{self.name} answered {error.status}: {error.message}",
                extra={"status": error.status, "function": self.name},
            )
            return error_response(error)
        _log.error(f"{self.name} failed unexpectedly", exc_info=error, extra={"function": self.name})
        return json_response(
            500,
            {
                "error": "internal_error",
                "status": 500,
                "message": f"{self.name} failed unexpectedly; the event will be retried",
            },
        )
