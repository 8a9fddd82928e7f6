"""func-python entry for promote-plan: ``new()`` returns the ASGI function."""

from codex_pipeline.functions.promote_plan import create_app
from codex_pipeline.runtime.asgi import AsgiFunction


def new() -> AsgiFunction:
    return AsgiFunction(create_app)
