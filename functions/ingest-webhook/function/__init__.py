"""func-python entry for ingest-webhook: ``new()`` returns the ASGI function."""

from codex_pipeline.handlers.ingest_webhook import create_app
from codex_pipeline.shell.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
