"""func-python entry for request-review: ``new()`` returns the ASGI function."""

from codex_pipeline.functions.request_review import create_app
from codex_pipeline.runtime.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
