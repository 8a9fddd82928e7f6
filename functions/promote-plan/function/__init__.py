"""func-python entry for promote-plan: ``new()`` returns the ASGI function (on uvloop, see ``for_func_python``)."""

from codex_pipeline.handlers.promote_plan import create_app
from codex_pipeline.shell.asgi import AsgiFunction, for_func_python


def new() -> AsgiFunction:
    return for_func_python(create_app)
