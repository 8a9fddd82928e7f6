"""functions-framework entry for route-task (``--target handle``)."""

from codex_pipeline.handlers.route_task import create_app
from codex_pipeline.shell.functions_framework import entry

handle = entry(create_app)
