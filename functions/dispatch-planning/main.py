"""functions-framework entry for dispatch-planning (``--target handle``)."""

from codex_pipeline.handlers.dispatch_planning import create_app
from codex_pipeline.shell.functions_framework import entry

handle = entry(create_app)
