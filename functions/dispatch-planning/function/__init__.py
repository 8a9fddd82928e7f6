"""func-python entry for dispatch-planning: ``new()`` returns the ASGI function."""

from codex_pipeline.handlers.dispatch_planning import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
