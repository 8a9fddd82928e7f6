"""func-python entry for request-review: ``new()`` returns the ASGI function."""

from codex_pipeline.handlers.request_review import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
