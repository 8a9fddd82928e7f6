"""functions-framework (Flask) entry: ``handle = entry(create_app)`` in main.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from codex_pipeline.http import Headers, Request

if TYPE_CHECKING:
    from codex_pipeline.app import FunctionApp


def entry(create_app: Callable[[], FunctionApp]) -> Callable[[Any], Any]:
    """Build the app now (start-up errors surface at import, as functions-framework reports
    them) and return the ``http``-signature function that functions-framework calls."""
    import flask

    from codex_pipeline.runtime import build

    app = build(create_app)

    def handle(flask_request: Any) -> Any:
        request = Request(
            method=flask_request.method,
            path=flask_request.path,
            headers=Headers(_environ_headers(flask_request.environ)),
            body=flask_request.get_data(cache=False),
            query=flask_request.query_string.decode("latin-1"),
        )
        response = app(request)
        return flask.Response(response.body, status=response.status, headers=response.headers)

    handle.__name__ = "handle"
    return handle


def _environ_headers(environ: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Request headers straight from the WSGI environ (werkzeug's header view costs more per request)."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-"), value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            yield key.replace("_", "-"), environ[key]
