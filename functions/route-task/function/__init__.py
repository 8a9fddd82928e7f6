"""func-python entry for route-task: ``new()`` returns the ASGI function (on uvloop, see ``for_func_python``)."""

from codex_pipeline.handlers.route_task import create_app
from codex_pipeline.shell.asgi import AsgiFunction, for_func_python


def new() -> AsgiFunction:
    return for_func_python(create_app)
