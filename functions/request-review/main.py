"""functions-framework entry for request-review (``--target handle``)."""

from codex_pipeline.handlers.request_review import create_app
from codex_pipeline.shell.functions_framework import entry

handle = entry(create_app)
