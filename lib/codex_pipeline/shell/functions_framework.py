"""functions-framework (Flask) entry: ``handle = entry(create_app)`` in main.py."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from codex_pipeline.errors import PayloadTooLarge
from codex_pipeline.shell.body import read_capped, refuse_declared
from codex_pipeline.wire.http import Headers, Request

if TYPE_CHECKING:
    from codex_pipeline.shell.app import FunctionApp


def entry(create_app: Callable[[], FunctionApp]) -> Callable[[Any], Any]:
    """Build the app now (start-up errors surface at import, as functions-framework reports
    them) and return the ``http``-signature function that functions-framework calls."""
    import flask

    from codex_pipeline.shell import metrics
    from codex_pipeline.shell.app import error_response
    from codex_pipeline.shell.runtime import build

    app = build(create_app)

    def handle(flask_request: Any) -> Any:
        environ = flask_request.environ
        try:
            refuse_declared(environ.get("CONTENT_LENGTH"), app.max_body)
            # the stream werkzeug bounds by Content-Length (or gunicorn ends at a chunked body's end)
            body = read_capped(flask_request.stream.read, app.max_body)
        except PayloadTooLarge as error:
            answer = error_response(error)
            metrics.delivery(app.name, answer)
            # A streamed response: functions-framework reads the whole request body after every
            # other response (an after_request hook), which is exactly what must not happen here.
            refused = flask.Response(
                iter([answer.body]),
                status=answer.status,
                headers={**answer.headers, "content-length": str(len(answer.body))},
            )
            sock = environ.get("gunicorn.socket")
            if isinstance(sock, socket.socket):
                # gunicorn would otherwise read (and drop) the rest of the body before the next
                # request on this connection: stop reading from the client once the 413 is out
                refused.call_on_close(lambda: _stop_reading(sock))
            return refused
        request = Request(
            method=flask_request.method,
            path=flask_request.path,
            headers=Headers(_environ_headers(environ)),
            body=body,
            query=flask_request.query_string.decode("latin-1"),
        )
        response = app(request)
        return flask.Response(response.body, status=response.status, headers=response.headers)

    handle.__name__ = "handle"
    return handle


def _stop_reading(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)


def _environ_headers(environ: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Request headers straight from the WSGI environ (werkzeug's header view costs more per request)."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-"), value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            yield key.replace("_", "-"), environ[key]
