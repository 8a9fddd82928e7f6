"""func-python entry for promote-plan: ``new()`` returns the ASGI function."""

from codex_pipeline.handlers.promote_plan import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
