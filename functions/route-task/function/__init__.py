"""func-python entry for route-task: ``new()`` returns the ASGI function."""

from codex_pipeline.functions.route_task import create_app
from codex_pipeline.runtime.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
