"""func-python entry for route-task: ``new()`` returns the ASGI function."""

from codex_pipeline.handlers.route_task import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
